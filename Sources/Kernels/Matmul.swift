import CBLAS
import CKernels
import Dispatch

/// Dense matrix products; all matrices row-major.
///
/// A linear layer stores its weight as `(out, in)` (Hugging Face layout), so the forward is
/// `y = x · Wᵀ` and the activation backward is `dx = dy · W` — the base model never needs `dW`.
/// Both run on ttl-train's row-stable GEMM (`CKernels`): every output element is one fused
/// multiply-add chain over the inner dimension in a fixed order, so a row's bits do not depend on
/// how many rows share the call, on the code path (AVX-512, AVX2, portable) or on the threads. The
/// model therefore multiplies a whole batch at once and each sequence still gets the bits it would
/// get alone. `gemm` (attention, adapters) is OpenBLAS's sgemm.
public enum Matmul {
    /// `y (rows, out) = x (rows, in) · Wᵀ`, added to `y` when `accumulate`.
    public static func linear(
        _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool = false
    ) {
        rowStable(x, weight, into: y, m: rows, n: outFeatures, k: inFeatures, transposeB: true,
                  lda: inFeatures, ldb: inFeatures, ldc: outFeatures, accumulate: accumulate)
    }

    /// `dx (rows, in) (+)= dy (rows, out) · W (out, in)`: the activation gradient of `linear`.
    public static func linearBackward(
        _ dy: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool
    ) {
        rowStable(dy, weight, into: dx, m: rows, n: inFeatures, k: outFeatures, transposeB: false,
                  lda: outFeatures, ldb: inFeatures, ldc: inFeatures, accumulate: accumulate)
    }

    /// `C (m, n) (+)= A (m, k) · op(B)` on the row-stable GEMM, the columns split over
    /// `ComputeThreads.count` threads in whole micro-tiles (each thread packs only its own columns
    /// of B). Products under ~1 MFLOP stay on the calling thread.
    public static func rowStable(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, transposeB: Bool, lda: Int, ldb: Int, ldc: Int, accumulate: Bool
    ) {
        let tile = ttl_gemm_tile_columns()
        let tiles = (n + tile - 1) / tile
        let parts = m * n * k < 1 << 19 ? 1 : min(ComputeThreads.count, tiles)
        guard parts > 1 else {
            ttl_gemm(transposeB ? 1 : 0, m, n, k, a, lda, b, ldb, c, ldc, accumulate ? 1 : 0, 0, n)
            return
        }
        let operands = GEMMOperands(a: a, b: b, c: c)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let begin = tiles * part / parts * tile
            let end = min(n, tiles * (part + 1) / parts * tile)
            ttl_gemm(transposeB ? 1 : 0, m, n, k, operands.a, lda, operands.b, ldb, operands.c, ldc, accumulate ? 1 : 0, begin, end)
        }
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

    /// `y (out) = W (out, in) · x (in)` through OpenBLAS's sgemv, the rows of W split over
    /// `ComputeThreads`: one token's product while generating, where the row-stable GEMM would
    /// spend most of its time packing W for a single row. Not row-stable: generation compares with
    /// the full forward by value, not by bits.
    public static func matrixVector(
        _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, inFeatures: Int, outFeatures: Int
    ) {
        let operands = GEMMOperands(a: x, b: weight, c: y)
        ComputeThreads.forEachRange(outFeatures, grain: 1024) { _, rows in
            cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(rows.count), blasint(inFeatures), 1, operands.b + rows.lowerBound * inFeatures,
                        blasint(inFeatures), operands.a, 1, 0, operands.c + rows.lowerBound, 1)
        }
    }
}

/// The pointers of one threaded product: each thread writes its own columns of `c` only.
private struct GEMMOperands: @unchecked Sendable {
    let a: UnsafePointer<Float>
    let b: UnsafePointer<Float>
    let c: UnsafeMutablePointer<Float>
}

/// Threads of one process for the matrix products. The row-stable GEMM (every linear layer and
/// the output head) splits its columns over `count` threads; OpenBLAS, which serves only the small
/// per-sequence products of attention and adapters, runs on the calling thread: its idle workers
/// spin on `sched_yield` after every call and took ~13 % of the cycles from the GEMM's second
/// thread on a 2-core machine.
public enum ComputeThreads {
    nonisolated(unsafe) private static var gemmThreads = 1

    public static var count: Int { gemmThreads }

    public static func set(_ threads: Int) {
        precondition(threads >= 1, "at least one thread")
        gemmThreads = threads
        openblas_set_num_threads(1)
    }

    /// Runs `body` over `0..<count` cut into at most `maxParts` contiguous ranges of at least
    /// `grain` items, one per thread, and waits for all; `body` gets its part's index (for scratch
    /// space of its own) and range. Results stay bit-for-bit the same for any thread count as long
    /// as `body` computes each item the same way whatever range it is in and no two items write
    /// the same memory — the callers' contract.
    public static func forEachRange(_ count: Int, grain: Int = 1, maxParts: Int = .max, _ body: (Int, Range<Int>) -> Void) {
        let parts = min(gemmThreads, maxParts, count / max(grain, 1))
        guard parts > 1 else {
            if count > 0 { body(0, 0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let task = UncheckedTask(body: body)
            DispatchQueue.concurrentPerform(iterations: parts) { part in
                task.body(part, (count * part / parts)..<(count * (part + 1) / parts))
            }
        }
    }
}

/// A range body shared by the threads of `forEachRange`, which makes its items disjoint.
private struct UncheckedTask: @unchecked Sendable {
    let body: (Int, Range<Int>) -> Void
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
