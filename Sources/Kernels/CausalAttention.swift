/// Grouped-query causal self-attention (Ainslie et al. 2023) over one sequence.
///
/// Rows are tokens of a single sequence (sequences are packed one after another, so there is no
/// padding: each call sees only its own rows, and what a sequence computes cannot depend on its
/// neighbours). Query head `h` reads key/value head `h / (heads / kvHeads)`.
public struct CausalAttention: Sendable {
    public let heads: Int
    public let kvHeads: Int
    public let headDim: Int

    public init(heads: Int, kvHeads: Int, headDim: Int) {
        precondition(heads % kvHeads == 0, "kv heads must divide query heads")
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
    }

    public var queryWidth: Int { heads * headDim }
    public var kvWidth: Int { kvHeads * headDim }
    private var scale: Float { 1 / Float(headDim).squareRoot() }

    /// Floats of softmax probabilities that `forward` keeps for a sequence of `length` tokens.
    public func probabilityCount(length: Int) -> Int {
        heads * length * length
    }

    /// `out (L, heads·d) = softmax(mask(Q Kᵀ/√d)) V` per head, for `q (L, heads·d)` and
    /// `k, v (L, kvHeads·d)` (RoPE already applied). Writes the probabilities to
    /// `probabilities (heads, L, L)`; entries above the diagonal are zero.
    public func forward(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        into out: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>, length: Int
    ) {
        let group = heads / kvHeads
        // Heads write disjoint probabilities and output columns, so they run on ComputeThreads.
        ComputeThreads.forEachRange(heads, grain: length < 32 ? heads : 1) { _, headRange in
            for head in headRange {
                let kvHead = head / group
                let p = probabilities + head * length * length
                Matmul.gemm(q + head * headDim, k + kvHead * headDim, into: p, m: length, n: length, k: headDim,
                            transposeB: true, lda: queryWidth, ldb: kvWidth, ldc: length, alpha: scale, beta: 0)
                Self.causalSoftmax(p, rows: length, columns: length, past: 0)
                Matmul.gemm(p, v + kvHead * headDim, into: out + head * headDim, m: length, n: headDim, k: length,
                            transposeB: false, lda: length, ldb: kvWidth, ldc: queryWidth, beta: 0)
            }
        }
    }

    /// Attention of `rows` new tokens at positions `past ..< past + rows` over a key/value cache
    /// holding positions `0 ..< past + rows` (the new ones included): `out (rows, heads·d)` for
    /// `q (rows, heads·d)` and `keys, values (past + rows, kvHeads·d)`. `scores` is scratch of
    /// `rows · (past + rows)` floats. Used to generate one token at a time without recomputing
    /// the prefix; the rows are the same math as `forward`'s rows at those positions.
    public func forwardCached(
        q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        into out: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>, rows: Int, past: Int
    ) {
        let group = heads / kvHeads
        let total = past + rows
        for head in 0..<heads {
            let kvHead = head / group
            Matmul.gemm(q + head * headDim, keys + kvHead * headDim, into: scores, m: rows, n: total, k: headDim,
                        transposeB: true, lda: queryWidth, ldb: kvWidth, ldc: total, alpha: scale, beta: 0)
            Self.causalSoftmax(scores, rows: rows, columns: total, past: past)
            Matmul.gemm(scores, values + kvHead * headDim, into: out + head * headDim, m: rows, n: headDim, k: total,
                        transposeB: false, lda: total, ldb: kvWidth, ldc: queryWidth, beta: 0)
        }
    }

    /// Softmax of each row of `scores (rows, columns)` over the keys it may see — row `r` is at
    /// position `past + r` and sees columns `0...past + r` — and zero beyond.
    private static func causalSoftmax(_ scores: UnsafeMutablePointer<Float>, rows: Int, columns: Int, past: Int) {
        for row in 0..<rows {
            let p = scores + row * columns
            let valid = past + row + 1
            let peak = VectorMath.maximum(p, count: valid)
            let total = VectorMath.expShifted(p, into: p, count: valid, shift: peak)
            let inverse = Float(1 / total)
            for column in 0..<valid { p[column] *= inverse }
            for column in valid..<columns { p[column] = 0 }
        }
    }

    /// Gradients for upstream `dOut (L, heads·d)`: writes `dq`, `dk`, `dv` (overwriting), using the
    /// probabilities `forward` kept and `scratch` of `kvHeads·L·L` floats. Key/value heads run on
    /// `ComputeThreads` (a group's query heads add into its `dk` and `dv` in head order).
    ///
    /// `dP = dO Vᵀ`, `dV = Pᵀ dO`, `dS = P ⊙ (dP − rowsum(P ⊙ dP))`, `dQ = dS K/√d`, `dK = dSᵀ Q/√d`,
    /// with the key/value gradients of a group summed over its query heads.
    public func backward(
        _ dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        probabilities: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
        dv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, length: Int
    ) {
        let group = heads / kvHeads
        ComputeThreads.forEachRange(kvHeads, grain: length < 32 ? kvHeads : 1) { _, kvRange in
            for head in (kvRange.lowerBound * group)..<(kvRange.upperBound * group) {
                let kvHead = head / group
                let first = head % group == 0
                let p = probabilities + head * length * length
                let dp = scratch + kvHead * length * length
                Matmul.gemm(dOut + head * headDim, v + kvHead * headDim, into: dp, m: length, n: length, k: headDim,
                            transposeB: true, lda: queryWidth, ldb: kvWidth, ldc: length, beta: 0)
                Matmul.gemm(p, dOut + head * headDim, into: dv + kvHead * headDim, m: length, n: headDim, k: length,
                            transposeA: true, transposeB: false, lda: length, ldb: queryWidth, ldc: kvWidth, beta: first ? 0 : 1)
                for row in 0..<length {
                    let probabilityRow = p + row * length
                    let gradientRow = dp + row * length
                    var dot: Float = 0
                    for column in 0...row { dot += probabilityRow[column] * gradientRow[column] }
                    for column in 0...row { gradientRow[column] = probabilityRow[column] * (gradientRow[column] - dot) }
                    for column in (row + 1)..<length { gradientRow[column] = 0 }
                }
                Matmul.gemm(dp, k + kvHead * headDim, into: dq + head * headDim, m: length, n: headDim, k: length,
                            transposeB: false, lda: length, ldb: kvWidth, ldc: queryWidth, alpha: scale, beta: 0)
                Matmul.gemm(dp, q + head * headDim, into: dk + kvHead * headDim, m: length, n: headDim, k: length,
                            transposeA: true, transposeB: false, lda: length, ldb: queryWidth, ldc: kvWidth,
                            alpha: scale, beta: first ? 0 : 1)
            }
        }
    }
}
