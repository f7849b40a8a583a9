import Adapters
import Foundation
import HDF5
#if canImport(Glibc)
import Glibc
#endif

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
/// (plus `<tensor>_mask` for sparse LoRA), AdamW's moments under `/optimizer`, the state as root
/// attributes. Written to a temporary file, fsynced and renamed, so a crash never leaves a half
/// checkpoint under a real name; Fletcher32 on every dataset, so a corrupt one is detected.
public enum Checkpoint {
    public static let formatName = "ttl-train-checkpoint"
    public static let formatVersion: Int64 = 1

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
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent(fileName(step: state.step))
        let temporary = path + ".tmp"
        do {
            let file = try HDF5File.create(temporary)
            let root = file.root.attributes
            try root.set("format", formatName)
            try root.set("format_version", formatVersion)
            try root.set("step", Int64(state.step))
            try root.set("epoch", Int64(state.epoch))
            try root.set("data_cursor", Int64(state.dataCursor))
            try root.set("tokens_seen", Int64(state.tokensSeen))
            try root.set("world_size", Int64(state.worldSize))
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
                if let train = entry.tensorTrain {
                    try attributes.set("in_factors", train.inFactors.map(Int64.init))
                    try attributes.set("out_factors", train.outFactors.map(Int64.init))
                    try attributes.set("tt_shape", train.modes.map(Int64.init))
                }
                for tensor in entry.tensors {
                    try group.write(tensor.name, adapters.parameters.array(tensor.range), shape: tensor.shape, options: .checksummed)
                    if entry.kind == .sparseLora {
                        let mask = adapters.masks.array(tensor.range).map { UInt8($0 != 0 ? 1 : 0) }
                        try group.write("\(tensor.name)_mask", mask, shape: tensor.shape, options: .checksummed)
                    }
                }
            }
            let moments = try file.root.createGroup("optimizer")
            try moments.attributes.set("steps", Int64(optimizer.steps))
            try moments.write("first_moment", optimizer.firstMoment.array(), options: .checksummed)
            try moments.write("second_moment", optimizer.secondMoment.array(), options: .checksummed)
            try file.close()
        }
        try synchronize(temporary)
        if rename(temporary, path) != 0 {
            throw CheckpointError(path: path, problem: "cannot rename \(temporary): \(String(cString: strerror(errno)))")
        }
        try synchronize(directory)
        try prune(directory, keep: keep)
        return path
    }

    /// Checkpoints in `directory`, newest step first.
    public static func list(_ directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("step-") && $0.hasSuffix(".h5") }.sorted(by: >)
            .map { (directory as NSString).appendingPathComponent($0) }
    }

    private static func prune(_ directory: String, keep: Int) throws {
        for old in list(directory).dropFirst(max(keep, 1)) { try FileManager.default.removeItem(atPath: old) }
    }

    /// fsync of a file or directory, so a rename after it is durable.
    private static func synchronize(_ path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw CheckpointError(path: path, problem: "cannot open to sync: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw CheckpointError(path: path, problem: "fsync failed: \(String(cString: strerror(errno)))") }
    }
}

/// A checkpoint that cannot be written or used.
public struct CheckpointError: Error, Equatable, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String

    public var description: String { "\(path): \(problem)" }
}
