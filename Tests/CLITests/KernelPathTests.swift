import Foundation
import Kernels
import TestSupport
import XCTest

/// ttl-train's kernels give the same bits on every code path, so a whole training run does too:
/// the same job under TTL_TRAIN_MAX_ISA=sse3 (portable C), avx2 and avx512 — OpenBLAS's kernel,
/// which sums attention's products in its own order, held to one with OPENBLAS_CORETYPE — ends
/// with the same adapters and optimizer moments, bit for bit, and says which path it ran.
final class KernelPathTests: XCTestCase {
    func testATrainingRunHasTheSameBitsOnEveryKernelPath() throws {
        let directory = try TemporaryDirectory()
        let job = try TinyJob(directory: directory)
        var checkpoints: [String: String] = [:]
        for ceiling in ["sse3", "avx2", "avx512"] {
            let output = directory.path("run-\(ceiling)")
            let spec = try job.writeSpec(kind: "lora", steps: 4, output: output, extra: ", dropout: 0.1", name: "\(ceiling).yaml")
            var environment = MPIRun.cleanEnvironment.filter { $0.key != "TTL_TRAIN_BLAS_CORE" }
            environment["OPENBLAS_CORETYPE"] = ComputePlatform.blasCore
            environment[ComputePlatform.isaCeilingVariable] = ceiling
            let run = try ChildProcess.run(ChildProcess.ttlTrainPath, ["train", spec, "--threads", "2"], environment: environment)
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stdout.contains("(capped by \(ComputePlatform.isaCeilingVariable))"), run.stdout)
            checkpoints[ceiling] = "\(output)/checkpoints/step-000004.h5"
        }
        for ceiling in ["avx2", "avx512"] {
            for object in ["/adapters", "/optimizer"] {
                let diff = try ChildProcess.run("/usr/bin/h5diff", ["-r", checkpoints[ceiling]!, checkpoints["sse3"]!, object, object])
                XCTAssertEqual(diff.status, 0, "\(ceiling) against portable in \(object): \(diff.stdout.prefix(2000))")
            }
        }
    }
}
