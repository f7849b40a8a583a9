import Adapters
import Foundation
import HDF5
import Training

/// A checkpoint's adapters as a PEFT LoRA adapter directory — `adapter_model.safetensors` and
/// `adapter_config.json` with Hugging Face module names — which `PeftModel.from_pretrained` loads
/// onto the Hugging Face model the base was imported from. Each adapter kind says what its PEFT
/// form is (`AdapterKind.peftModule`: LoRA as it is, sparse LoRA dense with its zeros, TT-LoRA as
/// the exact rank-r LoRA of its train, DoRA with `use_dora` and its magnitudes) or refuses.
public enum PEFTExport {
    public struct Result: Sendable {
        public var kind: String
        public var rank: Int
        public var loraAlpha: Double
        public var targets: Int
        public var targetModules: [String]
    }

    public static func write(checkpoint path: String, to directory: String, baseModel: String) throws -> Result {
        let summary = try Checkpoint.summary(of: path)
        let adapters = summary.adapters
        guard let first = adapters.first else { throw ExportError(path: path, problem: "has no adapters") }
        if let recovered = adapters.first(where: { $0.recovery != nil }) {
            throw ExportError(path: path, problem: "\(recovered.target) has a CA-LoRA recovery module (\(recovered.recovery!)), which a PEFT LoRA adapter cannot hold; evaluate it with ttl-train eval")
        }
        let modules = try adapters.map { adapter -> (StoredAdapter, PEFTModule) in
            do {
                return (adapter, try adapter.kind.method.peftModule(adapter))
            } catch let error as AdapterKindError {
                throw ExportError(path: path, problem: "\(adapter.kind) adapters have no PEFT form: \(error)")
            }
        }
        let peft = modules[0].1
        guard modules.allSatisfy({ $0.1.rank == peft.rank && $0.1.loraAlpha == peft.loraAlpha && $0.1.useDora == peft.useDora }) else {
            throw ExportError(path: path, problem: "adapters differ in rank or alpha, which one adapter_config.json cannot say")
        }
        var tensors: [SafeTensors.Tensor] = []
        for (adapter, module) in modules {
            let prefix = "base_model.model.model.layers.\(adapter.layer).\(adapter.site.modulePath)"
            for tensor in module.tensors {
                tensors.append(SafeTensors.Tensor(name: "\(prefix).\(tensor.suffix)", shape: tensor.shape, values: tensor.values))
            }
        }
        let targetModules = Array(Set(adapters.map(\.site.rawValue))).sorted()
        let layers = Array(Set(adapters.map(\.layer))).sorted()
        let provenance = try Provenance(checkpoint: path, summary: summary, baseModel: baseModel)
        var config = loraConfigDefaults
        for (key, value) in [
            "task_type": "CAUSAL_LM", "base_model_name_or_path": baseModel, "r": peft.rank, "lora_alpha": peft.loraAlpha,
            "lora_dropout": provenance.dropout, "target_modules": targetModules, "layers_to_transform": layers, "inference_mode": true,
            "use_dora": peft.useDora,
        ] as [String: Any] { config[key] = value }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = { (name: String) in (directory as NSString).appendingPathComponent(name) }
        try DurableFile.write(Array(try SafeTensors.encode(tensors, metadata: provenance.metadata)), to: file("adapter_model.safetensors"))
        try DurableFile.write(Array(try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])),
                              to: file("adapter_config.json"))
        try DurableFile.write(Array(provenance.modelCard(method: peft.method, loraAlpha: peft.loraAlpha, modules: targetModules, layers: layers).utf8),
                              to: file("README.md"))
        return Result(kind: first.kind.rawValue, rank: peft.rank, loraAlpha: peft.loraAlpha, targets: adapters.count, targetModules: targetModules)
    }

    /// The PEFT version whose `LoraConfig` the config follows: every key it writes, with its
    /// defaults (`LoraConfig(...).to_dict()` of peft 0.21.2), so PEFT reads back exactly what it
    /// would have saved itself.
    public static let peftVersion = "0.21.2"

    static var loraConfigDefaults: [String: Any] {
        let none = NSNull()
        return [
            "alora_invocation_tokens": none, "alpha_pattern": [String: Double](), "arrow_config": none, "auto_mapping": none,
            "base_model_name_or_path": none, "bias": "none", "corda_config": none, "ensure_weight_tying": false, "eva_config": none,
            "exclude_modules": none, "fan_in_fan_out": false, "inference_mode": false, "init_lora_weights": true, "kasa_config": none,
            "layer_replication": none, "layers_pattern": none, "layers_to_transform": none, "loftq_config": [String: Any](),
            "lora_alpha": 8, "lora_bias": false, "lora_dropout": 0.0, "lora_ga_config": none, "megatron_config": none,
            "megatron_core": "megatron.core", "modules_to_save": none, "monteclora_config": none, "peft_type": "LORA",
            "peft_version": peftVersion, "qalora_group_size": 16, "r": 8, "rank_pattern": [String: Int](), "revision": none,
            "target_modules": none, "target_parameters": none, "task_type": none, "trainable_token_indices": none,
            "use_bdlora": none, "use_dora": false, "use_qalora": false, "use_rslora": false, "velora_config": none,
        ]
    }
}

/// A checkpoint that cannot be exported.
public struct ExportError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String

    public var description: String { "\(path): \(problem)" }
}
