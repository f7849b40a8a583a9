import Adapters
import Foundation
import Llama
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
    public var evalEvery: Int
    public var evalExamples: Int
    public var checkpointEvery: Int
    public var checkpointKeep: Int
    public var output: String
    public var compressionAware: CompressionAware?
    /// The spec as written (with overrides applied), stored in checkpoints.
    public var text: String

    /// Reads the spec at `path`, applying `overrides` (`key.path=value`, values in YAML syntax).
    public static func load(path: String, overrides: [String] = []) throws -> JobSpec {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JobSpecError(file: path, keyPath: "(file)", problem: "no such file")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path, overrides: overrides)
    }

    /// Parses spec text; `file` names it in errors.
    public static func parse(_ text: String, file: String, overrides: [String] = []) throws -> JobSpec {
        let reader = SpecReader(file: file)
        var root = try reader.document(text, needs: "a job spec needs at least name, model, data, task, adapter, optimizer, schedule and batch")
        for override in overrides { root = try apply(override, to: root, reader: reader) }
        return try JobSpec(root: root, reader: reader, text: try Yams.serialize(node: root))
    }

    private init(root: Node, reader: SpecReader, text: String) throws {
        let r = reader
        let top = try r.table(root, at: "", keys: ["name", "model", "data", "task", "adapter", "optimizer", "schedule",
                                                   "batch", "seed", "reduction", "eval", "checkpoint", "output", "compression_aware"])
        name = try r.string(top, "name", at: "")
        model = try r.string(top, "model", at: "")
        task = Task(rawValue: try r.choice(top, "task", at: "", Task.allCases.map(\.rawValue)))!
        let data = try r.table(top["data"], at: "data", keys: ["path", "train_split", "eval_split"])
        dataPath = try r.string(data, "path", at: "data")
        trainSplit = try r.string(data, "train_split", at: "data", default: "train")
        evalSplit = try r.string(data, "eval_split", at: "data", default: "validation")
        adapter = try Self.adapter(top["adapter"], reader: r)

        let optimizerTable = try r.table(top["optimizer"], at: "optimizer", keys: ["lr", "betas", "eps", "weight_decay", "max_grad_norm"])
        let betas = try r.list(optimizerTable, "betas", at: "optimizer", default: [0.9, 0.999], r.doubleElement)
        guard betas.count == 2, betas.allSatisfy({ $0 >= 0 && $0 < 1 }) else {
            throw r.error("optimizer.betas", "expected two numbers in [0, 1)")
        }
        optimizer = Optimizer(
            learningRate: try r.double(optimizerTable, "lr", at: "optimizer"),
            adam: AdamW.Settings(beta1: Float(betas[0]), beta2: Float(betas[1]),
                                 epsilon: Float(try r.double(optimizerTable, "eps", at: "optimizer", default: 1e-8)),
                                 weightDecay: Float(try r.double(optimizerTable, "weight_decay", at: "optimizer", default: 0.01))),
            maxGradNorm: try r.double(optimizerTable, "max_grad_norm", at: "optimizer", default: 1.0))

        let scheduleTable = try r.table(top["schedule"], at: "schedule", keys: ["kind", "warmup_steps", "total_steps"])
        schedule = LearningRateSchedule(
            shape: LearningRateSchedule.Shape(rawValue: try r.choice(scheduleTable, "kind", at: "schedule",
                                                                      LearningRateSchedule.Shape.allCases.map(\.rawValue), default: "cosine"))!,
            peak: optimizer.learningRate,
            warmupSteps: try r.int(scheduleTable, "warmup_steps", at: "schedule", default: 0),
            totalSteps: try r.int(scheduleTable, "total_steps", at: "schedule"))

        let batchTable = try r.table(top["batch"], at: "batch", keys: ["global", "micro", "max_length"])
        batch = Batch(global: try r.int(batchTable, "global", at: "batch"), micro: try r.int(batchTable, "micro", at: "batch"),
                      maxLength: try r.int(batchTable, "max_length", at: "batch", default: 256))
        seed = UInt64(bitPattern: Int64(try r.int(top, "seed", at: "", default: 0)))
        reduction = GradientReducer.Mode(rawValue: try r.choice(top, "reduction", at: "", GradientReducer.Mode.allCases.map(\.rawValue), default: "exact"))!
        let evalTable = try r.table(top["eval"], at: "eval", keys: ["every", "examples"])
        evalEvery = try r.int(evalTable, "every", at: "eval", default: 50)
        evalExamples = try r.int(evalTable, "examples", at: "eval", default: 256)
        let checkpointTable = try r.table(top["checkpoint"], at: "checkpoint", keys: ["every", "keep"])
        checkpointEvery = try r.int(checkpointTable, "every", at: "checkpoint", default: 50)
        checkpointKeep = try r.int(checkpointTable, "keep", at: "checkpoint", default: 3)
        output = try r.string(top, "output", at: "", default: "runs/\(name)")
        if top["compression_aware"] != nil {
            let table = try r.table(top["compression_aware"], at: "compression_aware",
                                    keys: ["teacher_model", "teacher_checkpoint", "inherit", "distill_weight", "kl_weight"])
            let inherit = try r.string(table, "inherit", at: "compression_aware", default: "true")
            guard let inherits = Bool(inherit) else { throw r.error("compression_aware.inherit", "expected true or false, got '\(inherit)'") }
            compressionAware = CompressionAware(
                teacherModel: try r.string(table, "teacher_model", at: "compression_aware"),
                teacherCheckpoint: try r.string(table, "teacher_checkpoint", at: "compression_aware"),
                inherit: inherits, distillWeight: try r.double(table, "distill_weight", at: "compression_aware", default: 1),
                klWeight: try r.double(table, "kl_weight", at: "compression_aware", default: 0))
        }
        self.text = text
        try validateNumbers(reader: r)
    }

    private static func adapter(_ node: Node?, reader r: SpecReader) throws -> AdapterSpec {
        let table = try r.table(node, at: "adapter", keys: ["kind", "rank", "alpha", "targets", "layers", "dropout", "tt", "sparsity", "recovery"])
        let kind = AdapterSpec.Kind(rawValue: try r.choice(table, "kind", at: "adapter", AdapterSpec.Kind.allCases.map(\.rawValue)))!
        let rank = try r.int(table, "rank", at: "adapter", default: 8)
        let names = try r.list(table, "targets", at: "adapter", default: ["q_proj", "v_proj"], r.stringElement)
        let layers: [Int]? = table["layers"] == nil ? nil : try r.list(table, "layers", at: "adapter", r.intElement)
        let tt = try r.table(table["tt"], at: "adapter.tt", keys: ["factors", "init", "path"])
        var factors: [Int: [Int]] = [:]
        for (dimension, list) in try r.integerTable(tt["factors"], at: "adapter.tt.factors") {
            factors[dimension] = try r.list(["\(dimension)": list], "\(dimension)", at: "adapter.tt.factors", r.intElement)
        }
        let initialization = try r.choice(tt, "init", at: "adapter.tt", AdapterSpec.TensorTrainInitialization.allCases.map(\.rawValue), default: "zero-delta")
        let path = try r.choice(tt, "path", at: "adapter.tt", ["auto"] + TensorTrain.Path.allCases.map(\.rawValue), default: "auto")
        var schedule: SparsitySchedule?
        if table["sparsity"] != nil {
            let sparsity = try r.table(table["sparsity"], at: "adapter.sparsity", keys: ["initial", "final", "start_step", "end_step", "every"])
            schedule = SparsitySchedule(initial: try r.double(sparsity, "initial", at: "adapter.sparsity", default: 0),
                                        final: try r.double(sparsity, "final", at: "adapter.sparsity"),
                                        startStep: try r.int(sparsity, "start_step", at: "adapter.sparsity", default: 0),
                                        endStep: try r.int(sparsity, "end_step", at: "adapter.sparsity"),
                                        every: try r.int(sparsity, "every", at: "adapter.sparsity", default: 10))
        }
        var recovery: AdapterSpec.Recovery?
        if table["recovery"] != nil {
            let module = try r.table(table["recovery"], at: "adapter.recovery", keys: ["rank", "alpha", "activation", "layers"])
            let recoveryRank = try r.int(module, "rank", at: "adapter.recovery", default: 8)
            recovery = AdapterSpec.Recovery(
                rank: recoveryRank, alpha: Float(try r.double(module, "alpha", at: "adapter.recovery", default: Double(recoveryRank))),
                activation: AdapterSpec.Recovery.Activation(rawValue: try r.choice(module, "activation", at: "adapter.recovery",
                                                                                   AdapterSpec.Recovery.Activation.allCases.map(\.rawValue), default: "gelu"))!,
                layers: module["layers"] == nil ? nil : try r.list(module, "layers", at: "adapter.recovery", r.intElement))
        }
        return AdapterSpec(
            kind: kind, rank: rank, alpha: Float(try r.double(table, "alpha", at: "adapter", default: kind == .ttLora ? 1 : Double(2 * rank))),
            targets: try r.adapterSetting { try AdapterSpec.targets(named: names) }, layers: layers,
            dropout: Float(try r.double(table, "dropout", at: "adapter", default: 0)),
            tensorTrainFactors: factors, tensorTrainInitialization: AdapterSpec.TensorTrainInitialization(rawValue: initialization)!,
            tensorTrainPath: TensorTrain.Path(rawValue: path), sparsity: schedule, recovery: recovery)
    }

    private func validateNumbers(reader r: SpecReader) throws {
        let positive: [(String, Int)] = [("batch.global", batch.global), ("batch.micro", batch.micro), ("batch.max_length", batch.maxLength),
                                         ("schedule.total_steps", schedule.totalSteps), ("eval.every", evalEvery),
                                         ("eval.examples", evalExamples), ("checkpoint.every", checkpointEvery), ("checkpoint.keep", checkpointKeep)]
        for (path, value) in positive where value < 1 { throw r.error(path, "must be at least 1, got \(value)") }
        guard optimizer.learningRate > 0, optimizer.learningRate.isFinite else { throw r.error("optimizer.lr", "must be a positive number") }
        guard optimizer.adam.weightDecay >= 0 else { throw r.error("optimizer.weight_decay", "must be zero or positive, got \(optimizer.adam.weightDecay)") }
        guard optimizer.maxGradNorm >= 0 else { throw r.error("optimizer.max_grad_norm", "must be zero (no clipping) or positive, got \(optimizer.maxGradNorm)") }
        guard schedule.warmupSteps >= 0, schedule.warmupSteps <= schedule.totalSteps else {
            throw r.error("schedule.warmup_steps", "must be in 0...total_steps (\(schedule.totalSteps)), got \(schedule.warmupSteps)")
        }
        guard batch.global % batch.micro == 0 else {
            throw r.error("batch.global", "\(batch.global) is not a multiple of batch.micro \(batch.micro)")
        }
        if let aware = compressionAware {
            for (key, value) in [("distill_weight", aware.distillWeight), ("kl_weight", aware.klWeight)] where !(value >= 0 && value.isFinite) {
                throw r.error("compression_aware.\(key)", "must be zero (term off) or positive, got \(value)")
            }
            guard adapter.kind != .sparseLora else { throw r.error("compression_aware", "supports lora and tt-lora adapters") }
        }
    }

    /// Micro-batches each rank accumulates per step with `worldSize` ranks, or the reason that
    /// world size cannot run this spec (global = world × micro × accumulation).
    public func accumulation(worldSize: Int) throws -> Int {
        guard batch.global % (worldSize * batch.micro) == 0 else {
            throw JobSpecError(file: name, keyPath: "batch.global",
                               problem: "\(batch.global) examples per step cannot be split over \(worldSize) ranks × batch.micro \(batch.micro); use a multiple of \(worldSize * batch.micro)")
        }
        return batch.global / (worldSize * batch.micro)
    }

    /// Checks that the files the spec names exist and that the output can be a directory.
    public func checkFiles(file: String) throws {
        let teacher = compressionAware.map { [("compression_aware.teacher_model", $0.teacherModel), ("compression_aware.teacher_checkpoint", $0.teacherCheckpoint)] } ?? []
        for (path, value) in [("model", model), ("data.path", dataPath)] + teacher where !FileManager.default.fileExists(atPath: value) {
            throw JobSpecError(file: file, keyPath: path, problem: "no such file '\(value)'")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw JobSpecError(file: file, keyPath: "output", problem: "'\(output)' is a file; name a directory for the run's checkpoints and metrics")
        }
    }

    /// Sets `key.path=value` in the tree; the value is parsed as YAML (`0.5`, `[q_proj]`, `tt-lora`).
    private static func apply(_ override: String, to root: Node, reader: SpecReader) throws -> Node {
        guard let equals = override.firstIndex(of: "="), equals != override.startIndex else {
            throw JobSpecError(file: reader.file, keyPath: "--set \(override)", problem: "expected key.path=value")
        }
        let path = override[..<equals].split(separator: ".").map(String.init)
        let valueText = String(override[override.index(after: equals)...])
        let value = (try? Yams.compose(yaml: valueText)).flatMap { $0 } ?? Node(valueText)
        func set(_ node: Node, _ keys: ArraySlice<String>) -> Node {
            guard let key = keys.first else { return value }
            var mapping = node.mapping ?? Node.Mapping([])
            mapping[key] = set(mapping[key] ?? Node.mapping(.init([])), keys.dropFirst())
            return .mapping(mapping)
        }
        return set(root, path[...])
    }
}
