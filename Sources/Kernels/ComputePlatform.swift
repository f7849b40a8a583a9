import CKernels

/// What this process computes with: the CPU's vector extensions, OpenBLAS's kernel (and who chose
/// it) and the row-stable GEMM's code path — printed by `info` and `bench`, and checked by a test
/// so that a fallback to generic kernels can never again silently cost 3× (see `CKernels.h`).
public enum ComputePlatform {
    /// The extensions ttl-train's kernels and OpenBLAS's care about, as CPUID and the OS report
    /// them, in Linux's `/proc/cpuinfo` spelling.
    public static var cpuFeatures: [String] {
        let names: [(UInt32, String)] = [
            (UInt32(TTL_CPU_SSE3), "sse3"), (UInt32(TTL_CPU_AVX), "avx"), (UInt32(TTL_CPU_FMA), "fma"),
            (UInt32(TTL_CPU_AVX2), "avx2"), (UInt32(TTL_CPU_AVX512F), "avx512f"), (UInt32(TTL_CPU_AVX512BW), "avx512bw"),
            (UInt32(TTL_CPU_AVX512VL), "avx512vl"), (UInt32(TTL_CPU_AVX512DQ), "avx512dq"), (UInt32(TTL_CPU_AVX512CD), "avx512cd"),
            (UInt32(TTL_CPU_AVX512_BF16), "avx512_bf16"), (UInt32(TTL_CPU_AVX512_FP16), "avx512_fp16"),
            (UInt32(TTL_CPU_AVX_VNNI), "avx_vnni"), (UInt32(TTL_CPU_AMX_TILE), "amx_tile"),
        ]
        let features = ttl_cpu_features()
        return names.filter { features & $0.0 != 0 }.map(\.1)
    }

    /// `GenuineIntel family 6 model 207`, or the architecture's name off x86.
    public static var cpu: String {
        let vendor = String(cString: ttl_cpu_vendor())
        #if arch(x86_64)
        return "\(vendor) family \(ttl_cpu_family()) model \(ttl_cpu_model())"
        #else
        return vendor.isEmpty ? "non-x86" : vendor
        #endif
    }

    /// OpenBLAS's kernel in this process (`SkylakeX`, `Haswell`, `Prescott`, …).
    public static var blasCore: String { String(cString: ttl_blas_core()) }

    /// `openblas` (its own detection), `ttl-train` (re-executed with a better kernel before main) or
    /// `user` (OPENBLAS_CORETYPE was set).
    public static var blasCoreChosenBy: String { String(cString: ttl_blas_core_chosen_by()) }

    /// The OpenBLAS kernel this CPU's features call for, if any is better than the generic one.
    public static var bestBLASCore: String? { ttl_blas_best_core().map { String(cString: $0) } }

    /// Whether OpenBLAS runs a kernel for older vector extensions than this CPU has.
    public static var blasCoreIsBehindCPU: Bool { isBehindCPU(core: blasCore) }

    /// Whether OpenBLAS's kernel `core` is written for older vector extensions than this CPU has.
    public static func isBehindCPU(core: String) -> Bool { ttl_blas_core_is_behind_cpu(core) != 0 }

    /// The row-stable GEMM's code path: `avx512`, `avx2` or `portable`.
    public static var gemmPath: String {
        switch ttl_gemm_path() {
        case 2: return "avx512"
        case 1: return "avx2"
        default: return "portable"
        }
    }

    /// The `key=value` lines `info` and `bench` print.
    public static var report: [(String, String)] {
        [
            ("cpu", cpu),
            ("cpu_features", cpuFeatures.joined(separator: ",")),
            ("blas_core", blasCore),
            ("blas_core_chosen_by", blasCoreChosenBy),
            ("gemm_path", gemmPath),
        ]
    }
}
