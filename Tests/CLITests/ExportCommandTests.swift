import Foundation
import Llama
import TestSupport
import XCTest

/// `ttl-train export --format peft` says what was trained: the dropout as trained, PEFT's own
/// config keys and version, and a model card naming the base weights — saying so when they are
/// not the Hugging Face model's own.
final class ExportCommandTests: XCTestCase {
    /// The keys of `LoraConfig(...).to_dict()` in peft 0.21.2 (printed by that library), which an
    /// exported adapter_config.json must hold, no more and no fewer.
    private static let peftKeys: Set<String> = [
        "alora_invocation_tokens", "alpha_pattern", "arrow_config", "auto_mapping", "base_model_name_or_path", "bias", "corda_config",
        "ensure_weight_tying", "eva_config", "exclude_modules", "fan_in_fan_out", "inference_mode", "init_lora_weights", "kasa_config",
        "layer_replication", "layers_pattern", "layers_to_transform", "loftq_config", "lora_alpha", "lora_bias", "lora_dropout",
        "lora_ga_config", "megatron_config", "megatron_core", "modules_to_save", "monteclora_config", "peft_type", "peft_version",
        "qalora_group_size", "r", "rank_pattern", "revision", "target_modules", "target_parameters", "task_type",
        "trainable_token_indices", "use_bdlora", "use_dora", "use_qalora", "use_rslora", "velora_config",
    ]

    func testTheExportCarriesTheTrainedDropoutPEFTsKeysAndAnHonestCard() throws {
        let directory = try TemporaryDirectory()
        let job = try TinyJob(directory: directory)
        // The same weights, described as an import of a quantized GGUF would describe them.
        try ModelWriter.writeRandom(to: job.modelPath, config: .tiny, seed: 5, scale: 0.15,
                                    source: "tiny (tiny.Q4_1.gguf: Q4_1 ×14, F32 ×5; dequantized to float32)")
        let output = directory.path("run")
        let spec = try job.writeSpec(steps: 2, output: output, extra: ", dropout: 0.05")
        XCTAssertEqual(try ChildProcess.ttlTrain(["train", spec]).status, 0)
        let exported = directory.path("peft")
        let run = try ChildProcess.ttlTrain(["export", "\(output)/checkpoints/step-000002.h5", "--out", exported])
        XCTAssertEqual(run.status, 0, run.stderr)

        let config = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(exported)/adapter_config.json"))) as? [String: Any])
        XCTAssertEqual(Set(config.keys), Self.peftKeys)
        XCTAssertEqual(config["lora_dropout"] as? Double, 0.05)
        XCTAssertEqual(config["peft_version"] as? String, "0.21.2")
        XCTAssertEqual(config["r"] as? Int, 4)
        XCTAssertEqual(config["base_model_name_or_path"] as? String, "HuggingFaceTB/SmolLM2-135M-Instruct")
        XCTAssertEqual(config["inference_mode"] as? Bool, true)

        let card = try String(contentsOfFile: "\(exported)/README.md", encoding: .utf8)
        let fingerprint = try ChildProcess.ttlTrain(["info", "--model", job.modelPath]).keyValues["fingerprint"] ?? "?"
        XCTAssertTrue(card.hasPrefix("---\nbase_model: HuggingFaceTB/SmolLM2-135M-Instruct\nlibrary_name: peft\n"), card)
        XCTAssertTrue(card.contains("# tiny\n"), card)
        XCTAssertTrue(card.contains("Trained on `\(fingerprint)`"), card)
        XCTAssertTrue(card.contains("tiny.Q4_1.gguf: Q4_1 ×14, F32 ×5; dequantized to float32"), card)
        XCTAssertTrue(card.contains("These are **not** the original weights of `HuggingFaceTB/SmolLM2-135M-Instruct`"), card)
        XCTAssertTrue(card.contains("`lora_dropout` 0.05"), card)
        XCTAssertTrue(card.contains("- steps: 2 of 2, 12 examples each"), card)
        XCTAssertTrue(card.contains("At step 2, on `validation`: loss "), card)

        // Weights that are what they say: no such warning.
        try ModelWriter.writeRandom(to: job.modelPath, config: .tiny, seed: 5, scale: 0.15)
        let plain = directory.path("peft-plain")
        XCTAssertEqual(try ChildProcess.ttlTrain(["export", "\(output)/checkpoints/step-000002.h5", "--out", plain]).status, 0)
        XCTAssertFalse(try String(contentsOfFile: "\(plain)/README.md", encoding: .utf8).contains("**not**"))

        // A second export into the same directory would replace the first: refused, nothing touched, unless --force.
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(exported)/README.md"))
        let again = try ChildProcess.ttlTrain(["export", "\(output)/checkpoints/step-000002.h5", "--out", exported])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertEqual(again.stderr, "Error: \(exported)/adapter_model.safetensors exists; choose another --out or pass --force to overwrite it\n")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(exported)/README.md")), before)
        XCTAssertEqual(try ChildProcess.ttlTrain(["export", "\(output)/checkpoints/step-000002.h5", "--out", exported, "--force"]).status, 0)
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: "\(exported)/README.md")), before, "the card of the dropout-free weights")
    }
}
