import Foundation
import Kernels
import TestSupport
import XCTest

/// How `ttl-train` chooses OpenBLAS's kernel, as a new user meets it: no environment set, under
/// mpirun, and with the user's own `OPENBLAS_CORETYPE`, which always wins.
final class BLASCoreSelectionTests: XCTestCase {
    /// The environment of a fresh shell: neither the user's variable nor the marker this test
    /// process's own start-up may have set.
    private var freshEnvironment: [String: String] {
        MPIRun.cleanEnvironment.filter { !["OPENBLAS_CORETYPE", "TTL_TRAIN_BLAS_CORE", ComputePlatform.isaCeilingVariable].contains($0.key) }
    }

    /// OpenBLAS's kernel families by the newest extensions they use, oldest first.
    private let coresByISA: [(isa: String, cores: Set<String>)] = [
        ("sse3", ["Prescott"]), ("avx", ["Sandybridge"]), ("avx2", ["Haswell", "Zen"]), ("avx512", ["SkylakeX", "Cooperlake", "SapphireRapids"]),
    ]

    func testWithNoEnvironmentTheKernelIsNotGenericOnAVX2OrAVX512() throws {
        let run = try ChildProcess.run(ChildProcess.ttlTrainPath, ["info"], environment: freshEnvironment)
        XCTAssertEqual(run.status, 0, run.stderr)
        let values = run.keyValues
        let core = try XCTUnwrap(values["blas_core"])
        XCTAssertFalse(ComputePlatform.isBehindCPU(core: core), "OpenBLAS runs \(core) on a CPU with \(values["cpu_features"] ?? "?")")
        XCTAssertNotEqual(values["blas_core_chosen_by"], "user", "no OPENBLAS_CORETYPE was set")
        XCTAssertEqual(values["cpu_features"], ComputePlatform.cpuFeatures.joined(separator: ","))
        if values["blas_core_chosen_by"] == "ttl-train" { XCTAssertEqual(core, ComputePlatform.bestBLASCore) }
    }

    func testTheUsersCoreTypeWins() throws {
        var environment = freshEnvironment
        environment["OPENBLAS_CORETYPE"] = "Haswell"
        let run = try ChildProcess.run(ChildProcess.ttlTrainPath, ["info"], environment: environment)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.keyValues["blas_core"], "Haswell")
        XCTAssertEqual(run.keyValues["blas_core_chosen_by"], "user")
    }

    func testEveryRankUnderMPIRunGetsAKernelForTheCPU() throws {
        let mpirun = try MPIRun.requireLauncher()
        let run = try ChildProcess.run(mpirun, MPIRun.arguments(ranks: 2) + [ChildProcess.ttlTrainPath, "info"], environment: freshEnvironment)
        XCTAssertEqual(run.status, 0, run.stderr)
        let cores = run.stdout.split(separator: "\n").filter { $0.hasPrefix("blas_core=") }.map { String($0.dropFirst("blas_core=".count)) }
        XCTAssertEqual(cores.count, 2, run.stdout)
        for core in cores { XCTAssertFalse(ComputePlatform.isBehindCPU(core: core), "a rank runs \(core)") }
    }

    /// TTL_TRAIN_MAX_ISA runs the process as on an older CPU: ttl-train's kernels on the newest
    /// path at or below it, OpenBLAS re-executed with the kernel for it, both said by `info`.
    func testTheInstructionSetCeilingHoldsBothKernelsBack() throws {
        let detected = Set(ComputePlatform.cpuFeatures)
        let cpuLevel = detected.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "fma"]) ? 3
            : detected.isSuperset(of: ["avx2", "fma"]) ? 2 : detected.contains("avx") ? 1 : 0
        for (level, ceiling) in coresByISA.enumerated() {
            var environment = freshEnvironment
            environment[ComputePlatform.isaCeilingVariable] = ceiling.isa.uppercased()
            let run = try ChildProcess.run(ChildProcess.ttlTrainPath, ["info"], environment: environment)
            XCTAssertEqual(run.status, 0, run.stderr)
            let values = run.keyValues
            let effective = min(level, cpuLevel)
            XCTAssertEqual(values["kernel_path"], effective == 3 ? "avx512" : effective == 2 ? "avx2" : "portable", ceiling.isa)
            XCTAssertEqual(values["kernel_path_chosen_by"], "user")
            XCTAssertTrue(coresByISA[effective].cores.contains(values["blas_core"] ?? ""), "\(ceiling.isa): OpenBLAS runs \(values["blas_core"] ?? "?")")
            XCTAssertEqual(values["cpu_features"], ComputePlatform.cpuFeatures.joined(separator: ","), "the CPU's features, not the capped ones")
        }
    }

    func testAnUnknownInstructionSetIsRefusedInOneLine() throws {
        var environment = freshEnvironment
        environment[ComputePlatform.isaCeilingVariable] = "avx1024"
        let run = try ChildProcess.run(ChildProcess.ttlTrainPath, ["info"], environment: environment)
        XCTAssertEqual(run.status, 2)
        XCTAssertEqual(run.stderr, "Error: TTL_TRAIN_MAX_ISA=avx1024: not an instruction set ttl-train knows (sse3, avx, avx2, avx512)\n")
        XCTAssertEqual(run.stdout, "")
    }

    func testEveryRankUnderMPIRunKeepsTheCeiling() throws {
        let mpirun = try MPIRun.requireLauncher()
        var environment = freshEnvironment
        environment[ComputePlatform.isaCeilingVariable] = "sse3"
        let run = try ChildProcess.run(mpirun, MPIRun.arguments(ranks: 2) + [ChildProcess.ttlTrainPath, "info"], environment: environment)
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = run.stdout.split(separator: "\n")
        XCTAssertEqual(lines.filter { $0 == "kernel_path=portable" }.count, 2, run.stdout)
        XCTAssertEqual(lines.filter { $0 == "blas_core=Prescott" }.count, 2, run.stdout)
    }
}
