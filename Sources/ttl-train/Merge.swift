import ArgumentParser
import Export
import Foundation
import HDF5
import Kernels
import Llama
import Training

/// `ttl-train merge CKPT --out M.h5`: the base model with the checkpoint's adapters folded in.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fold a checkpoint's adapters into its base model's weights and write the result as a model file.",
        discussion: """
            LoRA, sparse LoRA and TT-LoRA add their ΔW; DoRA rescales each adapted row to its magnitude. \
            Adapters with CA-LoRA recovery modules are refused. The result runs with every command, \
            without adapters, and can go on to export --format hf.
            """)

    @Argument(help: ArgumentHelp("The checkpoint (HDF5).", valueName: "checkpoint.h5"))
    var checkpoint: String

    @Option(help: ArgumentHelp("The base model it was trained on (default: the model its job spec names).", valueName: "path"))
    var model: String?

    @OptionGroup var output: OutputFileOptions

    @Option(help: "Store every matrix in this block format instead of keeping the base's storage (adapted matrices: float32).")
    var dtype: QuantizationFormat?

    func run() throws {
        let merge = try ModelMerge(model: try BaseModel.of(checkpoint: checkpoint, given: model), checkpoint: checkpoint)
        try merge.write(to: output.out, format: dtype)
        // The tokenizer goes with the weights: where commands look for it (beside the model).
        let beside = { (model: String) in ((model as NSString).deletingLastPathComponent as NSString).appendingPathComponent("tokenizer.json") }
        if FileManager.default.fileExists(atPath: beside(merge.model.path)), !FileManager.default.fileExists(atPath: beside(output.out)) {
            try DurableFile.write(Array(try Data(contentsOf: URL(fileURLWithPath: beside(merge.model.path)))), to: beside(output.out))
        }
        let merged = try ModelFile(path: output.out)
        print("model=\(output.out)")
        print("fingerprint=\(merged.fingerprint)")
        print("weight_storage=\(merged.storageDescription)")
        print("file_bytes=\(try ModelFile.sizeOnDisk(output.out))")
    }
}

/// The base model of a checkpoint: the one given, or the one its recorded job spec names.
enum BaseModel {
    static func of(checkpoint: String, given: String?) throws -> ModelFile {
        if let given { return try ModelFile(path: given) }
        let state = try Checkpoint.state(of: checkpoint)
        guard let job = try? JobSpec.parse(state.jobSpec, file: "\(checkpoint) (its job_spec)") else {
            throw CommandError("\(checkpoint): its job spec does not name a readable model; pass --model PATH")
        }
        return try ModelFile(path: job.model)
    }
}
