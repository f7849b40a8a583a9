import Adapters
import HDF5
import Llama

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
    static func storedAdapters(in file: HDF5File, kind name: String, path: String) throws -> [StoredAdapter] {
        guard let kind = AdapterSpec.Kind(rawValue: name) else {
            throw CheckpointError(path: path, problem: "holds \(name) adapters, a kind this ttl-train does not know (it knows \(AdapterKinds.names()))")
        }
        let group = try file.root.openGroup("adapters")
        return try group.childNames().map { target in
            let entry = try group.openGroup(target)
            let attributes = entry.attributes
            let object = "adapters/\(target)/"
            func fail(_ problem: String) -> CheckpointError { CheckpointError(path: path, problem: "\(object)\(problem)") }
            let integer = { (name: String, range: ClosedRange<Int>) in try Self.integer(attributes, name, in: range, path: path, object: object) }
            let stored = try attributes.string("kind")
            guard stored == name else { throw fail("kind is '\(stored)', not the checkpoint's adapter_kind '\(name)'") }
            let common = ["kind", "layer", "module", "in_features", "out_features", "rank", "alpha", "recovery_rank", "recovery_alpha",
                          "recovery_activation"]
            if let unknown = try attributes.names().first(where: { !common.contains($0) && !kind.method.shapeAttributeNames.contains($0) }) {
                throw fail("\(unknown) is not an attribute of a \(kind) adapter")
            }
            var shapeAttributes: [String: [Int]] = [:]
            for attribute in kind.method.shapeAttributeNames {
                let values = try attributes.array(attribute, as: Int64.self)
                guard values.count <= maxShapeAttributeCount, values.allSatisfy({ (1...Int64(maxFeatures)).contains($0) }) else {
                    throw fail("\(attribute) is \(values), not up to \(maxShapeAttributeCount) values in 1...\(maxFeatures)")
                }
                shapeAttributes[attribute] = values.map(Int.init)
            }
            let module = try attributes.string("module")
            guard let site = LinearSite.allCases.first(where: { $0.modulePath == module }) else { throw fail("module '\(module)' is not a linear layer") }
            let layer = try integer("layer", 0...JobSpec.Limits.layers)
            guard target == "layers.\(layer).\(module)" else { throw fail("is named for another layer than layer \(layer), \(module)") }
            let tensors = try entry.childNames().filter { !$0.hasSuffix("_mask") }.map { name in
                let dataset = try entry.openDataset(name)
                return StoredAdapter.Tensor(name: name, shape: try dataset.shape(), values: try dataset.read(as: Float.self),
                                            mask: entry.contains("\(name)_mask") ? try entry.read("\(name)_mask", as: UInt8.self) : nil)
            }
            let adapter = StoredAdapter(
                target: target, kind: kind, layer: layer, site: site,
                inFeatures: try integer("in_features", 1...maxFeatures), outFeatures: try integer("out_features", 1...maxFeatures),
                rank: try integer("rank", 1...AdapterSpec.maxRank), alpha: try real(attributes, "alpha", fail: fail),
                attributes: shapeAttributes, recovery: try recovery(attributes, integer: integer, fail: fail), tensors: tensors)
            try verify(adapter, path: path)
            return adapter
        }
    }

    /// CA-LoRA's recovery module recorded beside an adapter, or nil.
    private static func recovery(
        _ attributes: HDF5Attributes, integer: (String, ClosedRange<Int>) throws -> Int, fail: (String) -> CheckpointError
    ) throws -> AdapterSpec.Recovery? {
        guard attributes.contains("recovery_rank") else { return nil }
        let activation = try attributes.string("recovery_activation")
        guard let parsed = AdapterSpec.Recovery.Activation(rawValue: activation) else {
            throw fail("recovery_activation '\(activation)' is not one of \(AdapterSpec.Recovery.Activation.allCases.map(\.rawValue))")
        }
        return AdapterSpec.Recovery(rank: try integer("recovery_rank", 1...AdapterSpec.maxRank),
                                    alpha: try real(attributes, "recovery_alpha", fail: fail), activation: parsed)
    }

    /// A positive finite α, exactly a float32 (as written).
    private static func real(_ attributes: HDF5Attributes, _ name: String, fail: (String) -> CheckpointError) throws -> Float {
        let value = try attributes.value(name, as: Double.self)
        guard value.isFinite, value > 0, Double(Float(value)) == value else { throw fail("\(name) is \(value), not a positive float32 number") }
        return Float(value)
    }
}
