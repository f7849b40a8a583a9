import HDF5

/// One adapted layer as a checkpoint stores it, read without the model or the job.
public struct StoredAdapter: Sendable {
    public struct Tensor: Sendable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
        /// Sparse LoRA's mask (1 = trained); nil for dense adapters.
        public var mask: [UInt8]?
    }

    /// PEFT-style name, `layers.3.self_attn.q_proj`.
    public var target: String
    public var kind: String
    public var layer: Int
    /// `self_attn.q_proj`.
    public var module: String
    public var inFeatures: Int
    public var outFeatures: Int
    public var rank: Int
    public var alpha: Double
    /// TT-LoRA's factorisation of `inFeatures` and `outFeatures`; empty for LoRA.
    public var inFactors: [Int]
    public var outFactors: [Int]
    /// CA-LoRA's recovery module, e.g. `gelu rank 8 alpha 8.0`; nil without one.
    public var recovery: String?
    public var tensors: [Tensor]

    public func tensor(_ name: String) -> Tensor? {
        tensors.first { $0.name == name }
    }
}

/// What `ttl-train inspect` shows of a checkpoint: its state, its adapters, and the optimizer.
/// Building it reads every dataset, so every Fletcher32 checksum is verified on the way.
public struct CheckpointSummary: Sendable {
    public var state: TrainingState
    public var adapterKind: String
    public var adapterParameters: Int
    public var optimizerSteps: Int
    public var adapters: [StoredAdapter]
    /// Datasets read and verified.
    public var datasets: Int
}

extension Checkpoint {
    public static func summary(of path: String) throws -> CheckpointSummary {
        let file = try HDF5File.open(path)
        let state = try readState(file, path: path)
        let root = file.root.attributes
        let adapters = try storedAdapters(in: file)
        let parameters = Int(try root.value("adapter_parameters", as: Int64.self))
        for moment in ["first_moment", "second_moment"] {
            let count = try file.root.read("optimizer/\(moment)", as: Float.self).count
            guard count == parameters else {
                throw CheckpointError(path: path, problem: "optimizer/\(moment) has \(count) entries, the adapters \(parameters)")
            }
        }
        let datasets = adapters.reduce(2) { total, adapter in total + adapter.tensors.reduce(0) { $0 + ($1.mask == nil ? 1 : 2) } }
        return CheckpointSummary(state: state, adapterKind: try root.string("adapter_kind"), adapterParameters: parameters,
                                 optimizerSteps: Int(try file.root.openGroup("optimizer").attributes.value("steps", as: Int64.self)),
                                 adapters: adapters, datasets: datasets)
    }

    /// Every adapter of checkpoint `file`, in name order.
    static func storedAdapters(in file: HDF5File) throws -> [StoredAdapter] {
        let group = try file.root.openGroup("adapters")
        return try group.childNames().map { target in
            let entry = try group.openGroup(target)
            let attributes = entry.attributes
            let integer = { (name: String) in Int(try attributes.value(name, as: Int64.self)) }
            let factors = { (name: String) in attributes.contains(name) ? try attributes.array(name, as: Int64.self).map(Int.init) : [] }
            let tensors = try entry.childNames().filter { !$0.hasSuffix("_mask") }.map { name in
                let dataset = try entry.openDataset(name)
                return StoredAdapter.Tensor(name: name, shape: try dataset.shape(), values: try dataset.read(as: Float.self),
                                            mask: entry.contains("\(name)_mask") ? try entry.read("\(name)_mask", as: UInt8.self) : nil)
            }
            return StoredAdapter(target: target, kind: try attributes.string("kind"), layer: try integer("layer"),
                                 module: try attributes.string("module"), inFeatures: try integer("in_features"),
                                 outFeatures: try integer("out_features"), rank: try integer("rank"),
                                 alpha: try attributes.value("alpha", as: Double.self), inFactors: try factors("in_factors"),
                                 outFactors: try factors("out_factors"),
                                 recovery: attributes.contains("recovery_rank")
                                     ? "\(try attributes.string("recovery_activation")) rank \(try integer("recovery_rank")) alpha \(try attributes.value("recovery_alpha", as: Double.self))"
                                     : nil,
                                 tensors: tensors)
        }
    }
}
