import Adapters
import Distributed
import Foundation
import Llama
import SpecFiles
import Yams

/// Everything about one training run, read strictly from a YAML file (see `jobs/` and the
/// README for the format): an unknown key, a wrong type, a missing file or an impossible
/// combination is an error naming its key path, before any rank starts training.
public struct JobSpec: Sendable {
    public enum Task: String, Sendable, CaseIterable {
        case classification, lm
    }

    public struct Optimizer: Sendable, Equatable {
        public var learningRate: Double
        public var adam: AdamW.Settings
        /// Clip the global gradient norm to this; 0 turns clipping off.
        public var maxGradNorm: Double
    }

    public struct Batch: Sendable, Equatable {
        /// Examples per optimizer step, over all ranks.
        public var global: Int
        /// Examples per forward/backward pass on one rank.
        public var micro: Int
        /// Longest example in tokens; longer ones are refused when the data is loaded.
        public var maxLength: Int
        /// Cut a step's examples into micro-batches of up to `micro × maxLength` tokens instead
        /// of `micro` examples each: short examples then share bigger GEMMs.
        public var packing: Bool
    }

    /// CA-LoRA (arXiv 2307.07705): train adapters for a compressed `model` with the uncompressed
    /// model and its trained adapter as the teacher.
    public struct CompressionAware: Sendable, Equatable {
        /// The uncompressed model the job's model was compressed from.
        public var teacherModel: String
        /// A checkpoint of the teacher's adapter, trained on `teacherModel`.
        public var teacherCheckpoint: String
        /// Knowledge inheritance: a fresh run starts its adapter from the teacher's.
        public var inherit: Bool
        /// λ of the distillation term `λ·MSE(student, teacher final hidden state)`.
        public var distillWeight: Double
        /// κ of the optional term `κ·KL(teacher ‖ student)` of the next-token distributions; with
        /// both weights 0 no teacher runs.
        public var klWeight: Double
    }

    /// `comm`: how long collectives wait for a lost or stalled peer (see `CollectiveTimeout`).
    public struct Comm: Sendable, Equatable {
        /// Once training runs: every step's, evaluation's and checkpoint's collectives.
        public var timeout: CollectiveTimeout
        /// While the ranks start: loading the model (one rank per node reads it while the
        /// others wait), resuming, broadcasting the initial adapters.
        public var startupTimeout: CollectiveTimeout
    }

    public var name: String
    public var model: String
    public var dataPath: String
    public var trainSplit: String
    public var evalSplit: String
    public var task: Task
    public var adapter: AdapterSpec
    public var optimizer: Optimizer
    public var schedule: LearningRateSchedule
    public var batch: Batch
    public var seed: UInt64
    public var reduction: GradientReducer.Mode
    /// `memory.recompute`: keep each layer's input only and recompute its activations in backward
    /// (the same bits, less memory, more time). Not a setting a resume compares: it changes no result.
    public var recompute: Bool
    public var comm: Comm
    public var evalEvery: Int
    public var evalExamples: Int
    public var checkpointEvery: Int
    public var checkpointKeep: Int
    public var output: String
    public var compressionAware: CompressionAware?
    /// The spec as written (with overrides applied), stored in checkpoints.
    public var text: String

    /// Bounds of the numbers a spec holds, far beyond any real run and far below where step ×
    /// batch or a tensor's size could overflow.
    public enum Limits {
        public static let steps = 100_000_000
        public static let examples = 10_000_000
        public static let tokens = 1 << 20
        public static let layers = 10_000
        public static let checkpointsKept = 10_000
        /// AdamW computes in Float: a larger rate would be infinite there.
        public static let learningRate = Double(Float.greatestFiniteMagnitude)
        public static let epsilon: ClosedRange<Double> = 1e-30...1
        public static let weightDecay = 1000.0
        public static let nameLength = 128
    }

    /// Reads the spec at `path`, applying `overrides` (`key.path=value`, values in YAML syntax).
    public static func load(path: String, overrides: [String] = []) throws -> JobSpec {
        switch TextFile.read(path, limit: SpecReader.maxDocumentBytes) {
        case .success(let text): return try parse(text, file: path, overrides: overrides)
        case .failure(let error): throw SpecError(file: path, keyPath: "(file)", problem: error.problem)
        }
    }

