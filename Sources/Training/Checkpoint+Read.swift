import Adapters
import HDF5
import Llama

extension Checkpoint {
    /// Reads checkpoint `path` into `adapters` and `optimizer` after checking that it belongs to
    /// this model and adapter layout (targets, shapes, ranks, α), and returns its state. Nothing is
    /// changed unless all of it reads and verifies.
    /// `maxStep` is the job's `schedule.total_steps`: a checkpoint past it belongs to another run.
    public static func read(_ path: String, into adapters: AdapterSet, optimizer: AdamW, modelFingerprint: String,
                            maxStep: Int = JobSpec.Limits.steps) throws -> TrainingState {
        let file = try HDF5File.open(path)
        let state = try readState(file, path: path)
        guard state.step <= maxStep else {
            throw CheckpointError(path: path, problem: "is at step \(state.step), beyond this job's schedule.total_steps \(maxStep)")
        }
        guard state.modelFingerprint == modelFingerprint else {
            throw CheckpointError(path: path, problem: "was trained on another base model (\(state.modelFingerprint), this one is \(modelFingerprint))")
        }
        let job = adapters.layout.spec.kind.rawValue
        let kind = try file.root.attributes.string("adapter_kind")
        guard kind == job else { throw CheckpointError(path: path, problem: "holds \(kind) adapters, the job has \(job)") }
        let stored = Dictionary(uniqueKeysWithValues: try storedAdapters(in: file, kind: kind, path: path).map { ($0.target, $0) })
        let expected = Set(adapters.layout.entries.map(\.target))
        if let extra = stored.keys.filter({ !expected.contains($0) }).sorted().first {
            throw CheckpointError(path: path, problem: "has an adapter for \(extra), which the job does not adapt")
        }
        var parameters = [Float](repeating: 0, count: adapters.parameters.count)
        var masks = [Float](repeating: 1, count: adapters.masks.count)
        for entry in adapters.layout.entries {
            guard let adapter = stored[entry.target] else { throw CheckpointError(path: path, problem: "has no adapter for \(entry.target)") }
            guard adapter.rank == entry.rank, adapter.alpha == entry.alpha, adapter.attributes == entry.attributes else {
                throw CheckpointError(path: path, problem: "\(entry.target) has rank \(adapter.rank), alpha \(adapter.alpha)\(describe(adapter.attributes)); the job has rank \(entry.rank), alpha \(entry.alpha)\(describe(entry.attributes))")
            }
            let recovery = entry.recovery.map { AdapterSpec.Recovery(rank: $0.rank, alpha: $0.alpha, activation: $0.activation) }
            guard adapter.recovery == recovery else {
                throw CheckpointError(path: path, problem: "\(entry.target) has recovery module \(adapter.recovery?.description ?? "none"); the job has \(recovery?.description ?? "none")")
            }
            for tensor in entry.tensors {
                guard let read = adapter.tensor(tensor.name) else { throw CheckpointError(path: path, problem: "\(entry.target) has no \(tensor.name)") }
                guard read.shape == tensor.shape else {
                    throw CheckpointError(path: path, problem: "\(entry.target).\(tensor.name) has shape \(read.shape), the job expects \(tensor.shape)")
                }
                parameters.replaceSubrange(tensor.range, with: read.values)
                if entry.kind.method.isMasked {
                    guard let mask = read.mask else { throw CheckpointError(path: path, problem: "\(entry.target) has no \(tensor.name)_mask") }
                    masks.replaceSubrange(tensor.range, with: mask.map { Float($0) })
                }
            }
        }
        let parameterCount = try integer(file.root.attributes, "adapter_parameters", in: 0...Int(Int32.max), path: path, object: "")
        guard parameterCount == adapters.parameters.count else {
            throw CheckpointError(path: path, problem: "adapter_parameters is \(parameterCount), the job's adapters have \(adapters.parameters.count)")
        }
        let moments = try verifyOptimizer(file, parameters: parameters.count, step: state.step, path: path)
        adapters.parameters.copy(from: parameters)
        adapters.masks.copy(from: masks)
        optimizer.firstMoment.copy(from: moments.first)
        optimizer.secondMoment.copy(from: moments.second)
        optimizer.steps = moments.steps
        return state
    }

