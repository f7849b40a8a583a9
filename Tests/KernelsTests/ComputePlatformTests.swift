import Kernels
import XCTest

/// The guard against a silent 3×: OpenBLAS must not run generic kernels on a CPU that has AVX2 or
/// AVX-512 — in this very process too, which ttl-train's start-up re-executed if OpenBLAS chose
/// badly (see `CKernels.h`).
final class ComputePlatformTests: XCTestCase {
    func testOpenBLASRunsAKernelForThisCPUsVectorExtensions() {
        XCTAssertFalse(ComputePlatform.blasCoreIsBehindCPU,
                       "OpenBLAS runs \(ComputePlatform.blasCore) on \(ComputePlatform.cpu) with \(ComputePlatform.cpuFeatures)")
        let features = Set(ComputePlatform.cpuFeatures)
        guard ComputePlatform.kernelPathChosenBy == "cpu" else { return }
        if features.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "fma"]) {
            XCTAssertEqual(ComputePlatform.bestBLASCore, "SkylakeX")
            XCTAssertEqual(ComputePlatform.kernelPath, "avx512")
        } else if features.isSuperset(of: ["avx2", "fma"]) {
            XCTAssertEqual(ComputePlatform.kernelPath, "avx2")
        }
    }

    func testReportNamesTheKernelAndTheFeatures() {
        let report = Dictionary(uniqueKeysWithValues: ComputePlatform.report)
        XCTAssertEqual(report["blas_core"], ComputePlatform.blasCore)
        XCTAssertTrue(["openblas", "ttl-train", "user"].contains(report["blas_core_chosen_by"] ?? ""))
        XCTAssertEqual(report["cpu_features"], ComputePlatform.cpuFeatures.joined(separator: ","))
    }
}
