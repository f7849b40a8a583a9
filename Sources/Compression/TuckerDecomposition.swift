import Kernels
import Llama

/// Tucker decomposition by the higher-order SVD (De Lathauwer et al., SIAM J. Matrix Anal. Appl.
/// 2000) with optional HOOI refinement sweeps — the compression of arXiv 2405.06626. For a 2-way
/// view (a matrix) it is the truncated SVD.
public enum TuckerDecomposition {
    /// The decomposition and, per mode, the singular values of the original tensor's unfolding
    /// (what an energy threshold chooses ranks from, and what the truncation discards).
    public struct Result: Sendable {
        public let factors: TuckerFactors
        public let singularValues: [[Float]]

        /// Per mode, the squared singular values past its rank. The squared reconstruction error
        /// of the HOSVD lies between their maximum (no projection of a mode onto rₙ vectors keeps
        /// more) and their sum (De Lathauwer et al., Property 10); a truncated SVD, or a tensor
        /// truncated in one mode only, meets the lower end exactly.
        public var discardedEnergy: [Double] {
            zip(singularValues, factors.ranks).map { values, rank in values.dropFirst(rank).reduce(0) { $0 + Double($1) * Double($1) } }
        }
    }

    /// How ranks are chosen: given per mode, or the smallest that keep `energy` of each mode's
    /// squared singular values.
    public enum Ranks: Equatable, Sendable {
        case fixed([Int])
        case energy(Double)
    }

    /// HOOI converges in a handful of sweeps; a plan asking for more than this is a mistake.
    public static let maxRefinements = 100

    /// Decomposes `tensor` (the weight reshaped to the view; the first `outputModes` modes index
    /// the weight's output rows) at `ranks`, refined by `refinements` HOOI sweeps.
    public static func decompose(_ tensor: DenseTensor, outputModes: Int, ranks: Ranks, refinements: Int = 0) throws -> Result {
        var factors: [[Float]] = []
        var singularValues: [[Float]] = []
        for mode in tensor.shape.indices {
            let (vectors, values) = try SingularValues.leftVectors(of: tensor.unfolded(mode), rows: tensor.shape[mode],
                                                                   columns: tensor.values.count / tensor.shape[mode])
            factors.append(vectors)
            singularValues.append(values)
        }
        let chosen: [Int]
        switch ranks {
        case .fixed(let given): chosen = given
        case .energy(let fraction): chosen = consistent(singularValues.map { rank(keeping: fraction, of: $0) })
        }
        precondition(zip(chosen, singularValues).allSatisfy { $0 >= 1 && $0 <= $1.count }, "ranks within the unfoldings' ranks (the plan checks them)")
        var truncated = tensor.shape.indices.map { leading(factors[$0], rows: tensor.shape[$0], columns: singularValues[$0].count, keep: chosen[$0]) }
        for _ in 0..<refinements {
            for mode in tensor.shape.indices {
                var projected = tensor
                for other in tensor.shape.indices where other != mode {
                    projected = projected.modeProduct(other, Matmul.transposed(truncated[other], rows: tensor.shape[other], columns: chosen[other]), rows: chosen[other])
                }
                let (vectors, values) = try SingularValues.leftVectors(of: projected.unfolded(mode), rows: tensor.shape[mode],
                                                                       columns: projected.values.count / tensor.shape[mode])
                truncated[mode] = leading(vectors, rows: tensor.shape[mode], columns: values.count, keep: chosen[mode])
            }
        }
        var core = tensor
        for mode in tensor.shape.indices {
            core = core.modeProduct(mode, Matmul.transposed(truncated[mode], rows: tensor.shape[mode], columns: chosen[mode]), rows: chosen[mode])
        }
        let result = TuckerFactors(tensorShape: tensor.shape, outputModes: outputModes, ranks: chosen, core: core.values, factors: truncated)
        return Result(factors: result, singularValues: singularValues)
    }

    /// The smallest rank whose leading squared singular values reach `fraction` of their sum.
    public static func rank(keeping fraction: Double, of values: [Float]) -> Int {
        let total = values.reduce(0) { $0 + Double($1) * Double($1) }
        var kept = 0.0
        for (index, value) in values.enumerated() {
            kept += Double(value) * Double(value)
            if kept >= fraction * total * (1 - 1e-12) { return index + 1 }
        }
        return max(values.count, 1)
    }

    /// Ranks where none exceeds the product of the others (a larger one adds nothing: the core's
    /// unfolding in that mode has no more independent rows), lowered where needed.
    public static func consistent(_ ranks: [Int]) -> [Int] {
        var result = ranks
        while let mode = result.indices.first(where: { result[$0] > result.reduce(1, *) / result[$0] }) {
            result[mode] = result.reduce(1, *) / result[mode]
        }
        return result
    }

    /// The first `keep` columns of a row-major `(rows, columns)` matrix.
    private static func leading(_ matrix: [Float], rows: Int, columns: Int, keep: Int) -> [Float] {
        (0..<rows).flatMap { matrix[($0 * columns)..<($0 * columns + keep)] }
    }
}
