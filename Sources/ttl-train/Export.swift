import ArgumentParser
import Export
import Foundation
import Llama

/// `ttl-train export C.h5 --format peft --out DIR`, or `--format hf` for a checkpoint (merged into
/// its base) or a model file.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's adapters for PEFT, or a (fine-tuned) model as a Hugging Face checkpoint.",
        discussion: """
            --format peft: adapter_model.safetensors, adapter_config.json and a README.md model card. Each \
            adapter kind writes its own PEFT form: LoRA as it is, sparse LoRA as a dense LoRA (pruned \
            entries are zeros), TT-LoRA exactly as a LoRA of its tensor-train rank (the cores split at the \
            input/output boundary), and so on (README, "Export"). Load it with \
            PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(BASE), DIR). The model card names the \
            weights the adapter was trained on (fingerprint and source) and says when they are not BASE's own.
            --format hf: config.json, model.safetensors (float32), tokenizer.json and tokenizer_config.json of a model \
            file, or of a \
            checkpoint's base with its adapters merged in: LlamaForCausalLM.from_pretrained(DIR) loads it.
            """)

    @Argument(help: ArgumentHelp("The checkpoint (HDF5), or for --format hf a model file.", valueName: "file.h5"))
    var file: String

    /// What `export` can write.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case peft, hf

        /// The files it writes in --out.
        var files: [String] {
            switch self {
            case .peft: return ["adapter_model.safetensors", "adapter_config.json", "README.md"]
            case .hf: return ["config.json", "model.safetensors", "tokenizer.json"]
            }
        }
    }

    @Option(help: "Export format.")
    var format: Format = .peft

    @Option(
        help: ArgumentHelp(
            "Directory to write (created if missing; refused if it holds a file of the format, unless --force).",
            valueName: "dir"))
    var out: String

    @Flag(help: "Overwrite the format's files in --out if they exist.")
    var force = false

    @Option(
        name: .customLong("base-model"),
        help: ArgumentHelp(
            "Hugging Face id of the model the base .h5 was imported from (adapter_config.json's "
                + "base_model_name_or_path).")
    )
    var baseModel = "HuggingFaceTB/SmolLM2-135M-Instruct"

    @Option(
        help: ArgumentHelp(
            "--format hf of a checkpoint: its base model (default: the model its job spec names).", valueName: "path"))
    var model: String?

    @Option(
        help: ArgumentHelp(
            "--format hf: the tokenizer.json to include (default: the one beside the model).", valueName: "path"))
    var tokenizer: String?

    /// The paths of the files the export writes.
    private var paths: [String] { format.files.map { (out as NSString).appendingPathComponent($0) } }

    func validate() throws {
        try OutputFileOptions.refuseOverwriting(paths, force: force)
    }

    func run() throws {
        switch format {
        case .peft:
            let result = try PEFTExport.write(checkpoint: file, to: out, baseModel: baseModel)
            print("adapter_kind=\(result.kind)")
            print("targets=\(result.targets)")
            print("target_modules=\(result.targetModules.joined(separator: ","))")
            print("r=\(result.rank)")
            print("lora_alpha=\(result.loraAlpha)")
            print("files=\(paths.joined(separator: ","))")
        case .hf:
            let isModel = (try? ModelFile(path: file)) != nil
            let base = isModel ? try ModelFile(path: file) : try BaseModel.of(checkpoint: file, given: model)
            let merge = isModel ? nil : try ModelMerge(model: base, checkpoint: file)
            let tokenizerPath =
                tokenizer
                ?? ((base.path as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
                    "tokenizer.json")
            let result = try HuggingFaceExport.write(model: base, merge: merge, tokenizer: tokenizerPath, to: out)
            print("merged=\(merge.map { _ in file } ?? "none")")
            print("tensors=\(result.tensors)")
            print("safetensors_bytes=\(result.bytes)")
            print("files=\(paths.joined(separator: ","))")
        }
    }
}
