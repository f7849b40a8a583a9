import ArgumentParser
import Distributed
import Dispatch
import Foundation
import Kernels
import Training

/// `ttl-train eval JOB.yaml`: loss and accuracy of the base model alone (zero-shot), with the
/// adapters of a checkpoint, or with the adapters as the job starts (`--initial`: for a
/// compression-aware job, the compressed model with the inherited adapter), on any split; under
/// mpirun the ranks share the examples.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint's adapters, the base model alone (--zero-shot) or the job's starting adapters (--initial) on a split of the job's data.")

    @OptionGroup var options: JobOptions

    @Option(help: ArgumentHelp("A checkpoint of this job (default: the newest in the job's output that verifies).", valueName: "path"))
    var checkpoint: String?

    @Flag(name: .customLong("zero-shot"), help: "Evaluate the base model without adapters.")
    var zeroShot = false

    @Flag(help: "Evaluate the adapters as the job initialises them (a compression-aware job: the inherited adapter on the compressed model).")
    var initial = false

    @Option(help: "The split to evaluate (default: the job's eval split).")
    var split: String?

    @Option(help: "Examples to evaluate, from the start of the split (default: all).")
    var examples: Int?

    @Option(help: "Compute threads per rank (matrix products, attention, activations, cross-entropy). (default: this machine's cores ÷ ranks on it)")
    var threads: Int?

    func validate() throws {
        if [zeroShot, initial, checkpoint != nil].filter({ $0 }).count > 1 {
            throw ValidationError("give one of --zero-shot, --initial and --checkpoint")
        }
    }

    func run() throws {
        let world = try MPICommunicator.world()
        ComputeThreads.set(threads ?? RankThreads.automatic)
        let (trainer, source, name, count) = try agreeing(world) {
            let trainer = try Trainer(spec: try options.load(), file: options.job, communicator: world)
            let name = split ?? trainer.spec.evalSplit
            let available = try trainer.resolved.dataset.split(name).count
            return (trainer, try loadAdapters(into: trainer), name, min(examples ?? available, available))
        }
        let started = DispatchTime.now().uptimeNanoseconds
        let (loss, accuracy) = try trainer.evaluate(split: name, examples: count)
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

    /// Puts the adapters to evaluate in place (none for zero-shot) and says where they came from.
    private func loadAdapters(into trainer: Trainer) throws -> String {
        let fingerprint = trainer.resolved.model.fingerprint
        if zeroShot {
            trainer.model.linearHook = nil
            return "zero-shot (no adapter)"
        }
        if initial {
            return trainer.spec.compressionAware?.inherit == true ? "initial (inherited from \(trainer.spec.compressionAware!.teacherCheckpoint))" : "initial"
        }
        if let checkpoint {
            _ = try Checkpoint.read(checkpoint, into: trainer.adapters, optimizer: trainer.optimizer, modelFingerprint: fingerprint)
            return checkpoint
        }
        guard let found = Checkpoint.resumeNewest(in: trainer.checkpointDirectory, adapters: trainer.adapters, optimizer: trainer.optimizer,
                                                  modelFingerprint: fingerprint) else {
            throw TrainerError(problem: "\(trainer.checkpointDirectory) has no usable checkpoint: pass --checkpoint PATH or --zero-shot")
        }
        return found.path
    }
}
