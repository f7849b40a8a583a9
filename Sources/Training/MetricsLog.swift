import Foundation
import HDF5

/// `runs/NAME/metrics.h5`: appendable columns `/train/{step, loss, lr, grad_norm, tokens_per_s,
/// seconds}` and `/eval/{step, loss, accuracy}` (`step` int64, the rest float64), flushed after every row and readable while the
/// run writes (HDF5 SWMR: `h5py.File(path, "r", swmr=True)`, or pandas over h5py).
///
/// Opening for a resumed run drops the rows past the checkpoint's step, so no step appears twice;
/// a file left behind by a killed writer is repaired first (`h5clear -s --increment=0`).
public final class MetricsLog {
    public static let formatName = "ttl-train-metrics"
    public static let formatVersion: Int64 = 1
    public static let trainColumns = ["step", "loss", "lr", "grad_norm", "tokens_per_s", "seconds"]
    public static let evalColumns = ["step", "loss", "accuracy"]

    public let path: String
    private let file: HDF5File
    private let train: [HDF5Dataset]
    private let eval: [HDF5Dataset]

    /// What the root attributes say about the run, so a reader can compare runs from their
    /// metrics files alone.
    public struct RunDescription: Sendable {
        public var job: String
        public var adapterKind: String
        public var trainableParameters: Int
        public var reducedBytesPerStep: Int

        public init(job: String, adapterKind: String, trainableParameters: Int, reducedBytesPerStep: Int) {
            self.job = job
            self.adapterKind = adapterKind
            self.trainableParameters = trainableParameters
            self.reducedBytesPerStep = reducedBytesPerStep
        }
    }

    /// Creates the log, or continues an existing one from `resumeStep` (rows with a larger step
    /// are dropped); nil `resumeStep` starts afresh. `run` becomes root attributes (`job`,
    /// `adapter_kind`, `trainable_parameters`, `reduced_bytes_per_step`).
    ///
    /// `specChanges` are settings this resume changed (allowed with `--allow-changes`), appended
    /// to the root attribute `spec_changes` as "step 120: schedule.total_steps 200 → 400" before
    /// SWMR writing starts (which allows no new attributes).
    public init(path: String, resumeStep: Int?, run: RunDescription? = nil, specChanges: [String] = []) throws {
        self.path = path
        try DurableFile.refuseSymbolicLink(path)
        let file: HDF5File
        if let resumeStep, FileManager.default.fileExists(atPath: path) {
            file = try Self.openForWriting(path)
            for (group, columns) in [("train", Self.trainColumns), ("eval", Self.evalColumns)] {
                let steps = try file.root.read("\(group)/step", as: Int64.self)
                let kept = steps.prefix { $0 <= Int64(resumeStep) }.count
                for column in columns { try file.root.openDataset("\(group)/\(column)").resize(rows: kept) }
            }
        } else {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            file = try HDF5File.create(path, swmrCapable: true)
            try file.root.attributes.set("format", Self.formatName)
            try file.root.attributes.set("format_version", Self.formatVersion)
            for (group, columns) in [("train", Self.trainColumns), ("eval", Self.evalColumns)] {
                _ = try file.root.createDataset("\(group)/step", of: Int64.self, shape: [0], options: .init(appendable: true))
                for column in columns.dropFirst() {
                    _ = try file.root.createDataset("\(group)/\(column)", of: Double.self, shape: [0], options: .init(appendable: true))
                }
            }
        }
        if let run {
            let attributes = file.root.attributes
            try attributes.set("job", run.job)
            try attributes.set("adapter_kind", run.adapterKind)
            try attributes.set("trainable_parameters", Int64(run.trainableParameters))
            try attributes.set("reduced_bytes_per_step", Int64(run.reducedBytesPerStep))
        }
        if !specChanges.isEmpty {
            let attributes = file.root.attributes
            let earlier = attributes.contains("spec_changes") ? try attributes.strings("spec_changes") : []
            try attributes.set("spec_changes", earlier + specChanges.map { "step \(resumeStep ?? 0): \($0)" })
        }
        train = try Self.trainColumns.map { try file.root.openDataset("train/\($0)") }
        eval = try Self.evalColumns.map { try file.root.openDataset("eval/\($0)") }
        try file.startSWMRWrite()
        self.file = file
    }

    /// Appends one training step (values in `trainColumns` order) and flushes it.
    public func appendTrain(step: Int, loss: Double, learningRate: Double, gradNorm: Double, tokensPerSecond: Double, seconds: Double) throws {
        try append(step: step, [loss, learningRate, gradNorm, tokensPerSecond, seconds], to: train)
    }

    /// Appends one evaluation and flushes it.
    public func appendEval(step: Int, loss: Double, accuracy: Double) throws {
        try append(step: step, [loss, accuracy], to: eval)
    }

    public func close() throws {
        try file.close()
    }

    /// Writes the values first and the step last, so a reader that sees a step sees its row.
    private func append(step: Int, _ values: [Double], to columns: [HDF5Dataset]) throws {
        for (column, value) in zip(columns.dropFirst(), values) {
            try column.append([value])
            try column.flush()
        }
        try columns[0].append([Int64(step)])
        try columns[0].flush()
    }

    /// Opens an existing log for writing. A log whose writer was killed still carries HDF5's
    /// "open for SWMR writing" flag, and its superblock's end-of-allocation can lag behind the
    /// rows already flushed; `h5clear -s --increment=0` (hdf5-tools) clears the flag and moves
    /// the end of allocation to the end of the file, so every flushed row is kept.
    private static func openForWriting(_ path: String) throws -> HDF5File {
        do {
            return try HDF5File.open(path, mode: .readWrite)
        } catch let error as HDF5Error where error.kind == .notHDF5 {
            let clear = Process()
            clear.executableURL = URL(fileURLWithPath: "/usr/bin/h5clear")
            clear.arguments = ["-s", "--increment=0", path]
            try clear.run()
            clear.waitUntilExit()
            guard clear.terminationStatus == 0 else { throw error }
            return try HDF5File.open(path, mode: .readWrite)
        }
    }
}
