import Kernels
import Llama

/// LoRA (Hu et al. 2021, arXiv 2106.09685) as PEFT has it: `A (r, in)` Kaiming-uniform, `B (out, r)`
/// zero, `ΔW = (α/r)·B·A`, optional dropout on the adapter's input.
struct LoRAKind: AdapterKind {
    var name: String { "lora" }
    var summary: String { "LoRA: ΔW = (α/r)·B·A" }

    var takesDropout: Bool { true }
    var isMasked: Bool { false }
    var takesRecovery: Bool { true }

    func tensorShapes(rank: Int, inFeatures: Int, outFeatures: Int, attributes: [String: [Int]]) -> [(name: String, shape: [Int])] {
        LoRA.shapes(rank: rank, inFeatures: inFeatures, outFeatures: outFeatures)
    }

    func makeAdapter(entry: AdapterEntry, spec: AdapterSpec) -> Adapter {
        LoRAAdapter(entry: entry, masked: false, dropout: spec.dropout)
    }

    /// `A` and `B` as they are, `lora_alpha` = α: PEFT's scale α/r is ours.
    func peftModule(_ adapter: StoredAdapter) throws -> PEFTModule {
        try LoRA.peftModule(adapter, method: "LoRA of rank \(adapter.rank)")
    }
}

extension AdapterSpec.Kind {
    public static let lora = Self(LoRAKind())
}

/// LoRA, and sparse LoRA when `masked`: the same product, with pruned gradients zeroed. With
/// `dropout` p > 0 and a dropout seed, the input is `x ⊙ keep / (1 − p)` as in PEFT, where `keep`
/// is a hash of (seed, layer, site, batch row, column): the same bits on any rank and in backward.
struct LoRAAdapter: Adapter {
    let entry: AdapterEntry
    let masked: Bool
    let dropout: Float

    func scratchCount(rows: Int) -> Int {
        2 * rows * entry.rank + (dropout > 0 ? 3 * rows * entry.inFeatures : 0)
    }

    /// Whether element `column` of batch row `row` survives dropout under `seed`.
    private func keeps(row: Int, column: Int, seed: UInt64) -> Bool {
        let site = UInt64(LinearSite.allCases.firstIndex(of: entry.site)!)
        var generator = SplitMix64(seed: seed ^ (UInt64(entry.layer) << 56) ^ (site << 52) ^ (UInt64(row) << 24) ^ UInt64(column))
        return generator.nextFloat(in: 0..<1) >= dropout
    }

    /// Writes the dropout factors `keep / (1 − p)` to `factors` and `x ⊙ factors` to `dropped`
    /// (both `(rows, in)`); false when dropout is off.
    private func applyDropout(
        _ x: UnsafePointer<Float>, call: LinearCall, seed: UInt64?,
        factors: UnsafeMutablePointer<Float>, dropped: UnsafeMutablePointer<Float>
    ) -> Bool {
        guard dropout > 0, let seed else { return false }
        let kept = 1 / (1 - dropout)
        for row in 0..<call.rows {
            for column in 0..<entry.inFeatures {
                let index = row * entry.inFeatures + column
                factors[index] = keeps(row: call.firstRow + row, column: column, seed: seed) ? kept : 0
                dropped[index] = x[index] * factors[index]
            }
        }
        return true
    }

    /// `A` Kaiming-uniform as PEFT does (`kaiming_uniform_(a=√5)`, i.e. uniform in ±1/√in), `B` zero.
    func initialize(_ parameters: UnsafeMutablePointer<Float>, generator: inout SplitMix64, spec: AdapterSpec, base: FrozenLinear) {
        let a = entry.tensor("A")
        let bound = 1 / Float(entry.inFeatures).squareRoot()
        for index in 0..<a.count { parameters[offset("A") + index] = generator.nextFloat(in: -bound..<bound) }
    }

    func forward(x: UnsafePointer<Float>, parameters: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                 call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>, base: FrozenLinear) {
        let factors = scratch + 2 * call.rows * entry.rank
        let dropped = factors + call.rows * entry.inFeatures
        let input = applyDropout(x, call: call, seed: dropoutSeed, factors: factors, dropped: dropped) ? UnsafePointer(dropped) : x
        LoRA.forward(x: input, a: parameters + offset("A"), b: parameters + offset("B"), into: y, t: scratch, rows: call.rows,
                     inFeatures: entry.inFeatures, outFeatures: entry.outFeatures, rank: entry.rank, scale: entry.scale)
    }

    func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, parameters: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>, masks: UnsafePointer<Float>,
                  call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>, base: FrozenLinear) {
        let (rows, inFeatures) = (call.rows, entry.inFeatures)
        let factors = scratch + 2 * rows * entry.rank
        let dropped = factors + rows * inFeatures
        let droppedGradient = dropped + rows * inFeatures
        let dropping = applyDropout(x, call: call, seed: dropoutSeed, factors: factors, dropped: dropped)
        if dropping { droppedGradient.update(repeating: 0, count: rows * inFeatures) }
        LoRA.backward(dy: dy, x: dropping ? UnsafePointer(dropped) : x, a: parameters + offset("A"), b: parameters + offset("B"),
                      dx: dropping ? droppedGradient : dx,
                      da: gradients + offset("A"), db: gradients + offset("B"), t: scratch, dt: scratch + rows * entry.rank,
                      rows: rows, inFeatures: inFeatures, outFeatures: entry.outFeatures, rank: entry.rank, scale: entry.scale)
        if dropping {
            // d(x ⊙ factors)/dx = factors.
            for index in 0..<(rows * inFeatures) { dx[index] += droppedGradient[index] * factors[index] }
        }
        if masked {
            for index in 0..<entry.parameterCount { gradients[index] *= masks[index] }
        }
    }

    /// `W + (α/r)·B·A`.
    func merge(_ parameters: UnsafePointer<Float>, into weight: inout [Float]) {
        add(LoRA.product(parameters + offset("B"), parameters + offset("A"), entry: entry), into: &weight)
    }
}
