import ArgumentParser
import Distributed
import Foundation
import Kernels
import Training

/// `ttl-train eval JOB.yaml`: loss and accuracy of the base model alone (zero-shot), or with the
/// adapters of a checkpoint, on any split; under mpirun the ranks share the examples.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a checkpoint's adapters, or the base model alone (--zero-shot), on a split of the job's data.")

    @OptionGroup var options: JobOptions

    @Option(help: ArgumentHelp("A checkpoint of this job (default: the newest in the job's output that verifies).", valueName: "path"))
    var checkpoint: String?

    @Flag(name: .customLong("zero-shot"), help: "Evaluate the base model without adapters.")
    var zeroShot = false

    @Option(help: "The split to evaluate (default: the job's eval split).")
    var split: String?

    @Option(help: "Examples to evaluate, from the start of the split (default: all).")
    var examples: Int?

    @Option(help: "OpenBLAS threads per rank. (default: this machine's cores ÷ ranks on it)")
    var threads: Int?

    func validate() throws {
        if zeroShot && checkpoint != nil { throw ValidationError("give --zero-shot or --checkpoint, not both") }
    }

    func run() throws {
        let world = try MPICommunicator.world()
        BLASThreads.set(threads ?? RankThreads.automatic)
        let (trainer, source, name, count) = try agreeing(world) {
            let trainer = try Trainer(spec: try options.load(), file: options.job, communicator: world)
            let name = split ?? trainer.spec.evalSplit
            let available = try trainer.resolved.dataset.split(name).count
            return (trainer, try loadAdapters(into: trainer), name, min(examples ?? available, available))
        }
        let (loss, accuracy) = try trainer.evaluate(split: name, examples: count)
        guard world.isRoot else { return }
        print("adapters=\(source)")
        print("split=\(name)")
        print("examples=\(count)")
        print("loss=\(String(format: "%.6f", loss))")
        if let accuracy { print("accuracy=\(String(format: "%.4f", accuracy))") }
    }

    /// Puts the adapters to evaluate in place (none for zero-shot) and says where they came from.
    private func loadAdapters(into trainer: Trainer) throws -> String {
        let fingerprint = trainer.resolved.model.fingerprint
        if zeroShot {
            trainer.model.linearHook = nil
            return "zero-shot (no adapter)"
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
