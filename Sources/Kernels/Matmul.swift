import CBLAS
import CKernels

/// Dense matrix products; all matrices row-major.
///
/// A linear layer stores its weight as `(out, in)` (Hugging Face layout), so the forward is
/// `y = x · Wᵀ` and the activation backward is `dx = dy · W` — the base model never needs `dW`.
/// Both run on ttl-train's row-stable GEMM (`CKernels`): every output element is one fused
/// multiply-add chain over the inner dimension in a fixed order, so a row's bits do not depend on
/// how many rows share the call, on the code path (AVX-512, AVX2, portable) or on the threads. The
/// model therefore multiplies a whole batch at once and each sequence still gets the bits it would
/// get alone. The frozen base's dense weights are kept in the GEMM's panels (`WeightPanels`) and
/// multiplied in place. `gemm` (attention, adapters) is OpenBLAS's sgemm.
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

    /// `y (rows, out) = x (rows, in) · Wᵀ` for a frozen W kept in the GEMM's panels
    /// (`WeightPanels`), read in place: the same bits as `linear` on the row-major W.
    public static func linear(
        _ x: UnsafePointer<Float>, panels: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int
    ) {
        split(m: rows, n: outFeatures, k: inFeatures, byRows: rows >= 2 * rowsPerPart) { rows, columns in
            ttl_gemm_panels(rows.count, outFeatures, inFeatures, x + rows.lowerBound * inFeatures, inFeatures, panels,
                            y + rows.lowerBound * outFeatures, outFeatures, 0, columns.lowerBound, columns.upperBound)
        }
    }

    /// `dx (rows, in) (+)= dy (rows, out) · W` for W in panels: the activation gradient.
    public static func linearBackward(
        _ dy: UnsafePointer<Float>, panels: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool
    ) {
        split(m: rows, n: inFeatures, k: outFeatures, byRows: false) { rows, columns in
            ttl_gemm_panels_transposed(rows.count, inFeatures, outFeatures, dy + rows.lowerBound * outFeatures, outFeatures, panels,
                                       dx + rows.lowerBound * inFeatures, inFeatures, accumulate ? 1 : 0, columns.lowerBound, columns.upperBound)
        }
    }

    /// `y (out) = W · x (in)` for W in panels, the panels split over `ComputeThreads`: one
    /// generated token's product, where the GEMM would spend its time on a single row's tiles.
    /// Not row-stable (partial sums in vector lanes): generation compares with the full forward
    /// by value, not by bits.
    public static func matrixVector(
        _ x: UnsafePointer<Float>, panels: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, inFeatures: Int, outFeatures: Int
    ) {
        let count = (outFeatures + Int(TTL_PANEL_WIDTH) - 1) / Int(TTL_PANEL_WIDTH)
        ComputeThreads.forEachRange(count, grain: 32) { _, range in
            ttl_panels_matrix_vector(panels, outFeatures, inFeatures, range.lowerBound, range.count, x, y)
        }
    }

    /// Rows a thread takes at least when a panel product is split by rows: a weight read in place
    /// is not packed per thread, so rows split without repeating work, as long as each part keeps
    /// enough rows to reuse what it reads of W.
    private static let rowsPerPart = 96

    /// Runs `body(rows, columns)` on the parts of an `(m, n)` product: one part under ~1 MFLOP,
    /// else `ComputeThreads.count` parts of whole rows (`byRows`) or of whole micro-tiles of
    /// columns. Either way each element is computed exactly as alone (row-stable).
    private static func split(m: Int, n: Int, k: Int, byRows: Bool, _ body: (Range<Int>, Range<Int>) -> Void) {
        let tile = ttl_gemm_tile_columns()
        let tiles = (n + tile - 1) / tile
        let small = m * n * k < 1 << 19
        let parts = small ? 1 : min(ComputeThreads.count, byRows ? m / rowsPerPart : tiles)
        guard parts > 1 else { return body(0..<m, 0..<n) }
        ComputeThreads.run(parts: parts) { part in
            if byRows {
                body((m * part / parts)..<(m * (part + 1) / parts), 0..<n)
            } else {
                body(0..<m, (tiles * part / parts * tile)..<min(n, tiles * (part + 1) / parts * tile))
            }
        }
    }

    /// `C (m, n) (+)= A (m, k) · op(B)` on the row-stable GEMM, the columns split over
    /// `ComputeThreads.count` threads in whole micro-tiles (each thread packs only its own columns
    /// of B). Products under ~1 MFLOP stay on the calling thread.
    public static func rowStable(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
        m: Int, n: Int, k: Int, transposeB: Bool, lda: Int, ldb: Int, ldc: Int, accumulate: Bool
    ) {
        split(m: m, n: n, k: k, byRows: false) { _, columns in
            ttl_gemm(transposeB ? 1 : 0, m, n, k, a, lda, b, ldb, c, ldc, accumulate ? 1 : 0, columns.lowerBound, columns.upperBound)
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
}

/// Threads of one process for the matrix products and the elementwise kernels: a fixed team in C
/// (`ttl_parallel_run`) in which worker i always runs part i — Dispatch's pool, woken per product,
/// reached 187 GFLOP/s on two threads where the same GEMM on two fixed threads reaches 245.
/// OpenBLAS, which serves only the small per-sequence products of attention and adapters, runs on
/// the calling thread: its idle workers spin on `sched_yield` after every call and took ~13 % of
/// the cycles from the GEMM's second thread on a 2-core machine.
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
        run(parts: parts) { part in body(part, (count * part / parts)..<(count * (part + 1) / parts)) }
    }

    /// Runs `body(part)` for every part in `0..<parts`, part 0 on the calling thread and the others
    /// on the team's workers (`ttl_parallel_run`), and waits for all.
    static func run(parts: Int, _ body: (Int) -> Void) {
        withoutActuallyEscaping(body) { body in
            var task = PartBody(body: body)
            withUnsafeMutablePointer(to: &task) { task in
                ttl_parallel_run(Int32(parts), { context, part in
                    context!.assumingMemoryBound(to: PartBody.self).pointee.body(Int(part))
                }, task)
            }
        }
    }
}

/// The body of one `ComputeThreads.run`, passed to the C team by address.
private struct PartBody {
    let body: (Int) -> Void
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
