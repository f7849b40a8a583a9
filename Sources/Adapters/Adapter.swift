import Kernels
import Llama

/// One adapted linear layer, behind the small interface `AdapterSet` dispatches to: the model sees
/// only `LinearHook`, the set sees only this, and each kind's file (`AdapterKind`) makes its own.
///
/// `parameters`, `gradients` and `masks` point at the adapter's own slice of the flat buffers
/// (its tensors' offsets are relative to the first tensor). `base` is the layer's frozen weight.
public protocol Adapter {
    var entry: AdapterEntry { get }

    /// Floats of scratch one call on `rows` rows needs.
    func scratchCount(rows: Int) -> Int

    /// Seeded initial values (the slice is zero on entry).
    func initialize(_ parameters: UnsafeMutablePointer<Float>, generator: inout SplitMix64, spec: AdapterSpec, base: FrozenLinear)

    /// Turns the base output `y = x·Wᵀ (rows, out)` into the adapted one (usually `y += Δy`) for
    /// input `x (rows, in)`; `call` says which rows of the batch these are, `dropoutSeed` is set
    /// while training.
    func forward(x: UnsafePointer<Float>, parameters: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                 call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>, base: FrozenLinear)

    /// Adds its part of `dL/dx` into `dx` (which holds `dy·W`) and the parameter gradients into
    /// `gradients`, for upstream `dy`.
    func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, parameters: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>, masks: UnsafePointer<Float>,
                  call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>, base: FrozenLinear)

    /// The adapted weight: `weight (out, in)`, the base's, with the adapter folded in.
    func merge(_ parameters: UnsafePointer<Float>, into weight: inout [Float])
}

extension Adapter {
    /// Offset of `name` relative to the adapter's first tensor.
    func offset(_ name: String) -> Int {
        entry.tensor(name).offset - entry.tensors[0].offset
    }

    /// `weight += ΔW`, for kinds whose adapted weight is the base plus an update.
    func add(_ delta: [Float], into weight: inout [Float]) {
        precondition(weight.count == delta.count, "weight of \(entry.target) has the wrong size")
        for index in weight.indices { weight[index] += delta[index] }
    }
}

extension AdapterEntry {
    /// The implementation of this entry's kind, with its recovery module if it has one.
    func makeAdapter(spec: AdapterSpec) -> Adapter {
        let adapter = kind.method.makeAdapter(entry: self, spec: spec)
        return recovery.map { RecoveredAdapter(inner: adapter, recovery: $0) } ?? adapter
    }
}
