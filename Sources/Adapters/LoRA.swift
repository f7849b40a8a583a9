import Kernels

/// LoRA (Hu et al. 2021, arXiv 2106.09685) in PEFT's convention: `Δy = (α/r)·x·Aᵀ·Bᵀ` with
/// `A (r, in)` and `B (out, r)`, so a zero `B` leaves the model unchanged at step 0.
///
/// Forward and backward over `rows` rows of one linear call. The rank-r intermediate `t = x·Aᵀ` is
/// recomputed in backward instead of kept: it costs `rows·in·r` multiply-adds, less than storing
/// it for every layer and target.
public enum LoRA {
    /// `y (rows, out) += scale · (x·Aᵀ)·Bᵀ`; `t` is scratch of `rows·r`.
    public static func forward(
        x: UnsafePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
        t: UnsafeMutablePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int, rank: Int, scale: Float
    ) {
        Matmul.linear(x, a, into: t, rows: rows, inFeatures: inFeatures, outFeatures: rank)
        Matmul.gemm(t, b, into: y, m: rows, n: outFeatures, k: rank, transposeB: true,
                    lda: rank, ldb: rank, ldc: outFeatures, alpha: scale, beta: 1)
    }

    /// For upstream `dy (rows, out)`: `dA += dtᵀ·x`, `dB += scale·dyᵀ·t`, `dx += dt·A` with
    /// `t = x·Aᵀ` and `dt = scale·dy·B`. `t` and `dt` are scratch of `rows·r` each.
    public static func backward(
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>, da: UnsafeMutablePointer<Float>, db: UnsafeMutablePointer<Float>,
        t: UnsafeMutablePointer<Float>, dt: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int, rank: Int, scale: Float
    ) {
        Matmul.linear(x, a, into: t, rows: rows, inFeatures: inFeatures, outFeatures: rank)
        Matmul.gemm(dy, t, into: db, m: outFeatures, n: rank, k: rows, transposeA: true, transposeB: false,
                    lda: outFeatures, ldb: rank, ldc: rank, alpha: scale, beta: 1)
        Matmul.gemm(dy, b, into: dt, m: rows, n: rank, k: outFeatures, transposeB: false,
                    lda: outFeatures, ldb: rank, ldc: rank, alpha: scale, beta: 0)
        Matmul.gemm(dt, x, into: da, m: rank, n: inFeatures, k: rows, transposeA: true, transposeB: false,
                    lda: rank, ldb: inFeatures, ldc: inFeatures, beta: 1)
        Matmul.gemm(dt, a, into: dx, m: rows, n: inFeatures, k: rank, transposeB: false,
                    lda: rank, ldb: inFeatures, ldc: inFeatures, beta: 1)
    }
}

/// What LoRA, sparse LoRA and DoRA share beyond the product: the two factors' shapes, `B·A`, and
/// their PEFT tensors.
extension LoRA {
    static func shapes(rank: Int, inFeatures: Int, outFeatures: Int) -> [(name: String, shape: [Int])] {
        [("A", [rank, inFeatures]), ("B", [outFeatures, rank])]
    }

    /// `scale·B·A (out, in)` of `entry`.
    static func product(_ b: UnsafePointer<Float>, _ a: UnsafePointer<Float>, entry: AdapterEntry) -> [Float] {
        var delta = [Float](repeating: 0, count: entry.outFeatures * entry.inFeatures)
        Matmul.gemm(b, a, into: &delta, m: entry.outFeatures, n: entry.inFeatures, k: entry.rank, transposeB: false,
                    lda: entry.rank, ldb: entry.inFeatures, ldc: entry.inFeatures, alpha: entry.scale, beta: 0)
        return delta
    }

    /// `lora_A.weight = A`, `lora_B.weight = B`, `lora_alpha = α`.
    static func peftModule(_ adapter: StoredAdapter, useDora: Bool = false, method: String) throws -> PEFTModule {
        guard let a = adapter.tensor("A"), let b = adapter.tensor("B") else { throw AdapterKindError("\(adapter.target) has no A and B") }
        return PEFTModule(tensors: [("lora_A.weight", a.shape, a.values), ("lora_B.weight", b.shape, b.values)],
                          rank: adapter.rank, loraAlpha: Double(adapter.alpha), useDora: useDora, method: method)
    }
}
