import ArgumentParser
import Compression
import Distributed
import Foundation
import Kernels
import Llama
import Sweeps
import Training

/// `mpirun -np N ttl-train sweep …`: the compression design-space sweep, plans spread over ranks.
struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure compression plans: size, held-out perplexity and accuracy, the plans spread across MPI ranks.",
        discussion: """
            Each plan decomposes the dense model in memory (no model file is written); the sweep then \
            measures its stored parameters, the perplexity of --ids (or --text) in windows of --ctx tokens, the \
            zero-shot accuracy on the first --examples of the classification job's eval split, and \
            with --checkpoint the accuracy with that adapter (trained on the dense model) kept as it \
            is. Row 0 of the results is the dense model. scripts/sweep_compress.py makes the plans \
            and plots the results.
            """)

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: ArgumentHelp("A classification job whose data and eval split measure accuracy.", valueName: "job.yaml"))
    var job: String

    @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("Compression plans (YAML), or directories of them.", valueName: "plan"))
    var plans: [String]

    @OptionGroup var heldOut: TokenInput

    @Option(help: ArgumentHelp("An adapter checkpoint of the job, trained on the dense model.", valueName: "path"))
    var checkpoint: String?

    @Option(help: "Eval-split examples for the accuracies.")
    var examples = 128

    @Option(help: "Window length in tokens for the perplexity.")
    var ctx = 512

    /// The results file (HDF5; ttl-train-sweep format).
    @OptionGroup var output: OutputFileOptions

    @OptionGroup var threads: ThreadOptions

    func validate() throws {
        guard examples >= 1 else { throw ValidationError("--examples must be at least 1") }
        guard ctx >= 2 else { throw ValidationError("--ctx must be at least 2 (one token predicts the next)") }
        guard !plans.isEmpty else { throw ValidationError("give at least one plan with --plans") }
    }

    func run() throws {
        let world = try MPICommunicator.world()
        threads.apply()
        let (sweep, named) = try agreeing(world) { () -> (CompressionSweep, [(String, CompressionPlan)]) in
            let file = try model.open()
            let named = try planFiles().map { ($0.name, try CompressionPlan.load(path: $0.path, config: file.config)) }
            let sweep = try CompressionSweep(model: file, job: try JobSpec.load(path: job), jobFile: job, checkpoint: checkpoint,
                                             heldOut: try heldOut.tokens(model: file), window: ctx,
                                             examples: examples)
            return (sweep, named)
        }
        let names = ["dense"] + named.map(\.0)
        let rank = world.rank
        let measurements: [CompressionSweep.Measurement]
        do {
            measurements = try sweep.run([nil] + named.map(\.1), communicator: world) { index, result in
                print(String(format: "rank %d: %@  parameters %d  perplexity %.3f  zero-shot %.4f  adapter %.4f  (%.0f s)", rank, names[index],
                             result.parameters, result.perplexity, result.zeroShotAccuracy, result.adapterAccuracy, result.seconds))
                fflush(nil)
            }
        } catch {
            if world.size > 1 { world.abort("\(error)", exitCode: 1) }
            throw error
        }
        guard world.isRoot else { return }
        try SweepResultsFile.write(to: output.out, names: names, planTexts: [""] + named.map(\.1.text), measurements: measurements, attributes: [
            "model": model.path, "model_fingerprint": sweep.model.fingerprint, "job": job, "eval_split": sweep.job.evalSplit,
            "eval_examples": "\(examples)", "held_out": heldOut.source, "held_out_tokens": "\(sweep.heldOut.count)", "ctx": "\(sweep.window)",
            "checkpoint": checkpoint ?? "",
        ], worldSize: world.size)
        print("plans=\(names.count)")
        print("out=\(output.out)")
    }

    /// Every plan file named, directories expanded to their `.yaml` files in name order.
    private func planFiles() throws -> [(name: String, path: String)] {
        try plans.flatMap { path -> [(name: String, path: String)] in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CommandError("\(path): no such plan file or directory") }
            let files = isDirectory.boolValue
                ? try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".yaml") }.sorted().map { (path as NSString).appendingPathComponent($0) }
                : [path]
            return files.map { (((($0 as NSString).lastPathComponent) as NSString).deletingPathExtension, $0) }
        }
    }
}
