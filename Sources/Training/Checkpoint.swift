import Adapters
import Foundation
import HDF5

/// What a checkpoint records besides the tensors: everything needed to continue the run exactly
/// (the data order and dropout masks are functions of the seed and the step, so the step is the
/// data cursor and no RNG state is needed).
public struct TrainingState: Equatable, Sendable {
    /// Optimizer steps completed.
    public var step: Int
    public var epoch: Int
    /// Examples consumed: step × global batch.
    public var dataCursor: Int
    /// Supervised tokens seen so far.
    public var tokensSeen: Int
    /// World size of the run that wrote it (a resume may use another).
    public var worldSize: Int
    public var seed: UInt64
    public var modelFingerprint: String
    /// The job spec text the run used.
    public var jobSpec: String

    public init(step: Int, epoch: Int, dataCursor: Int, tokensSeen: Int, worldSize: Int, seed: UInt64,
                modelFingerprint: String, jobSpec: String) {
        self.step = step
        self.epoch = epoch
        self.dataCursor = dataCursor
        self.tokensSeen = tokensSeen
        self.worldSize = worldSize
        self.seed = seed
        self.modelFingerprint = modelFingerprint
        self.jobSpec = jobSpec
    }
}

/// Checkpoints `DIR/step-000200.h5`: self-describing adapters under `/adapters/<target>/<tensor>`
/// (plus `<tensor>_mask` for a masked kind; each group's attributes say everything its layout is
/// rebuilt from: kind, layer, module, features, rank, α, the kind's shape attributes, the
/// recovery module), AdamW's moments under `/optimizer`, the state as root
/// attributes. Built in memory and put on disk with `DurableFile` (exclusive temporary file, every
/// write checked, fsync, rename), so a crash or a full disk never leaves a half checkpoint under a
/// real name; Fletcher32 on every dataset, so a corrupt one is detected.
public enum Checkpoint {
    public static let fileFormat = FileFormat(name: "ttl-train-checkpoint", version: 1)

    /// The file name of the checkpoint after `step` steps.
    public static func fileName(step: Int) -> String {
        String(format: "step-%06d.h5", step)
    }

    /// Writes the checkpoint of `state` into `directory` and deletes all but the newest `keep`.
    /// Returns its path.
    @discardableResult
    public static func write(
        to directory: String, state: TrainingState, adapters: AdapterSet, optimizer: AdamW, keep: Int
    ) throws -> String {
        try requireFinite(adapters: adapters, optimizer: optimizer, step: state.step)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        DurableFile.removeLeftovers(in: directory)
        let path = (directory as NSString).appendingPathComponent(fileName(step: state.step))
        do {
            let file = try HDF5File.createInMemory(name: path)
            let root = file.root.attributes
            try fileFormat.stamp(root)
            try root.set("step", Int64(state.step))
            try root.set("epoch", Int64(state.epoch))
            try root.set("data_cursor", Int64(state.dataCursor))
            try root.set("tokens_seen", Int64(state.tokensSeen))
            try Writer.record(on: root, worldSize: state.worldSize)
            try root.set("seed", Int64(bitPattern: state.seed))
            try root.set("model_fingerprint", state.modelFingerprint)
            try root.set("job_spec", state.jobSpec)
            try root.set("adapter_kind", adapters.layout.spec.kind.rawValue)
            try root.set("adapter_parameters", Int64(adapters.layout.parameterCount))
            for entry in adapters.layout.entries {
                let group = try file.root.createGroup("adapters/\(entry.target)")
                let attributes = group.attributes
                try attributes.set("kind", entry.kind.rawValue)
                try attributes.set("layer", Int64(entry.layer))
                try attributes.set("module", entry.site.modulePath)
                try attributes.set("in_features", Int64(entry.inFeatures))
                try attributes.set("out_features", Int64(entry.outFeatures))
                try attributes.set("rank", Int64(entry.rank))
                try attributes.set("alpha", Double(entry.alpha))
                if let recovery = entry.recovery {
                    try attributes.set("recovery_rank", Int64(recovery.rank))
                    try attributes.set("recovery_alpha", Double(recovery.alpha))
                    try attributes.set("recovery_activation", recovery.activation.rawValue)
                }
                for (name, values) in entry.attributes.sorted(by: { $0.key < $1.key }) {
                    try attributes.set(name, values.map(Int64.init))
                }
                for tensor in entry.tensors {
                    try group.write(tensor.name, adapters.parameters.array(tensor.range), shape: tensor.shape, options: .checksummed)
                    if entry.kind.method.isMasked {
                        let mask = adapters.masks.array(tensor.range).map { UInt8($0 != 0 ? 1 : 0) }
                        try group.write("\(tensor.name)_mask", mask, shape: tensor.shape, options: .checksummed)
                    }
                }
            }
            let moments = try file.root.createGroup("optimizer")
            try moments.attributes.set("steps", Int64(optimizer.steps))
            try moments.write("first_moment", optimizer.firstMoment.array(), options: .checksummed)
            try moments.write("second_moment", optimizer.secondMoment.array(), options: .checksummed)
            try file.writeDurably(to: path)
        }
        try prune(directory, keep: keep)
        return path
    }

    /// A checkpoint holds only finite numbers and non-negative second moments: one that does not
    /// could never be resumed from, and must not become "the last good checkpoint".
    private static func requireFinite(adapters: AdapterSet, optimizer: AdamW, step: Int) throws {
        for (name, buffer) in [("adapter parameters", adapters.parameters), ("AdamW first moment", optimizer.firstMoment),
                               ("AdamW second moment", optimizer.secondMoment)] {
            if let index = buffer.firstNonFinite() {
                throw CheckpointError(path: fileName(step: step),
                                      problem: "not written: \(name) entry \(index) (\(adapters.layout.tensorName(at: index))) is \(buffer.pointer[index])")
            }
        }
    }

    /// Checkpoints in `directory`, newest step first.
    public static func list(_ directory: String) -> [String] {
        named(in: directory).filter { !isDirectory($0) }
    }

    /// Directories named like checkpoints: each would block the checkpoint of its step.
    public static func obstacles(in directory: String) -> [String] {
        named(in: directory).filter(isDirectory)
    }

    private static func named(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("step-") && $0.hasSuffix(".h5") }.sorted(by: >)
            .map { (directory as NSString).appendingPathComponent($0) }
    }

    private static func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }

    private static func prune(_ directory: String, keep: Int) throws {
        for old in list(directory).dropFirst(max(keep, 1)) { try FileManager.default.removeItem(atPath: old) }
    }
}

/// A checkpoint that cannot be written or used.
public struct CheckpointError: Error, Equatable, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String

    public var description: String { "\(path): \(problem)" }
}
