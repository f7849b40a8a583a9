import Adapters
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
    public var recoveryRank: Int?
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
        let kind = try root.string("adapter_kind")
        let adapters = try storedAdapters(in: file, kind: kind, path: path)
        let parameters = try integer(root, "adapter_parameters", in: 0...Int(Int32.max), path: path, object: "")
        let stored = adapters.reduce(0) { total, adapter in total + adapter.tensors.reduce(0) { $0 + $1.values.count } }
        guard stored == parameters else {
            throw CheckpointError(path: path, problem: "adapter_parameters is \(parameters) but the adapters hold \(stored)")
        }
        let optimizer = try verifyOptimizer(file, parameters: parameters, step: state.step, path: path)
        let datasets = adapters.reduce(2) { total, adapter in total + adapter.tensors.reduce(0) { $0 + ($1.mask == nil ? 1 : 2) } }
        return CheckpointSummary(state: state, adapterKind: kind, adapterParameters: parameters, optimizerSteps: optimizer.steps,
                                 adapters: adapters, datasets: datasets)
    }

    /// Every adapter of checkpoint `file`, in name order, each verified against its attributes.
    static func storedAdapters(in file: HDF5File, kind: String, path: String) throws -> [StoredAdapter] {
        let group = try file.root.openGroup("adapters")
        return try group.childNames().map { target in
            let entry = try group.openGroup(target)
            let attributes = entry.attributes
            let object = "adapters/\(target)/"
            let integer = { (name: String, range: ClosedRange<Int>) in try Self.integer(attributes, name, in: range, path: path, object: object) }
            let factors = { (name: String) -> [Int] in
                guard attributes.contains(name) else { return [] }
                let values = try attributes.array(name, as: Int64.self)
                guard values.count <= maxTensorTrainModes, values.allSatisfy({ (1...Int64(maxFeatures)).contains($0) }) else {
                    throw CheckpointError(path: path, problem: "\(object)\(name) is \(values), not up to \(maxTensorTrainModes) factors in 1...\(maxFeatures)")
                }
                return values.map(Int.init)
            }
            let tensors = try entry.childNames().filter { !$0.hasSuffix("_mask") }.map { name in
                let dataset = try entry.openDataset(name)
                return StoredAdapter.Tensor(name: name, shape: try dataset.shape(), values: try dataset.read(as: Float.self),
                                            mask: entry.contains("\(name)_mask") ? try entry.read("\(name)_mask", as: UInt8.self) : nil)
            }
            let recoveryRank = attributes.contains("recovery_rank") ? try integer("recovery_rank", 1...AdapterSpec.maxRank) : nil
            let adapter = StoredAdapter(
                target: target, kind: try attributes.string("kind"), layer: try integer("layer", 0...JobSpec.Limits.layers),
                module: try attributes.string("module"), inFeatures: try integer("in_features", 1...maxFeatures),
                outFeatures: try integer("out_features", 1...maxFeatures), rank: try integer("rank", 1...AdapterSpec.maxRank),
                alpha: try attributes.value("alpha", as: Double.self), inFactors: try factors("in_factors"),
                outFactors: try factors("out_factors"),
                recovery: try recoveryRank.map {
                    "\(try attributes.string("recovery_activation")) rank \($0) alpha \(try attributes.value("recovery_alpha", as: Double.self))"
                },
                recoveryRank: recoveryRank, tensors: tensors)
            try verify(adapter, kind: kind, path: path)
            return adapter
        }
    }
}
