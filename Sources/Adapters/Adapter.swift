import Kernels
import Llama

/// One adapted linear layer, behind the small interface `AdapterSet` dispatches to: the model sees
/// only `LinearHook`, the set sees only this, and each method lives in its own type.
///
/// `parameters`, `gradients` and `masks` point at the adapter's own slice of the flat buffers
/// (its tensors' offsets are relative to the first tensor).
protocol Adapter {
    var entry: AdapterEntry { get }

    /// Floats of scratch one call on `rows` rows needs.
    func scratchCount(rows: Int) -> Int

    /// Seeded initial values (the slice is zero on entry).
    func initialize(_ parameters: UnsafeMutablePointer<Float>, generator: inout SplitMix64, spec: AdapterSpec)

    /// `y (rows, out) += Δy` for input `x (rows, in)`; `call` says which rows of the batch these
    /// are, `dropoutSeed` is set while training.
    func forward(x: UnsafePointer<Float>, parameters: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                 call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>)

    /// Adds `dL/dx` into `dx` and the parameter gradients into `gradients`, for upstream `dy`.
    func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, parameters: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>, masks: UnsafePointer<Float>,
                  call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>)

    /// The update `ΔW (out, in)` the adapter adds to the base weight, scale included.
    func deltaWeight(_ parameters: UnsafePointer<Float>) -> [Float]
}

extension Adapter {
    /// Offset of `name` relative to the adapter's first tensor.
    func offset(_ name: String) -> Int {
        entry.tensor(name).offset - entry.tensors[0].offset
    }
}

extension AdapterEntry {
    /// The implementation of this entry's kind, with its recovery module if it has one.
    func makeAdapter(spec: AdapterSpec) -> Adapter {
        let adapter: Adapter
        switch kind {
        case .lora: adapter = LoRAAdapter(entry: self, masked: false, dropout: spec.dropout)
        case .sparseLora: adapter = LoRAAdapter(entry: self, masked: true, dropout: spec.dropout)
        case .ttLora: adapter = TensorTrainAdapter(entry: self, train: TensorTrain(shape: tensorTrain!, scale: scale), path: spec.tensorTrainPath)
        }
        return recovery.map { RecoveredAdapter(inner: adapter, recovery: $0) } ?? adapter
    }
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
    func initialize(_ parameters: UnsafeMutablePointer<Float>, generator: inout SplitMix64, spec: AdapterSpec) {
        let a = entry.tensor("A")
        let bound = 1 / Float(entry.inFeatures).squareRoot()
        for index in 0..<a.count { parameters[offset("A") + index] = generator.nextFloat(in: -bound..<bound) }
    }

    func forward(x: UnsafePointer<Float>, parameters: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                 call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>) {
        let factors = scratch + 2 * call.rows * entry.rank
        let dropped = factors + call.rows * entry.inFeatures
        let input = applyDropout(x, call: call, seed: dropoutSeed, factors: factors, dropped: dropped) ? UnsafePointer(dropped) : x
        LoRA.forward(x: input, a: parameters + offset("A"), b: parameters + offset("B"), into: y, t: scratch, rows: call.rows,
                     inFeatures: entry.inFeatures, outFeatures: entry.outFeatures, rank: entry.rank, scale: entry.scale)
    }

    func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, parameters: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>, masks: UnsafePointer<Float>,
                  call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>) {
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

    func deltaWeight(_ parameters: UnsafePointer<Float>) -> [Float] {
        var delta = [Float](repeating: 0, count: entry.outFeatures * entry.inFeatures)
        Matmul.gemm(parameters + offset("B"), parameters + offset("A"), into: &delta, m: entry.outFeatures, n: entry.inFeatures,
                    k: entry.rank, transposeB: false, lda: entry.rank, ldb: entry.inFeatures, ldc: entry.inFeatures,
                    alpha: entry.scale, beta: 0)
        return delta
    }
}
