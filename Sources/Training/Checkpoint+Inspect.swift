import HDF5

/// What `ttl-train inspect` shows of a checkpoint, read without the model or the job: its state,
/// and per adapter target the tensors' shapes and norms. Building it reads every dataset, so
/// every Fletcher32 checksum is verified on the way.
public struct CheckpointSummary: Sendable {
    public struct Tensor: Sendable {
        public var name: String
        public var shape: [Int]
        /// Frobenius norm of the stored values (masked-out entries are stored as zero).
        public var norm: Double
        /// Entries the sparsity mask keeps; nil for dense adapters.
        public var kept: Int?
    }

    public struct Target: Sendable {
        public var name: String
        public var rank: Int
        public var alpha: Double
        public var tensors: [Tensor]
    }

    public var state: TrainingState
    public var adapterKind: String
    public var adapterParameters: Int
    public var optimizerSteps: Int
    public var targets: [Target]
    /// Datasets read and verified.
    public var datasets: Int
}

extension Checkpoint {
    public static func summary(of path: String) throws -> CheckpointSummary {
        let file = try HDF5File.open(path)
        let state = try readState(file, path: path)
        let root = file.root.attributes
        let adapters = try file.root.openGroup("adapters")
        var datasets = 0
        var targets: [CheckpointSummary.Target] = []
        for name in try adapters.childNames() {
            let group = try adapters.openGroup(name)
            var tensors: [CheckpointSummary.Tensor] = []
            for tensor in try group.childNames() where !tensor.hasSuffix("_mask") {
                let dataset = try group.openDataset(tensor)
                let values = try dataset.read(as: Float.self)
                var kept: Int?
                if group.contains("\(tensor)_mask") {
                    kept = try group.read("\(tensor)_mask", as: UInt8.self).reduce(0) { $0 + Int($1) }
                    datasets += 1
                }
                let norm = values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                tensors.append(.init(name: tensor, shape: try dataset.shape(), norm: norm, kept: kept))
                datasets += 1
            }
            targets.append(.init(name: name, rank: Int(try group.attributes.value("rank", as: Int64.self)),
                                 alpha: try group.attributes.value("alpha", as: Double.self), tensors: tensors))
        }
        let parameters = Int(try root.value("adapter_parameters", as: Int64.self))
        for moment in ["first_moment", "second_moment"] {
            let count = try file.root.read("optimizer/\(moment)", as: Float.self).count
            guard count == parameters else {
                throw CheckpointError(path: path, problem: "optimizer/\(moment) has \(count) entries, the adapters \(parameters)")
            }
            datasets += 1
        }
        return CheckpointSummary(state: state, adapterKind: try root.string("adapter_kind"), adapterParameters: parameters,
                                 optimizerSteps: Int(try file.root.openGroup("optimizer").attributes.value("steps", as: Int64.self)),
                                 targets: targets, datasets: datasets)
    }
}