    private static func describe(_ attributes: [String: [Int]]) -> String {
        attributes.sorted { $0.key < $1.key }.map { ", \($0.key) \($0.value)" }.joined()
    }

    /// The adapters of checkpoint `path` for inference — layout rebuilt from the checkpoint's own
    /// adapter groups, no optimizer state read — checked to belong to the model of `config` and
    /// `modelFingerprint`; `maxRows` bounds one linear call's rows.
    public static func adapters(of path: String, config: LlamaConfig, modelFingerprint: String, maxRows: Int) throws -> AdapterSet {
        let summary = try summary(of: path)
        guard summary.state.modelFingerprint == modelFingerprint else {
            throw CheckpointError(path: path, problem: "was trained on another base model (\(summary.state.modelFingerprint), this one is \(modelFingerprint))")
        }
        return AdapterSet(layout: try layout(of: summary.adapters, config: config, path: path), stored: summary.adapters, maxRows: maxRows)
    }

    /// The layout of checkpoint `path`'s `stored` adapters on a model of `config`; a mismatch is a
    /// `CheckpointError` naming the file.
    public static func layout(of stored: [StoredAdapter], config: LlamaConfig, path: String) throws -> AdapterLayout {
        do {
            return try AdapterLayout(stored: stored, config: config)
        } catch let error as AdapterKindError {
            throw CheckpointError(path: path, problem: error.problem)
        }
    }

    /// The state recorded in checkpoint `path` (root attributes only; no tensor is read).
    public static func state(of path: String) throws -> TrainingState {
        try readState(try HDF5File.open(path), path: path)
    }

    /// The root attributes of an open checkpoint, after checking its format and version.
    static func readState(_ file: HDF5File, path: String) throws -> TrainingState {
        let root = file.root.attributes
        do {
            _ = try fileFormat.check(root)
        } catch FileFormat.Mismatch.otherFormat(let found) {
            throw CheckpointError(path: path, problem: "not a ttl-train checkpoint (format '\(found)')")
        } catch FileFormat.Mismatch.unreadableVersion(let found) {
            throw CheckpointError(path: path, problem: "checkpoint format version \(found) is not supported (this ttl-train reads \(fileFormat.readableVersions))")
        }
        let count = { (name: String, range: ClosedRange<Int>) in try integer(root, name, in: range, path: path, object: "") }
        let positions = 0...(JobSpec.Limits.steps * JobSpec.Limits.examples)
        return TrainingState(
            step: try count("step", 0...JobSpec.Limits.steps), epoch: try count("epoch", positions),
            dataCursor: try count("data_cursor", positions), tokensSeen: try count("tokens_seen", 0...Int.max),
            worldSize: try count("world_size", 1...maxWorldSize),
            seed: UInt64(bitPattern: try root.value("seed", as: Int64.self)),
            modelFingerprint: try root.string("model_fingerprint"), jobSpec: try root.string("job_spec"))
    }

    /// `--resume auto`: the newest checkpoint in `directory` that opens, verifies and fits the job,
    /// read into `adapters` and `optimizer`; `skipped` says which newer ones were passed over and why.
    public static func resumeNewest(
        in directory: String, adapters: AdapterSet, optimizer: AdamW, modelFingerprint: String, maxStep: Int = JobSpec.Limits.steps
    ) -> (path: String, state: TrainingState, skipped: [String])? {
        var skipped: [String] = []
        for path in list(directory) {
            do {
                let state = try read(path, into: adapters, optimizer: optimizer, modelFingerprint: modelFingerprint, maxStep: maxStep)
                return (path, state, skipped)
            } catch {
                skipped.append("\(error)")
            }
        }
        return nil
    }
}
