import Distributed
import Foundation

extension JobSpec {
    /// Every resolved setting as `key.path=value` text, in the spec's order: what `validate`
    /// prints and what a resume compares with the checkpoint's spec.
    public var settings: [(key: String, value: String)] {
        let list = { (values: [Int]?) in values.map { $0.map(String.init).joined(separator: ",") } ?? "all" }
        var rows: [(String, String)] = [
            ("name", name), ("model", model), ("data.path", dataPath), ("data.train_split", trainSplit),
            ("data.eval_split", evalSplit),
            ("task", task.rawValue), ("adapter.kind", adapter.kind.rawValue), ("adapter.rank", "\(adapter.rank)"),
            ("adapter.alpha", "\(adapter.alpha)"),
            ("adapter.targets", adapter.targets.map(\.rawValue).joined(separator: ",")),
            ("adapter.layers", list(adapter.layers)), ("adapter.dropout", "\(adapter.dropout)"),
            (
                "adapter.tt.factors",
                adapter.tensorTrainFactors.isEmpty
                    ? "auto"
                    : adapter.tensorTrainFactors.sorted { $0.key < $1.key }.map {
                        "\($0.key)=\($0.value.map(String.init).joined(separator: "x"))"
                    }.joined(separator: ",")
            ),
            ("adapter.tt.init", adapter.tensorTrainInitialization.rawValue),
            ("adapter.tt.path", adapter.tensorTrainPath?.rawValue ?? "auto"),
            (
                "adapter.sparsity",
                adapter.sparsity.map {
                    "initial \($0.initial) final \($0.final) steps \($0.startStep)...\($0.endStep) every \($0.every)"
                } ?? "none"
            ),
            (
                "adapter.recovery",
                adapter.recovery.map {
                    "\($0.activation.rawValue) rank \($0.rank) alpha \($0.alpha) layers \(list($0.layers))"
                } ?? "none"
            ),
            ("optimizer.lr", "\(optimizer.learningRate)"),
            ("optimizer.betas", "\(optimizer.adam.beta1),\(optimizer.adam.beta2)"),
            ("optimizer.eps", "\(optimizer.adam.epsilon)"), ("optimizer.weight_decay", "\(optimizer.adam.weightDecay)"),
            ("optimizer.max_grad_norm", "\(optimizer.maxGradNorm)"), ("schedule.kind", schedule.shape.rawValue),
            ("schedule.warmup_steps", "\(schedule.warmupSteps)"), ("schedule.total_steps", "\(schedule.totalSteps)"),
            ("batch.global", "\(batch.global)"), ("batch.micro", "\(batch.micro)"),
            ("batch.max_length", "\(batch.maxLength)"), ("batch.packing", "\(batch.packing)"),
            ("seed", "\(seed)"), ("reduction", reduction.rawValue), ("eval.every", "\(evalEvery)"),
            ("eval.examples", "\(evalExamples)"),
            ("checkpoint.every", "\(checkpointEvery)"), ("checkpoint.keep", "\(checkpointKeep)"), ("output", output),
            ("comm.timeout_s", CollectiveTimeout.format(comm.timeout.seconds)),
            ("comm.startup_timeout_s", CollectiveTimeout.format(comm.startupTimeout.seconds)),
        ]
        if let aware = compressionAware {
            rows += [
                ("compression_aware.teacher_model", aware.teacherModel),
                ("compression_aware.teacher_checkpoint", aware.teacherCheckpoint),
                ("compression_aware.inherit", "\(aware.inherit)"),
                ("compression_aware.distill_weight", "\(aware.distillWeight)"),
                ("compression_aware.kl_weight", "\(aware.klWeight)"),
            ]
        }
        return rows
    }

    /// Settings that never change what a step computes — where files go, when to evaluate and
    /// checkpoint, the longest-example bound, how long collectives wait — so a resume may change
    /// them freely.
    public static let settingsOutsideTheMath: Set<String> = [
        "name", "output", "data.eval_split", "eval.every", "eval.examples", "checkpoint.every", "checkpoint.keep",
        "batch.max_length",
        "comm.timeout_s", "comm.startup_timeout_s",
    ]

    /// One setting that differs between the spec a checkpoint was trained with and this one.
    public struct Change: Equatable, Sendable, CustomStringConvertible {
        public let key: String
        public let old: String
        public let new: String
        /// Whether the change alters what the remaining steps compute (the learning rate, the
        /// data order, the adapter, …).
        public var changesTheMath: Bool { !JobSpec.settingsOutsideTheMath.contains(key) }

        public var description: String { "\(key) \(old) → \(new)" }
    }

    /// The settings of this spec that differ from `old`'s (a setting only one of them has counts
    /// as "none" in the other).
    public func changes(from old: JobSpec) -> [Change] {
        let (mine, theirs) = (settings, old.settings)
        let before = Dictionary(theirs.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        let after = Dictionary(mine.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
        let keys = mine.map(\.key) + theirs.map(\.key).filter { after[$0] == nil }
        return keys.compactMap { key in
            let (was, now) = (before[key] ?? "none", after[key] ?? "none")
            return was == now ? nil : Change(key: key, old: was, new: now)
        }
    }
}