    /// Parses spec text; `file` names it in errors.
    public static func parse(_ text: String, file: String, overrides: [String] = []) throws -> JobSpec {
        let reader = SpecReader(file: file)
        var root = try reader.document(
            text, needs: "a job spec needs at least name, model, data, task, adapter, optimizer, schedule and batch")
        for override in overrides { root = try apply(override, to: root, reader: reader) }
        return try JobSpec(root: root, reader: reader, text: try Yams.serialize(node: root))
    }

    private init(root: Node, reader: SpecReader, text: String) throws {
        let r = reader
        let top = try r.table(
            root, at: "",
            keys: [
                "name", "model", "data", "task", "adapter", "optimizer", "schedule",
                "batch", "seed", "reduction", "eval", "checkpoint", "output", "compression_aware",
                "memory", "comm",
            ])
        name = try r.string(top, "name", at: "")
        try Self.checkName(name, reader: r)
        model = try r.string(top, "model", at: "")
        task = try r.choice(top, "task", at: "", Task.allCases)
        let data = try r.table(top["data"], at: "data", keys: ["path", "train_split", "eval_split"])
        dataPath = try r.string(data, "path", at: "data")
        trainSplit = try r.string(data, "train_split", at: "data", default: "train")
        evalSplit = try r.string(data, "eval_split", at: "data", default: "validation")
        adapter = try Self.adapter(top["adapter"], reader: r)

        let optimizerTable = try r.table(
            top["optimizer"], at: "optimizer", keys: ["lr", "betas", "eps", "weight_decay", "max_grad_norm"])
        let betas = try r.list(
            optimizerTable, "betas", at: "optimizer", default: [0.9, 0.999],
            r.doubleElement("in [0, 1)") { $0 >= 0 && $0 < 1 })
        guard betas.count == 2 else { throw r.error("optimizer.betas", "expected two numbers in [0, 1)") }
        optimizer = Optimizer(
            learningRate: try r.double(
                optimizerTable, "lr", at: "optimizer", "a positive number that is finite in float32"
            ) {
                $0 > 0 && $0 <= Limits.learningRate
            },
            adam: AdamW.Settings(
                beta1: Float(betas[0]), beta2: Float(betas[1]),
                epsilon: Float(
                    try r.double(
                        optimizerTable, "eps", at: "optimizer",
                        "in [\(Limits.epsilon.lowerBound), \(Limits.epsilon.upperBound)]",
                        valid: Limits.epsilon.contains, default: 1e-8)),
                weightDecay: Float(
                    try r.double(
                        optimizerTable, "weight_decay", at: "optimizer", "in [0, \(Limits.weightDecay)]",
                        valid: { $0 >= 0 && $0 <= Limits.weightDecay }, default: 0.01))),
            maxGradNorm: try r.double(
                optimizerTable, "max_grad_norm", at: "optimizer", "zero (no clipping) or positive",
                valid: { $0 >= 0 }, default: 1.0))

        let scheduleTable = try r.table(top["schedule"], at: "schedule", keys: ["kind", "warmup_steps", "total_steps"])
        schedule = LearningRateSchedule(
            shape: try r.choice(
                scheduleTable, "kind", at: "schedule", LearningRateSchedule.Shape.allCases, default: .cosine),
            peak: optimizer.learningRate,
            warmupSteps: try r.int(scheduleTable, "warmup_steps", at: "schedule", in: 0...Limits.steps, default: 0),
            totalSteps: try r.int(scheduleTable, "total_steps", at: "schedule", in: 1...Limits.steps))

        let batchTable = try r.table(top["batch"], at: "batch", keys: ["global", "micro", "max_length", "packing"])
        batch = Batch(
            global: try r.int(batchTable, "global", at: "batch", in: 1...Limits.examples),
            micro: try r.int(batchTable, "micro", at: "batch", in: 1...Limits.examples),
            maxLength: try r.int(batchTable, "max_length", at: "batch", in: 1...Limits.tokens, default: 256),
            packing: try r.bool(batchTable, "packing", at: "batch", default: false))
        seed = UInt64(bitPattern: Int64(try r.int(top, "seed", at: "", in: Int.min...Int.max, default: 0)))
        reduction = try r.choice(top, "reduction", at: "", GradientReducer.Mode.allCases, default: .exact)
        let memoryTable = try r.table(top["memory"], at: "memory", keys: ["recompute"])
        recompute = try r.bool(memoryTable, "recompute", at: "memory", default: false)
        let commTable = try r.table(top["comm"], at: "comm", keys: ["timeout_s", "startup_timeout_s"])
        let seconds = CollectiveTimeout.allowedSeconds
        let timeoutSeconds = { (key: String, standard: Double) in
            try r.double(
                commTable, key, at: "comm", "seconds in [\(seconds.lowerBound), \(Int(seconds.upperBound))]",
                valid: seconds.contains, default: standard)
        }
        let timeout = try timeoutSeconds("timeout_s", CollectiveTimeout.standard.seconds)
        comm = Comm(
            timeout: CollectiveTimeout(seconds: timeout, setting: "comm.timeout_s"),
            startupTimeout: CollectiveTimeout(
                seconds: try timeoutSeconds("startup_timeout_s", 1800), setting: "comm.startup_timeout_s"))
        let evalTable = try r.table(top["eval"], at: "eval", keys: ["every", "examples"])
        evalEvery = try r.int(evalTable, "every", at: "eval", in: 1...Limits.steps, default: 50)
        evalExamples = try r.int(evalTable, "examples", at: "eval", in: 1...Limits.examples, default: 256)
        let checkpointTable = try r.table(top["checkpoint"], at: "checkpoint", keys: ["every", "keep"])
        checkpointEvery = try r.int(checkpointTable, "every", at: "checkpoint", in: 1...Limits.steps, default: 50)
        checkpointKeep = try r.int(
            checkpointTable, "keep", at: "checkpoint", in: 1...Limits.checkpointsKept, default: 3)
        output = try r.string(top, "output", at: "", default: "runs/\(name)")
        try Self.checkOutput(output, reader: r)
        if top["compression_aware"] != nil {
            let table = try r.table(
                top["compression_aware"], at: "compression_aware",
                keys: ["teacher_model", "teacher_checkpoint", "inherit", "distill_weight", "kl_weight"])
            compressionAware = CompressionAware(
                teacherModel: try r.string(table, "teacher_model", at: "compression_aware"),
                teacherCheckpoint: try r.string(table, "teacher_checkpoint", at: "compression_aware"),
                inherit: try r.bool(table, "inherit", at: "compression_aware", default: true),
                distillWeight: try r.double(
                    table, "distill_weight", at: "compression_aware", "zero (term off) or positive", valid: { $0 >= 0 },
                    default: 1),
                klWeight: try r.double(
                    table, "kl_weight", at: "compression_aware", "zero (term off) or positive", valid: { $0 >= 0 },
                    default: 0))
        }
        self.text = text
        try validateNumbers(reader: r)
    }

