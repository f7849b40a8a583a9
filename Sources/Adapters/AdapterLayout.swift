import Llama

/// One tensor of an adapter inside the flat parameter buffer.
public struct AdapterTensor: Sendable, Equatable {
    /// `A`, `B`, … as the method names it.
    public let name: String
    public let shape: [Int]
    public let offset: Int

    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<(offset + count) }
}

/// One adapted linear layer: where it sits, its shapes, and its tensors in the flat buffer.
public struct AdapterEntry: Sendable, Equatable {
    public let layer: Int
    public let site: LinearSite
    public let kind: AdapterSpec.Kind
    public let inFeatures: Int
    public let outFeatures: Int
    public let rank: Int
    public let alpha: Float
    public let tensors: [AdapterTensor]
    /// What fixes the tensors besides rank and features (`AdapterKind.shapeAttributes`, e.g.
    /// TT-LoRA's `in_factors`, `out_factors`, `tt_shape`); empty for most kinds.
    public let attributes: [String: [Int]]
    /// The CA-LoRA recovery module next to the adapter (its tensors `recovery_A1`, `recovery_A2`
    /// follow the adapter's), or nil.
    public let recovery: AdapterSpec.Recovery?

    /// The factor multiplying the adapter's product: α/r for LoRA, α for TT-LoRA.
    public var scale: Float { kind.method.scale(alpha: alpha, rank: rank) }

    /// The PEFT-style module name, e.g. `layers.7.self_attn.q_proj`.
    public var target: String { "layers.\(layer).\(site.modulePath)" }
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }

    public func tensor(_ name: String) -> AdapterTensor {
        tensors.first { $0.name == name }!
    }

    /// Whether `other` adapts the same target the same way, wherever its tensors sit in the buffer.
    func adapts(like other: AdapterEntry) -> Bool {
        target == other.target && kind == other.kind && rank == other.rank && alpha == other.alpha && attributes == other.attributes
            && recovery == other.recovery && tensors.map(\.name) == other.tensors.map(\.name) && tensors.map(\.shape) == other.tensors.map(\.shape)
    }
}

/// The layout table of all adapters of a model (llm.c style: one buffer, named offsets), so the
/// optimizer, the gradient all-reduce and the checkpoint each see one contiguous array.
public struct AdapterLayout: Sendable, Equatable {
    public let spec: AdapterSpec
    public let entries: [AdapterEntry]
    public let parameterCount: Int

    /// Lays out `spec` on a model of `config`, layer by layer, targets in the spec's order.
    public init(spec: AdapterSpec, config: LlamaConfig) throws {
        try spec.validate(for: config)
        self.spec = spec
        var entries: [AdapterEntry] = []
        var offset = 0
        for layer in spec.layers ?? Array(0..<config.layerCount) {
            for site in spec.targets {
                let (inFeatures, outFeatures) = config.linearShape(site)
                let attributes = spec.kind.method.shapeAttributes(inFeatures: inFeatures, outFeatures: outFeatures, spec: spec)
                var shapes = try spec.kind.method.tensorShapes(rank: spec.rank, inFeatures: inFeatures, outFeatures: outFeatures, attributes: attributes)
                let recovery = spec.recovery.flatMap { $0.covers(layer) ? $0 : nil }
                if let recovery { shapes += Self.recoveryShapes(recovery.rank, inFeatures: inFeatures, outFeatures: outFeatures) }
                let tensors = shapes.map { name, shape -> AdapterTensor in
                    defer { offset += shape.reduce(1, *) }
                    return AdapterTensor(name: name, shape: shape, offset: offset)
                }
                entries.append(AdapterEntry(layer: layer, site: site, kind: spec.kind, inFeatures: inFeatures,
                                            outFeatures: outFeatures, rank: spec.rank, alpha: spec.alpha, tensors: tensors,
                                            attributes: attributes, recovery: recovery))
            }
        }
        self.entries = entries
        parameterCount = offset
    }

    /// Whether `other` has the same adapters on the same targets (in any order).
    public func adapts(like other: AdapterLayout) -> Bool {
        let theirs = Dictionary(other.entries.map { ($0.target, $0) }, uniquingKeysWith: { first, _ in first })
        return entries.count == other.entries.count && entries.allSatisfy { entry in theirs[entry.target].map(entry.adapts(like:)) ?? false }
    }

    /// CA-LoRA's recovery tensors, which follow the adapter's.
    static func recoveryShapes(_ rank: Int, inFeatures: Int, outFeatures: Int) -> [(name: String, shape: [Int])] {
        [("recovery_A1", [rank, inFeatures]), ("recovery_A2", [outFeatures, rank])]
    }

    /// `target.tensor[index]` of flat parameter `offset`, for messages about one number.
    public func tensorName(at offset: Int) -> String {
        for entry in entries {
            for tensor in entry.tensors where tensor.range.contains(offset) {
                return "\(entry.target).\(tensor.name)[\(offset - tensor.offset)]"
            }
        }
        return "offset \(offset)"
    }

    /// Parameters still trained once sparse LoRA reaches its final sparsity (all of them for the
    /// dense kinds): what a step reduces.
    public var trainableCount: Int {
        let sparsity = spec.sparsity?.final ?? 0
        return entries.reduce(0) { total, entry in
            total + entry.tensors.reduce(0) { $0 + SparsitySchedule.kept(count: $1.count, sparsity: sparsity) }
        }
    }
}
