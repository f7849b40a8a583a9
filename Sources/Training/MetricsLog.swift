import Foundation
import HDF5

/// `runs/NAME/metrics.h5`: appendable columns `/train/{step, loss, lr, grad_norm, tokens_per_s,
/// seconds, timestamp}` and `/eval/{step, loss, accuracy, timestamp}` (`step` int64, the rest
/// float64), each with `units` and `description` attributes, flushed after every row and readable
/// while the run writes (HDF5 SWMR: `h5py.File(path, "r", swmr=True)`, or pandas over h5py).
///
/// Opening for a resumed run drops the rows past the checkpoint's step, so no step appears twice;
/// a file left behind by a killed writer is repaired first (`h5clear -s --increment=0`); a file of
/// format version 1 gains the columns it lacks (NaN for its earlier rows).
public final class MetricsLog {
    /// Version 1 files are read, and upgraded when a run appends to them.
    public static let fileFormat = FileFormat(name: "ttl-train-metrics", version: 2, readable: 1...2)

    /// One column: its name, units and meaning, stored as the dataset's attributes.
    public struct Column: Sendable {
        public let name: String
        public let units: String
        public let description: String
    }

    public static let trainColumns = [
        Column(name: "step", units: "steps", description: "optimizer steps completed (the row's key)"),
        Column(
            name: "loss", units: "nats per supervised token",
            description:
                "mean training loss of the step over all ranks (cross-entropy, plus the distillation term of a "
                    + "compression-aware job)"
        ),
        Column(name: "lr", units: "1", description: "learning rate the step used"),
        Column(name: "grad_norm", units: "1", description: "global L2 norm of the reduced gradient before clipping"),
        Column(
            name: "tokens_per_s", units: "tokens/s",
            description: "tokens run through the model by all ranks per second of the step"),
        Column(name: "seconds", units: "s", description: "wall time of the step"),
        Column(
            name: "timestamp", units: "s since 1970-01-01 00:00 UTC",
            description: "wall-clock time at the end of the step"),
    ]
    public static let evalColumns = [
        Column(name: "step", units: "steps", description: "optimizer steps completed when evaluated (the row's key)"),
        Column(
            name: "loss", units: "nats per supervised token",
            description: "mean cross-entropy on the evaluation examples"),
        Column(
            name: "accuracy", units: "1",
            description: "share of evaluation examples whose answer label scores highest; NaN for language modelling"),
        Column(
            name: "timestamp", units: "s since 1970-01-01 00:00 UTC",
            description: "wall-clock time at the end of the evaluation"),
    ]

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
        public var worldSize: Int
        /// Examples each evaluation uses (`eval.examples`).
        public var evalExamples: Int?

        public init(
            job: String, adapterKind: String, trainableParameters: Int, reducedBytesPerStep: Int, worldSize: Int = 1,
            evalExamples: Int? = nil
        ) {
            self.worldSize = worldSize
            self.evalExamples = evalExamples
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
    /// SWMR writing starts (which allows no new attributes). `restart`, why a launcher started
    /// this run again (a lost host), is appended the same way to `restarts`.
    public init(
        path: String, resumeStep: Int?, run: RunDescription? = nil, specChanges: [String] = [], restart: String? = nil
    ) throws {
        self.path = path
        try DurableFile.refuseSymbolicLink(path)
        let file: HDF5File
        if let resumeStep, FileManager.default.fileExists(atPath: path) {
            file = try Self.openForWriting(path)
            for (group, columns) in [("train", Self.trainColumns), ("eval", Self.evalColumns)] {
                let steps = try file.root.read("\(group)/step", as: Int64.self)
                let kept = steps.prefix { $0 <= Int64(resumeStep) }.count
                try Self.createMissingColumns(columns, in: group, of: file, rows: steps.count)
                for column in columns { try file.root.openDataset("\(group)/\(column.name)").resize(rows: kept) }
            }
        } else {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            file = try HDF5File.create(path, swmrCapable: true)
            try Self.fileFormat.stamp(file.root.attributes)
            for (group, columns) in [("train", Self.trainColumns), ("eval", Self.evalColumns)] {
                try Self.createMissingColumns(columns, in: group, of: file, rows: 0)
            }
        }
        try file.root.attributes.set("format_version", Self.fileFormat.version)
        try Writer.record(on: file.root.attributes, worldSize: run?.worldSize)
        if let run {
            let attributes = file.root.attributes
            try attributes.set("job", run.job)
            try attributes.set("adapter_kind", run.adapterKind)
            try attributes.set("trainable_parameters", Int64(run.trainableParameters))
            try attributes.set("reduced_bytes_per_step", Int64(run.reducedBytesPerStep))
            if let examples = run.evalExamples { try attributes.set("eval_examples", Int64(examples)) }
        }
        if !specChanges.isEmpty {
            let attributes = file.root.attributes
            let earlier = attributes.contains("spec_changes") ? try attributes.strings("spec_changes") : []
            try attributes.set("spec_changes", earlier + specChanges.map { "step \(resumeStep ?? 0): \($0)" })
        }
        if let restart {
            let attributes = file.root.attributes
            let earlier = attributes.contains("restarts") ? try attributes.strings("restarts") : []
            try attributes.set("restarts", earlier + ["step \(resumeStep ?? 0): \(restart)"])
        }
        train = try Self.trainColumns.map { try file.root.openDataset("train/\($0.name)") }
        eval = try Self.evalColumns.map { try file.root.openDataset("eval/\($0.name)") }
        try file.startSWMRWrite()
        self.file = file
    }

    /// Appends one training step (values in `trainColumns` order, the timestamp now) and flushes it.
    public func appendTrain(
        step: Int, loss: Double, learningRate: Double, gradNorm: Double, tokensPerSecond: Double, seconds: Double
    ) throws {
        try append(
            step: step, [loss, learningRate, gradNorm, tokensPerSecond, seconds, Date().timeIntervalSince1970],
            to: train)
    }

    /// Appends one evaluation (timestamped now) and flushes it.
    public func appendEval(step: Int, loss: Double, accuracy: Double) throws {
        try append(step: step, [loss, accuracy, Date().timeIntervalSince1970], to: eval)
    }

    /// Creates the columns of `group` the file lacks (all of them in a new file) with `rows` NaN
    /// rows, and gives every column its `units` and `description`.
    private static func createMissingColumns(_ columns: [Column], in group: String, of file: HDF5File, rows: Int) throws
    {
        for column in columns {
            let path = "\(group)/\(column.name)"
            let dataset: HDF5Dataset
            if file.root.contains(path) {
                dataset = try file.root.openDataset(path)
            } else if column.name == "step" {
                dataset = try file.root.createDataset(
                    path, of: Int64.self, shape: [0], options: .init(appendable: true))
            } else {
                dataset = try file.root.createDataset(
                    path, of: Double.self, shape: [0], options: .init(appendable: true))
                if rows > 0 { try dataset.append([Double](repeating: .nan, count: rows)) }
            }
            try dataset.attributes.set("units", column.units)
            try dataset.attributes.set("description", column.description)
        }
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