    private static func adapter(_ node: Node?, reader r: SpecReader) throws -> AdapterSpec {
        let table = try r.table(
            node, at: "adapter",
            keys: ["kind", "rank", "alpha", "targets", "layers", "dropout", "tt", "sparsity", "recovery"])
        let kind = try r.choice(table, "kind", at: "adapter", AdapterSpec.Kind.allCases)
        let rank = try r.int(table, "rank", at: "adapter", in: 1...AdapterSpec.maxRank, default: 8)
        let names = try r.list(table, "targets", at: "adapter", default: ["q_proj", "v_proj"], r.stringElement)
        let layers: [Int]? =
            table["layers"] == nil
            ? nil : try r.list(table, "layers", at: "adapter", r.intElement(in: 0...Limits.layers))
        let tt = try r.table(table["tt"], at: "adapter.tt", keys: ["factors", "init", "path"])
        var factors: [Int: [Int]] = [:]
        for (dimension, list) in try r.integerTable(tt["factors"], at: "adapter.tt.factors") {
            factors[dimension] = try r.list(
                ["\(dimension)": list], "\(dimension)", at: "adapter.tt.factors", r.intElement(in: 1...dimension))
        }
        let initialization = try r.choice(
            tt, "init", at: "adapter.tt", AdapterSpec.TensorTrainInitialization.allCases, default: .zeroDelta)
        let path = try r.choice(
            tt, "path", at: "adapter.tt", ["auto"] + TensorTrain.Path.allCases.map(\.rawValue), default: "auto")
        var schedule: SparsitySchedule?
        if table["sparsity"] != nil {
            let sparsity = try r.table(
                table["sparsity"], at: "adapter.sparsity",
                keys: ["initial", "final", "start_step", "end_step", "every"])
            let fraction = { (value: Double) in value >= 0 && value < 1 }
            schedule = SparsitySchedule(
                initial: try r.double(
                    sparsity, "initial", at: "adapter.sparsity", "in [0, 1)", valid: fraction, default: 0),
                final: try r.double(sparsity, "final", at: "adapter.sparsity", "in [0, 1)", valid: fraction),
                startStep: try r.int(sparsity, "start_step", at: "adapter.sparsity", in: 0...Limits.steps, default: 0),
                endStep: try r.int(sparsity, "end_step", at: "adapter.sparsity", in: 0...Limits.steps),
                every: try r.int(sparsity, "every", at: "adapter.sparsity", in: 1...Limits.steps, default: 10))
        }
        var recovery: AdapterSpec.Recovery?
        if table["recovery"] != nil {
            let module = try r.table(
                table["recovery"], at: "adapter.recovery", keys: ["rank", "alpha", "activation", "layers"])
            let recoveryRank = try r.int(
                module, "rank", at: "adapter.recovery", in: 1...AdapterSpec.maxRank, default: 8)
            recovery = AdapterSpec.Recovery(
                rank: recoveryRank,
                alpha: Float(
                    try r.double(
                        module, "alpha", at: "adapter.recovery", "a positive number", valid: { $0 > 0 },
                        default: Double(recoveryRank))),
                activation: try r.choice(
                    module, "activation", at: "adapter.recovery", AdapterSpec.Recovery.Activation.allCases,
                    default: .gelu),
                layers: module["layers"] == nil
                    ? nil : try r.list(module, "layers", at: "adapter.recovery", r.intElement(in: 0...Limits.layers)))
        }
        return AdapterSpec(
            kind: kind, rank: rank,
            alpha: Float(
                try r.double(
                    table, "alpha", at: "adapter", "a positive number", valid: { $0 > 0 },
                    default: Double(kind.defaultAlpha(rank: rank)))),
            targets: try r.adapterSetting { try AdapterSpec.targets(named: names) }, layers: layers,
            dropout: Float(
                try r.double(table, "dropout", at: "adapter", "in [0, 1)", valid: { $0 >= 0 && $0 < 1 }, default: 0)),
            tensorTrainFactors: factors, tensorTrainInitialization: initialization,
            tensorTrainPath: TensorTrain.Path(rawValue: path), sparsity: schedule, recovery: recovery)
    }

