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
    /// TT-LoRA's tensor-train shape (nil for other kinds).
    public let tensorTrain: TensorTrainShape?
    /// The CA-LoRA recovery module next to the adapter (its tensors `recovery_A1`, `recovery_A2`
    /// follow the adapter's), or nil.
    public let recovery: AdapterSpec.Recovery?

    /// The factor multiplying the adapter's product: α/r for LoRA, α for TT-LoRA.
    public var scale: Float {
        switch kind {
        case .lora, .sparseLora: return alpha / Float(rank)
        case .ttLora: return alpha
        }
    }

    /// The PEFT-style module name, e.g. `layers.7.self_attn.q_proj`.
    public var target: String { "layers.\(layer).\(site.modulePath)" }
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }

    public func tensor(_ name: String) -> AdapterTensor {
        tensors.first { $0.name == name }!
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
                var shapes: [(String, [Int])]
                var tensorTrain: TensorTrainShape?
                switch spec.kind {
                case .lora, .sparseLora:
                    shapes = [("A", [spec.rank, inFeatures]), ("B", [outFeatures, spec.rank])]
                case .ttLora:
                    let train = TensorTrainShape(inFactors: spec.factors(of: inFeatures), outFactors: spec.factors(of: outFeatures), rank: spec.rank)
                    shapes = (0..<train.modes.count).map { ("core_\($0)", train.coreShape($0)) }
                    tensorTrain = train
                }
                let recovery = spec.recovery.flatMap { $0.covers(layer) ? $0 : nil }
                if let recovery {
                    shapes.append(contentsOf: [("recovery_A1", [recovery.rank, inFeatures]), ("recovery_A2", [outFeatures, recovery.rank])])
                }
                let tensors = shapes.map { name, shape -> AdapterTensor in
                    defer { offset += shape.reduce(1, *) }
                    return AdapterTensor(name: name, shape: shape, offset: offset)
                }
                entries.append(AdapterEntry(layer: layer, site: site, kind: spec.kind, inFeatures: inFeatures,
                                            outFeatures: outFeatures, rank: spec.rank, alpha: spec.alpha, tensors: tensors,
                                            tensorTrain: tensorTrain, recovery: recovery))
            }
        }
        self.entries = entries
        parameterCount = offset
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
