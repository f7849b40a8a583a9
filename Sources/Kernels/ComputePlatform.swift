import CKernels
import Foundation

/// What this process computes with: the CPU's vector extensions, OpenBLAS's kernel (and who chose
/// it) and the code path of ttl-train's own kernels — printed by `info` and `bench`, and checked by a test
/// so that a fallback to generic kernels can never again silently cost 3× (see `CKernels.h`).
public enum ComputePlatform {
    /// The extensions ttl-train's kernels and OpenBLAS's care about, as CPUID and the OS report
    /// them (whatever TTL_TRAIN_MAX_ISA says), in Linux's `/proc/cpuinfo` spelling.
    public static var cpuFeatures: [String] {
        let names: [(UInt32, String)] = [
            (UInt32(TTL_CPU_SSE3), "sse3"), (UInt32(TTL_CPU_AVX), "avx"), (UInt32(TTL_CPU_FMA), "fma"), (UInt32(TTL_CPU_F16C), "f16c"),
            (UInt32(TTL_CPU_AVX2), "avx2"), (UInt32(TTL_CPU_AVX512F), "avx512f"), (UInt32(TTL_CPU_AVX512BW), "avx512bw"),
            (UInt32(TTL_CPU_AVX512VL), "avx512vl"), (UInt32(TTL_CPU_AVX512DQ), "avx512dq"), (UInt32(TTL_CPU_AVX512CD), "avx512cd"),
            (UInt32(TTL_CPU_AVX512_BF16), "avx512_bf16"), (UInt32(TTL_CPU_AVX512_FP16), "avx512_fp16"),
            (UInt32(TTL_CPU_AVX_VNNI), "avx_vnni"), (UInt32(TTL_CPU_AMX_TILE), "amx_tile"),
        ]
        let features = ttl_cpu_features_detected()
        return names.filter { features & $0.0 != 0 }.map(\.1)
    }

    /// `cpu`, or `user` when TTL_TRAIN_MAX_ISA caps the extensions the kernels may use.
    public static var kernelPathChosenBy: String { ttl_isa_ceiling() >= Int32(TTL_ISA_SSE3) ? "user" : "cpu" }

    /// Refuses a TTL_TRAIN_MAX_ISA that names no instruction set (the kernels would otherwise run
    /// on the CPU's best while the user believes otherwise).
    public static func checkISACeiling() throws {
        guard ttl_isa_ceiling() == Int32(TTL_ISA_UNKNOWN) else { return }
        let value = ProcessInfo.processInfo.environment[isaCeilingVariable] ?? ""
        let known = (TTL_ISA_SSE3...TTL_ISA_AVX512).map { String(cString: ttl_isa_name(Int32($0))) }.joined(separator: ", ")
        throw PlatformError(message: "\(isaCeilingVariable)=\(value): not an instruction set ttl-train knows (\(known))")
    }

    /// The environment variable that caps the kernels' instruction set.
    public static let isaCeilingVariable = TTL_ISA_CEILING_VARIABLE

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

    /// The code path of ttl-train's kernels (the row-stable GEMM and its packing, the elementwise
    /// lanes, the matrix-vector products of generation): `avx512`, `avx2` or `portable`.
    public static var kernelPath: String {
        switch ttl_kernel_path() {
        case Int32(TTL_PATH_AVX512): return "avx512"
        case Int32(TTL_PATH_AVX2): return "avx2"
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
            ("kernel_path", kernelPath),
            ("kernel_path_chosen_by", kernelPathChosenBy),
        ]
    }
}

/// A platform setting the process cannot run with, in one line.
public struct PlatformError: Error, Equatable, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}