    /// What no single key can say: relations between values, and sections that only some
    /// adapters or tasks use.
    private func validateNumbers(reader r: SpecReader) throws {
        guard schedule.warmupSteps <= schedule.totalSteps else {
            throw r.error(
                "schedule.warmup_steps",
                "must be in 0...total_steps (\(schedule.totalSteps)), got \(schedule.warmupSteps)")
        }
        guard batch.global % batch.micro == 0 else {
            throw r.error("batch.global", "\(batch.global) is not a multiple of batch.micro \(batch.micro)")
        }
        if adapter.sparsity != nil, !adapter.kind.method.isMasked {
            throw r.error(
                "adapter.sparsity",
                "applies to \(AdapterKinds.names { $0.isMasked }) only (this adapter is \(adapter.kind))")
        }
        if adapter.recovery != nil, compressionAware == nil {
            throw r.error("adapter.recovery", "is CA-LoRA's recovery module: it needs a compression_aware section")
        }
        if compressionAware != nil, !adapter.kind.method.takesRecovery {
            throw r.error("compression_aware", "supports \(AdapterKinds.names { $0.takesRecovery }) adapters")
        }
    }

    /// A job name becomes a directory under `runs/` and a label in metrics: a name, never a path.
    private static func checkName(_ name: String, reader r: SpecReader) throws {
        let allowed = name.unicodeScalars.allSatisfy {
            $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0))
        }
        guard !name.isEmpty, name.count <= Limits.nameLength, allowed, !name.hasPrefix(".") else {
            throw r.error(
                "name",
                "must be 1 to \(Limits.nameLength) letters, digits, '.', '_' or '-', not starting with '.' (it names "
                    + "the run's directory), got \(name.debugDescription)"
            )
        }
    }

    /// The output is a directory of the user's: not empty, and not in the kernel's virtual file
    /// systems, where nothing written stays.
    private static func checkOutput(_ output: String, reader r: SpecReader) throws {
        guard !output.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw r.error("output", "is empty; name a directory for the run")
        }
        let resolved = URL(fileURLWithPath: output).standardizedFileURL.resolvingSymlinksInPath().path
        for system in ["/proc", "/sys", "/dev"] where resolved == system || resolved.hasPrefix(system + "/") {
            throw r.error(
                "output", "'\(output)' is in \(system), which holds no files of a run; name a directory of your own")
        }
    }

    /// Whether `data.path` names JSON Lines (a `.jsonl` file or a directory of them) rather than
    /// a dataset file: then `train` imports it once into `datasetFile`.
    public var isJSONLinesData: Bool {
        var isDirectory: ObjCBool = false
        return dataPath.hasSuffix(".jsonl")
            || (FileManager.default.fileExists(atPath: dataPath, isDirectory: &isDirectory) && isDirectory.boolValue)
    }

    /// The dataset file the job reads: `data.path`, or for JSON Lines `OUTPUT/data.h5`.
    public var datasetFile: String {
        isJSONLinesData ? (output as NSString).appendingPathComponent("data.h5") : dataPath
    }

    /// Micro-batches each rank accumulates per step with `worldSize` ranks, or the reason that
    /// world size cannot run this spec (global = world × micro × accumulation).
    public func accumulation(worldSize: Int) throws -> Int {
        guard batch.global % (worldSize * batch.micro) == 0 else {
            throw SpecError(
                file: name, keyPath: "batch.global",
                problem:
                    "\(batch.global) examples per step cannot be split over \(worldSize) ranks × batch.micro "
                        + "\(batch.micro); use a multiple of \(worldSize * batch.micro)"
            )
        }
        return batch.global / (worldSize * batch.micro)
    }

    /// Checks that the files the spec names exist and that the output can be a directory.
    public func checkFiles(file: String) throws {
        let teacher =
            compressionAware.map {
                [
                    ("compression_aware.teacher_model", $0.teacherModel),
                    ("compression_aware.teacher_checkpoint", $0.teacherCheckpoint),
                ]
            } ?? []
        for (path, value) in [("model", model), ("data.path", dataPath)] + teacher
        where !FileManager.default.fileExists(atPath: value) {
            throw SpecError(file: file, keyPath: path, problem: "no such file '\(value)'")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw SpecError(
                file: file, keyPath: "output",
                problem: "'\(output)' is a file; name a directory for the run's checkpoints and metrics")
        }
    }

    /// Sets `key.path=value` in the tree; the value is parsed as YAML (`0.5`, `[q_proj]`, `tt-lora`).
    private static func apply(_ override: String, to root: Node, reader: SpecReader) throws -> Node {
        guard let equals = override.firstIndex(of: "="), equals != override.startIndex else {
            throw SpecError(file: reader.file, keyPath: "--set \(override)", problem: "expected key.path=value")
        }
        let path = override[..<equals].split(separator: ".").map(String.init)
        let valueText = String(override[override.index(after: equals)...])
        let value: Node
        do {
            value = try reader.compose(valueText, at: "--set \(override)") ?? Node(valueText)
        } catch let error as SpecError where error.problem.hasPrefix("not valid YAML") {
            value = Node(valueText)
        }
        func set(_ node: Node, _ keys: ArraySlice<String>) -> Node {
            guard let key = keys.first else { return value }
            var mapping = node.mapping ?? Node.Mapping([])
            mapping[key] = set(mapping[key] ?? Node.mapping(.init([])), keys.dropFirst())
            return .mapping(mapping)
        }
        return set(root, path[...])
    }
}

extension SpecReader {
    /// Runs `body`, turning an `AdapterSpecError` into this file's error at the same key path.
    func adapterSetting<Value>(_ body: () throws -> Value) throws -> Value {
        do {
            return try body()
        } catch let error as AdapterSpecError {
            throw SpecError(file: file, keyPath: error.setting, problem: error.problem)
        }
    }
}
