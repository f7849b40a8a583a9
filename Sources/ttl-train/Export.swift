import ArgumentParser
import Export
import Foundation

/// `ttl-train export C.h5 --format peft --out DIR`.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's adapters as a PEFT LoRA adapter (adapter_model.safetensors, adapter_config.json, a README.md model card).",
        discussion: """
            Each adapter kind writes its own PEFT form: LoRA as it is, sparse LoRA as a dense LoRA (pruned \
            entries are zeros), TT-LoRA exactly as a LoRA of its tensor-train rank (the cores split at the \
            input/output boundary), and so on (README, "Export"). Load it with \
            PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(BASE), DIR). The model card names the \
            weights the adapter was trained on (fingerprint and source) and says when they are not BASE's own.
            """)

    @Argument(help: ArgumentHelp("The checkpoint (HDF5).", valueName: "checkpoint.h5"))
    var checkpoint: String

    /// What `export` can write.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case peft
    }

    @Option(help: "Export format.")
    var format: Format = .peft

    @Option(help: ArgumentHelp("Directory to write (created if missing).", valueName: "dir"))
    var out: String

    @Option(name: .customLong("base-model"), help: "Hugging Face id of the model the base .h5 was imported from (adapter_config.json's base_model_name_or_path).")
    var baseModel = "HuggingFaceTB/SmolLM2-135M-Instruct"

    func run() throws {
        let result = try PEFTExport.write(checkpoint: checkpoint, to: out, baseModel: baseModel)
        print("adapter_kind=\(result.kind)")
        print("targets=\(result.targets)")
        print("target_modules=\(result.targetModules.joined(separator: ","))")
        print("r=\(result.rank)")
        print("lora_alpha=\(result.loraAlpha)")
        print("files=\((out as NSString).appendingPathComponent("adapter_model.safetensors")),\((out as NSString).appendingPathComponent("adapter_config.json"))")
    }
}
