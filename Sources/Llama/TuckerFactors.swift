import Kernels

/// A linear weight `W (out, in)` stored as a Tucker decomposition (arXiv 2405.06626): `W` viewed as
/// a tensor of shape `tensorShape` — its leading `outputModes` modes index the output rows, the
/// rest the input columns, e.g. `q_proj` as heads × head_dim × hidden (`outputModes` 2), `o_proj`
/// as hidden × heads × head_dim (1), or any matrix as out × in (1, the truncated-SVD case) — is
/// `core ×₁ U₁ ×₂ U₂ (×₃ U₃)`, with `core (r₁, r₂[, r₃])` and factors `Uₙ (dₙ, rₙ)`, row-major.
public struct TuckerFactors: Equatable, Sendable {
    public let tensorShape: [Int]
    public let outputModes: Int
    public let ranks: [Int]
    public let core: [Float]
    public let factors: [[Float]]

    public init(tensorShape: [Int], outputModes: Int, ranks: [Int], core: [Float], factors: [[Float]]) {
        precondition((2...3).contains(tensorShape.count) && (1..<tensorShape.count).contains(outputModes), "a 2- or 3-way view split into output and input modes")
        precondition(ranks.count == tensorShape.count && factors.count == tensorShape.count)
        precondition(core.count == ranks.reduce(1, *))
        for mode in tensorShape.indices { precondition(factors[mode].count == tensorShape[mode] * ranks[mode], "factor \(mode) is (d, r)") }
        self.tensorShape = tensorShape
        self.outputModes = outputModes
        self.ranks = ranks
        self.core = core
        self.factors = factors
    }

    public var outFeatures: Int { tensorShape[..<outputModes].reduce(1, *) }
    public var inFeatures: Int { tensorShape[outputModes...].reduce(1, *) }

    /// Numbers stored: the core and every factor.
    public var parameterCount: Int { core.count + factors.reduce(0) { $0 + $1.count } }

    /// The forward `y = x·Wᵀ` as a chain of dense products over reshaped rows (`FactoredStage`),
    /// each with its row-major `(outFeatures, inFeatures)` weight:
    /// the input factor first, then the core with the small mode (or the lone output factor of a
    /// matrix) folded in, then the last factor. Every stage is one sgemm over all rows, so compute
    /// falls with the ranks; folding a mode of ≤ 9 heads into the core costs almost nothing.
    public func stages() -> [(stage: FactoredStage, weight: [Float])] {
        let (d, r) = (tensorShape, ranks)
        let weights: [[Float]]
        switch (d.count, outputModes) {
        case (2, _):
            // W = U₀·core·U₁ᵀ: x·U₁ (rows, r₁), then ·(U₀·core)ᵀ.
            weights = [Matmul.transposed(factors[1], rows: d[1], columns: r[1]), Matmul.product(factors[0], core, m: d[0], k: r[0], n: r[1])]
        case (3, 2):
            // W[(a,b), c]: x·U₂ (rows, r₂); ·(core ×₀ U₀)ᵀ as (d₀·r₁, r₂) → (rows, d₀, r₁); ·U₁ᵀ per head → (rows, d₀, d₁).
            weights = [Matmul.transposed(factors[2], rows: d[2], columns: r[2]),
                       Matmul.product(factors[0], core, m: d[0], k: r[0], n: r[1] * r[2]), factors[1]]
        default:
            // W[a, (b,c)]: x per head ·U₂ → (rows, d₁, r₂); ·(core ×₁ U₁)ᵀ as (r₀, d₁·r₂) → (rows, r₀); ·U₀ᵀ → (rows, d₀).
            var folded = [Float]()
            for p in 0..<r[0] {
                folded += Matmul.product(factors[1], Array(core[(p * r[1] * r[2])..<((p + 1) * r[1] * r[2])]), m: d[1], k: r[1], n: r[2])
            }
            weights = [Matmul.transposed(factors[2], rows: d[2], columns: r[2]), folded, factors[0]]
        }
        return Array(zip(Self.stageShapes(tensorShape: d, outputModes: outputModes, ranks: r), weights))
    }

    /// The stages `stages()` builds for a view and ranks, without the values: what a factored
    /// weight takes in memory is the sum of their `outFeatures · inFeatures`.
    public static func stageShapes(tensorShape d: [Int], outputModes: Int, ranks r: [Int]) -> [FactoredStage] {
        switch (d.count, outputModes) {
        case (2, _):
            return [FactoredStage(outFeatures: r[1], inFeatures: d[1], groups: 1), FactoredStage(outFeatures: d[0], inFeatures: r[1], groups: 1)]
        case (3, 2):
            return [FactoredStage(outFeatures: r[2], inFeatures: d[2], groups: 1), FactoredStage(outFeatures: d[0] * r[1], inFeatures: r[2], groups: 1),
                    FactoredStage(outFeatures: d[1], inFeatures: r[1], groups: d[0])]
        default:
            return [FactoredStage(outFeatures: r[2], inFeatures: d[2], groups: d[1]), FactoredStage(outFeatures: r[0], inFeatures: d[1] * r[2], groups: 1),
                    FactoredStage(outFeatures: d[0], inFeatures: r[0], groups: 1)]
        }
    }

    /// The dense `W (out, in)` the factors stand for.
    public func reconstructed() -> [Float] {
        // Push the identity through the stages: row j of the result is W's column j.
        var rows = [Float](repeating: 0, count: inFeatures * inFeatures)
        for j in 0..<inFeatures { rows[j * inFeatures + j] = 1 }
        for (stage, weight) in stages() {
            var output = [Float](repeating: 0, count: inFeatures * stage.outputWidth)
            rows.withUnsafeBufferPointer { x in
                weight.withUnsafeBufferPointer { w in
                    output.withUnsafeMutableBufferPointer { y in
                        Matmul.linear(x.baseAddress!, w.baseAddress!, into: y.baseAddress!, rows: inFeatures * stage.groups,
                                      inFeatures: stage.inFeatures, outFeatures: stage.outFeatures)
                    }
                }
            }
            rows = output
        }
        return Matmul.transposed(rows, rows: inFeatures, columns: outFeatures)
    }
}

/// One stage of a factored linear layer: a dense product `(rows·groups, inFeatures) · weightᵀ →
/// (rows·groups, outFeatures)` over the previous stage's output reshaped; the activation backward
/// runs the stages in reverse with `dy·weight`.
public struct FactoredStage: Sendable, Equatable {
    public let outFeatures: Int
    public let inFeatures: Int
    /// Sub-rows per input row.
    public let groups: Int

    /// Floats of the stage's weight.
    public var weightCount: Int { outFeatures * inFeatures }

    /// Width of a row of this stage's input and output.
    public var inputWidth: Int { groups * inFeatures }
    public var outputWidth: Int { groups * outFeatures }
}
