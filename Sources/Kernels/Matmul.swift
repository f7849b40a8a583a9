import CBLAS

/// Dense matrix products through OpenBLAS sgemm; all matrices row-major.
///
/// A linear layer stores its weight as `(out, in)` (Hugging Face layout), so the forward is
/// `y = x · Wᵀ` and the activation backward is `dx = dy · W` — the base model never needs `dW`.
public enum Matmul {
    /// `y (rows, out) = x (rows, in) · Wᵀ`, added to `y` when `accumulate`.
    public static func linear(
        _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool = false
    ) {
        gemm(x, weight, into: y, m: rows, n: outFeatures, k: inFeatures, transposeB: true,
             lda: inFeatures, ldb: inFeatures, ldc: outFeatures, beta: accumulate ? 1 : 0)
    }

    /// `dx (rows, in) (+)= dy (rows, out) · W (out, in)`: the activation gradient of `linear`.
    public static func linearBackward(
        _ dy: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool
    ) {
        gemm(dy, weight, into: dx, m: rows, n: inFeatures, k: outFeatures, transposeB: false,
             lda: outFeatures, ldb: inFeatures, ldc: inFeatures, beta: accumulate ? 1 : 0)
    }

    /// `C (m, n) = alpha · op(A) · op(B) + beta · C`, with op = transpose where asked and leading
    /// dimensions for working on column blocks (e.g. one attention head inside a wider row).
    public static func gemm(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool,
        lda: Int, ldb: Int, ldc: Int, alpha: Float = 1, beta: Float
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }
}

/// OpenBLAS's thread count (the kernels' own loops are single-threaded).
public enum BLASThreads {
    public static var count: Int { Int(openblas_get_num_threads()) }

    public static func set(_ threads: Int) {
        openblas_set_num_threads(Int32(threads))
    }
}
