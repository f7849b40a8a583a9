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
        MPIRun.cleanEnvironment.filter { $0.key != "OPENBLAS_CORETYPE" && $0.key != "TTL_TRAIN_BLAS_CORE" }
    }

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
}
