import Foundation

/// The tensor-train view of an `in × out` matrix used by TT-LoRA (Anjum et al. 2024,
/// arXiv 2408.01008): the matrix is a tensor of shape `in_factors + reversed(out_factors)`
/// (e.g. 576 × 576 → 8·8·9 · 9·8·8) whose cores `G_k` have shape `(r_{k-1}, s_k, r_k)` with
/// `r_0 = r_d = 1` and one rank `r` for every inner bond.
public struct TensorTrainShape: Sendable, Equatable {
    public let inFactors: [Int]
    public let outFactors: [Int]
    public let rank: Int
    /// `in_factors + reversed(out_factors)`.
    public let modes: [Int]
    /// Bond dimensions `r_0 … r_d`.
    public let bonds: [Int]
    public let inFeatures: Int
    public let outFeatures: Int
    /// Offset of each core inside the adapter's parameters (stored one after another), plus the total.
    private let coreOffsets: [Int]

    public init(inFactors: [Int], outFactors: [Int], rank: Int) {
        self.inFactors = inFactors
        self.outFactors = outFactors
        self.rank = rank
        modes = inFactors + outFactors.reversed()
        bonds = [1] + Array(repeating: rank, count: modes.count - 1) + [1]
        inFeatures = inFactors.reduce(1, *)
        outFeatures = outFactors.reduce(1, *)
        var offsets = [0]
        for k in modes.indices { offsets.append(offsets[k] + bonds[k] * modes[k] * bonds[k + 1]) }
        coreOffsets = offsets
    }

    /// The product of `factors` (1 for none), or nil when one is below 1 or the product
    /// overflows: factors come from specs and checkpoints, which may hold anything.
    public static func product(of factors: [Int]) -> Int? {
        var product = 1
        for factor in factors {
            let (result, overflow) = product.multipliedReportingOverflow(by: factor)
            guard factor >= 1, !overflow else { return nil }
            product = result
        }
        return product
    }

    /// Shape `(r_{k-1}, s_k, r_k)` of core `k`.
    public func coreShape(_ k: Int) -> [Int] {
        [bonds[k], modes[k], bonds[k + 1]]
    }

    /// Offset of core `k` inside the adapter's parameters.
    public func coreOffset(_ k: Int) -> Int {
        coreOffsets[k]
    }

    public var parameterCount: Int { coreOffsets[modes.count] }

    /// Splits `n` into factors as even as possible, about one per factor of 8 (576 → [8, 8, 9],
    /// 192 → [4, 6, 8], 1536 → [4, 6, 8, 8]), smallest first.
    public static func factorize(_ n: Int) -> [Int] {
        precondition(n >= 1)
        let count = max(1, Int((log(Double(n)) / log(8.0)).rounded()))
        var best: [Int] = [n]
        var bestSpread = Int.max
        func search(_ remaining: Int, _ slots: Int, _ smallest: Int, _ chosen: [Int]) {
            if slots == 1 {
                guard remaining >= smallest else { return }
                let candidate = chosen + [remaining]
                let spread = candidate.max()! - candidate.min()!
                if spread < bestSpread { best = candidate; bestSpread = spread }
                return
            }
            var factor = smallest
            while factor * factor <= remaining {
                if remaining % factor == 0 { search(remaining / factor, slots - 1, factor, chosen + [factor]) }
                factor += 1
            }
        }
        search(n, count, 2, [])
        return best
    }
}
