import CKernels
import Kernels

/// The code paths of ttl-train's kernels, for tests that compare them: each one this CPU supports
/// in turn (portable, AVX2, AVX-512), the best one back in force afterwards.
public enum KernelPaths {
    public static func each(_ body: (String) throws -> Void) rethrows {
        defer { _ = ttl_kernel_force_path(Int32(TTL_PATH_AVX512)) }
        for path in [TTL_PATH_PORTABLE, TTL_PATH_AVX2, TTL_PATH_AVX512] where ttl_kernel_force_path(Int32(path)) == path {
            try body(ComputePlatform.kernelPath)
        }
    }
}
