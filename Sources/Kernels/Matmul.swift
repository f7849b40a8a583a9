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

/// Array conveniences for setup-time work (decompositions, folding factors), not the hot loop.
extension Matmul {
    /// `A (m, k) · B (k, n)`, row-major.
    public static func product(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Float] {
        precondition(a.count == m * k && b.count == k * n, "shapes (m, k) and (k, n)")
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    gemm(a.baseAddress!, b.baseAddress!, into: c.baseAddress!, m: m, n: n, k: k, transposeB: false,
                         lda: k, ldb: n, ldc: n, beta: 0)
                }
            }
        }
        return c
    }

    /// The transpose of a row-major `(rows, columns)` matrix.
    public static func transposed(_ matrix: [Float], rows: Int, columns: Int) -> [Float] {
        precondition(matrix.count == rows * columns)
        var result = [Float](repeating: 0, count: matrix.count)
        for i in 0..<rows {
            for j in 0..<columns { result[j * rows + i] = matrix[i * columns + j] }
        }
        return result
    }
}
