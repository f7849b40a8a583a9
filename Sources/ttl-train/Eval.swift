import Adapters
import ArgumentParser
import Distributed
import Dispatch
import Foundation
import Kernels
import Llama
import Training

/// `ttl-train eval JOB.yaml`: loss and accuracy of the base model alone (zero-shot), with the
/// adapters of a checkpoint, or with the adapters as the job starts (`--initial`: for a
/// compression-aware job, the compressed model with the inherited adapter), on any split; under
/// mpirun the ranks share the examples. It runs an `InferenceModel`: no optimizer, no activations
/// for a backward, and no CA-LoRA teacher model.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint's adapters, the base model alone (--zero-shot) or the job's starting adapters (--initial) on a split of the job's data.")

    @OptionGroup var options: JobOptions

    @Option(help: ArgumentHelp("A checkpoint trained on the job's model (default: the newest in the job's output that verifies).", valueName: "path"))
    var checkpoint: String?

    @Flag(name: .customLong("zero-shot"), help: "Evaluate the base model without adapters.")
    var zeroShot = false

    @Flag(help: "Evaluate the adapters as the job initialises them (a compression-aware job: the inherited adapter on the compressed model).")
    var initial = false

    @Option(help: "The split to evaluate (default: the job's eval split).")
    var split: String?

    @Option(help: "Examples to evaluate, from the start of the split (default: all).")
    var examples: Int?

    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        if [zeroShot, initial, checkpoint != nil].filter({ $0 }).count > 1 {
            throw ValidationError("give one of --zero-shot, --initial and --checkpoint")
        }
    }

    func run() throws {
        let world = try MPICommunicator.world()
        threads.apply()
        let spec = try agreeing(world) {
            let spec = try options.load()
            if world.isRoot { _ = try JobData.prepare(spec, file: options.job) }
            return spec
        }
        let (evaluation, inference, source, name, count) = try agreeing(world) {
            let resolved = try spec.resolve(file: options.job)
            let weights = try LlamaWeights(file: resolved.model, memory: try world.nodeWeightMemory())
            let inference = InferenceModel(weights: weights, fingerprint: resolved.model.fingerprint,
                                           maxTokens: spec.batch.micro * spec.batch.maxLength, maxSequenceLength: spec.batch.maxLength)
            let name = split ?? spec.evalSplit
            let available = try resolved.dataset.split(name).count
            return (Evaluation(dataset: resolved.dataset, task: spec.task, communicator: world), inference,
                    try attachAdapters(to: inference, spec: spec, resolved: resolved), name, min(examples ?? available, available))
        }
        let started = DispatchTime.now().uptimeNanoseconds
        let (loss, accuracy) = try evaluation.run(inference.model, split: name, examples: count)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        guard world.isRoot else { return }
        print("adapters=\(source)")
        print("split=\(name)")
        print("examples=\(count)")
        print("loss=\(String(format: "%.6f", loss))")
        if let accuracy { print("accuracy=\(String(format: "%.4f", accuracy))") }
        print("seconds=\(String(format: "%.3f", seconds))")
        print("examples_per_s=\(String(format: "%.2f", Double(count) / seconds))")
    }

    /// Attaches the adapters to evaluate (none for zero-shot) and says where they came from.
    private func attachAdapters(to inference: InferenceModel, spec: JobSpec, resolved: JobSpec.Resolved) throws -> String {
        if zeroShot { return "zero-shot (no adapter)" }
        if initial {
            let inheriting = spec.compressionAware?.inherit == true
            let teacher = inheriting ? resolved.teacher?.adapterSet(maxRows: spec.batch.maxLength) : nil
            inference.attach(.starting(resolved.layout, spec: spec, model: inference.model, teacher: teacher))
            return inheriting ? "initial (inherited from \(spec.compressionAware!.teacherCheckpoint))" : "initial"
        }
        if let checkpoint {
            try inference.load(checkpoint: checkpoint)
            return checkpoint
        }
        var skipped: [String] = []
        for path in Checkpoint.list(spec.checkpointDirectory) {
            do {
                try inference.load(checkpoint: path)
                return path
            } catch {
                skipped.append("\(error)")
            }
        }
        throw TrainerError(problem: "\(spec.checkpointDirectory) has no usable checkpoint\(skipped.isEmpty ? "" : " (\(skipped.joined(separator: "; ")))"): pass --checkpoint PATH or --zero-shot")
    }
}
