import Llama

/// What a job will hold in memory, known before launch (`ttl-train validate`): the frozen weights
/// — the base and a CA-LoRA teacher, one copy per node since the ranks of a node share them — and
/// per rank the activations at `micro × max_length` tokens, the adapters (parameters, gradients,
/// masks) and AdamW's two moments.
public struct JobMemory: Sendable, Equatable {
    /// Base and teacher weights, once per node.
    public let weightBytes: Int
    /// Activations with every layer's kept, and with `memory: {recompute: true}`.
    public let storedActivationBytes: Int
    public let recomputedActivationBytes: Int
    /// The spec's choice of the two.
    public let activationBytes: Int
    /// Adapter parameters, gradients, masks and the optimizer's moments.
    public let adapterStateBytes: Int

    public init(spec: JobSpec, resolved: JobSpec.Resolved) {
        let tokens = spec.batch.micro * spec.batch.maxLength
        let base = MemoryPlan(file: resolved.model, maxTokens: tokens, maxSequenceLength: spec.batch.maxLength)
        // The teacher runs forward only: one layer's activations, no gradients.
        let teacher = resolved.teacher.map { MemoryPlan(file: $0.model, maxTokens: tokens, maxSequenceLength: spec.batch.maxLength) }
        weightBytes = base.weightBytes + (teacher?.weightBytes ?? 0)
        let extra = base.dequantizationBytes + (teacher.map { $0.recomputedActivationBytes + $0.dequantizationBytes } ?? 0)
        storedActivationBytes = base.storedActivationBytes + extra
        recomputedActivationBytes = base.recomputedActivationBytes + extra
        activationBytes = spec.recompute ? recomputedActivationBytes : storedActivationBytes
        let adapters = resolved.layout.parameterCount + (resolved.teacher?.layout.parameterCount ?? 0)
        adapterStateBytes = (3 + 2) * resolved.layout.parameterCount * MemoryLayout<Float>.size
            + (adapters - resolved.layout.parameterCount) * MemoryLayout<Float>.size
    }

    /// One rank's own memory (the weights counted where they live: on the node).
    public var perRankBytes: Int { activationBytes + adapterStateBytes }

    /// A node running `ranks` ranks: the weights once, the rest per rank.
    public func perNodeBytes(ranks: Int) -> Int { weightBytes + ranks * perRankBytes }
}
