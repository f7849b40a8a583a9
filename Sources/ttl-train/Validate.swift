import Adapters
import Foundation
import ArgumentParser
import Training

/// `ttl-train validate JOB.yaml`: everything that can be checked without training.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a job spec against its model and data; print the resolved spec, batch split per world size and adapter size.")

    @OptionGroup var options: JobOptions

    func run() throws {
        let spec = try options.load()
        let resolved = try spec.resolve(file: options.job)
        let adapter = spec.adapter
        let rows: [(String, String)] = [
            ("name", spec.name), ("model", spec.model), ("data.path", spec.dataPath), ("data.train_split", spec.trainSplit),
            ("data.eval_split", spec.evalSplit), ("task", spec.task.rawValue), ("adapter.kind", adapter.kind.rawValue),
            ("adapter.rank", "\(adapter.rank)"), ("adapter.alpha", "\(adapter.alpha)"),
            ("adapter.targets", adapter.targets.map(\.rawValue).joined(separator: ",")),
            ("adapter.layers", adapter.layers.map { $0.map(String.init).joined(separator: ",") } ?? "all"),
            ("adapter.dropout", "\(adapter.dropout)"),
            ("adapter.recovery", adapter.recovery.map { recovery in
                "\(recovery.activation.rawValue) rank \(recovery.rank) alpha \(recovery.alpha) layers "
                    + (recovery.layers.map { $0.map(String.init).joined(separator: ",") } ?? "all")
            } ?? "none"),
            ("optimizer.lr", "\(spec.optimizer.learningRate)"),
            ("optimizer.betas", "\(spec.optimizer.adam.beta1),\(spec.optimizer.adam.beta2)"),
            ("optimizer.eps", "\(spec.optimizer.adam.epsilon)"), ("optimizer.weight_decay", "\(spec.optimizer.adam.weightDecay)"),
            ("optimizer.max_grad_norm", "\(spec.optimizer.maxGradNorm)"), ("schedule.kind", spec.schedule.shape.rawValue),
            ("schedule.warmup_steps", "\(spec.schedule.warmupSteps)"), ("schedule.total_steps", "\(spec.schedule.totalSteps)"),
            ("batch.global", "\(spec.batch.global)"), ("batch.micro", "\(spec.batch.micro)"), ("batch.max_length", "\(spec.batch.maxLength)"),
            ("seed", "\(spec.seed)"), ("reduction", spec.reduction.rawValue), ("eval.every", "\(spec.evalEvery)"),
            ("eval.examples", "\(spec.evalExamples)"), ("checkpoint.every", "\(spec.checkpointEvery)"),
            ("checkpoint.keep", "\(spec.checkpointKeep)"), ("output", spec.output),
            ("train_examples", "\(resolved.train.count)"),
            ("epochs", String(format: "%.2f", Double(spec.schedule.totalSteps * spec.batch.global) / Double(resolved.train.count))),
        ]
        let teacher: [(String, String)] = spec.compressionAware.map { aware in [
            ("compression_aware.teacher_model", aware.teacherModel), ("compression_aware.teacher_checkpoint", aware.teacherCheckpoint),
            ("compression_aware.inherit", "\(aware.inherit)"), ("compression_aware.distill_weight", "\(aware.distillWeight)"),
            ("compression_aware.kl_weight", "\(aware.klWeight)"),
        ] } ?? []
        for (key, value) in rows + teacher { print("\(key)=\(value)") }
        for world in 1...8 {
            let split = (try? spec.accumulation(worldSize: world)).map { "\($0) micro-batch(es) of \(spec.batch.micro) per rank per step" }
            print("world_size_\(world)=\(split ?? "refused: \(spec.batch.global) is not a multiple of \(world) × \(spec.batch.micro)")")
        }
        let trainable = resolved.layout.trainableCount
        print("adapter_parameters=\(resolved.layout.parameterCount)")
        print("trainable_parameters=\(trainable)")
        print("reduced_bytes_per_step=\(GradientReducer.bytesPerStep(count: trainable, mode: spec.reduction))")
    }
}
