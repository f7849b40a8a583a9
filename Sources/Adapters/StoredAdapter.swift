import Llama

/// One adapted layer as a checkpoint stores it, read without the model or the job: what
/// `inspect` prints, what export converts, and what a layout is rebuilt from.
public struct StoredAdapter: Sendable {
    public struct Tensor: Sendable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
        /// The 0/1 mask of a masked kind (1 = trained); nil for the others.
        public var mask: [UInt8]?

        public init(name: String, shape: [Int], values: [Float], mask: [UInt8]?) {
            self.name = name
            self.shape = shape
            self.values = values
            self.mask = mask
        }
    }

    /// PEFT-style name, `layers.3.self_attn.q_proj`.
    public var target: String
    public var kind: AdapterSpec.Kind
    public var layer: Int
    public var site: LinearSite
    public var inFeatures: Int
    public var outFeatures: Int
    public var rank: Int
    public var alpha: Float
    /// The kind's shape attributes (`AdapterKind.shapeAttributeNames`).
    public var attributes: [String: [Int]]
    /// CA-LoRA's recovery module beside the adapter (`layers` nil), or nil.
    public var recovery: AdapterSpec.Recovery?
    public var tensors: [Tensor]

    public init(target: String, kind: AdapterSpec.Kind, layer: Int, site: LinearSite, inFeatures: Int, outFeatures: Int, rank: Int,
                alpha: Float, attributes: [String: [Int]], recovery: AdapterSpec.Recovery?, tensors: [Tensor]) {
        self.target = target
        self.kind = kind
        self.layer = layer
        self.site = site
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.rank = rank
        self.alpha = alpha
        self.attributes = attributes
        self.recovery = recovery
        self.tensors = tensors
    }

    public func tensor(_ name: String) -> Tensor? {
        tensors.first { $0.name == name }
    }

    /// The tensors this adapter must hold by its kind, rank, features, attributes and recovery
    /// module; throws when the attributes do not fit together.
    public func expectedShapes() throws -> [(name: String, shape: [Int])] {
        var shapes = try kind.method.tensorShapes(rank: rank, inFeatures: inFeatures, outFeatures: outFeatures, attributes: attributes)
        if let recovery { shapes += AdapterLayout.recoveryShapes(recovery.rank, inFeatures: inFeatures, outFeatures: outFeatures) }
        return shapes
    }
}

extension AdapterLayout {
    /// The layout of a checkpoint's adapters on a model of `config`, rebuilt from what each
    /// adapter group records (kind, rank, α, features, shape attributes, recovery module) — never
    /// from the job spec text, so a checkpoint loads whatever the job-spec schema has become.
    /// Settings that only matter while training (dropout, sparsity schedule, initialisation) are
    /// left at their defaults.
    public init(stored: [StoredAdapter], config: LlamaConfig) throws {
        guard let first = stored.first else { throw AdapterKindError("holds no adapters") }
        let sites = LinearSite.allCases.filter { site in stored.contains { $0.site == site } }
        let layers = Set(stored.map(\.layer)).sorted()
        var spec = AdapterSpec(kind: first.kind, rank: first.rank, alpha: first.alpha, targets: sites,
                               layers: layers == Array(0..<config.layerCount) ? nil : layers)
        // A masked kind's masks come with its tensors; the schedule that made them only matters
        // while training, so this one never prunes anything.
        if first.kind.method.isMasked { spec.sparsity = SparsitySchedule(final: 0, startStep: 0, endStep: 1, every: 1) }
        for adapter in stored {
            guard adapter.kind == first.kind, adapter.rank == first.rank, adapter.alpha == first.alpha else {
                throw AdapterKindError("\(adapter.target) is \(adapter.kind) rank \(adapter.rank) alpha \(adapter.alpha), \(first.target) is \(first.kind) rank \(first.rank) alpha \(first.alpha): one layout has one kind, rank and alpha")
            }
            adapter.kind.method.restore(adapter.attributes, inFeatures: adapter.inFeatures, outFeatures: adapter.outFeatures, into: &spec)
        }
        let recovered = stored.filter { $0.recovery != nil }
        if let module = recovered.first?.recovery {
            guard recovered.allSatisfy({ $0.recovery == module }) else { throw AdapterKindError("recovery modules differ between layers") }
            let covered = Set(recovered.map(\.layer)).sorted()
            guard recovered.count == covered.count * sites.count else { throw AdapterKindError("recovery modules do not cover whole layers") }
            spec.recovery = AdapterSpec.Recovery(rank: module.rank, alpha: module.alpha, activation: module.activation,
                                                 layers: covered == layers ? nil : covered)
        }
        do {
            try self.init(spec: spec, config: config)
        } catch let error as AdapterSpecError {
            throw AdapterKindError("the adapters' settings do not fit this model: \(error)")
        }
        let byTarget = Dictionary(stored.map { ($0.target, $0) }, uniquingKeysWith: { first, _ in first })
        guard byTarget.count == stored.count, entries.count == stored.count else {
            throw AdapterKindError("the adapters do not adapt the same targets in every adapted layer")
        }
        for entry in entries {
            guard let adapter = byTarget[entry.target] else { throw AdapterKindError("has no adapter for \(entry.target)") }
            guard adapter.inFeatures == entry.inFeatures, adapter.outFeatures == entry.outFeatures else {
                throw AdapterKindError("\(entry.target) maps \(adapter.inFeatures) → \(adapter.outFeatures) features, the model's layer \(entry.inFeatures) → \(entry.outFeatures)")
            }
            for tensor in entry.tensors where adapter.tensor(tensor.name)?.shape != tensor.shape {
                throw AdapterKindError("\(entry.target).\(tensor.name) does not have shape \(tensor.shape)")
            }
        }
    }
}

extension AdapterSet {
    /// The adapters `stored` (a checkpoint's), laid out by `layout` — `AdapterLayout(stored:config:)`
    /// of the same adapters — values and masks copied in.
    public convenience init(layout: AdapterLayout, stored: [StoredAdapter], maxRows: Int) {
        self.init(layout: layout, maxRows: maxRows)
        let byTarget = Dictionary(stored.map { ($0.target, $0) }, uniquingKeysWith: { first, _ in first })
        for entry in layout.entries {
            for tensor in entry.tensors {
                let read = byTarget[entry.target]!.tensor(tensor.name)!
                parameters.copy(from: read.values, at: tensor.offset)
                if let mask = read.mask { masks.copy(from: mask.map { Float($0) }, at: tensor.offset) }
            }
        }
    }
}
