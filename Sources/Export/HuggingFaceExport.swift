import Foundation
import HDF5
import Llama

/// A model as a Hugging Face checkpoint directory — `config.json`, `model.safetensors` (float32,
/// the weights' own Hugging Face names), `tokenizer.json` and, where the tokenizer has one beside
/// it, `tokenizer_config.json` (special tokens and the chat template travel out too) — that
/// transformers' class of the model's family (`LlamaForCausalLM`, `Qwen2ForCausalLM`, …) loads with
/// `from_pretrained` and llama.cpp's converter reads; with a `ModelMerge`,
/// the fine-tuned model. Quantized weights are decoded and Tucker factors multiplied out, since
/// the format holds dense tensors.
public enum HuggingFaceExport {
    public struct Result: Sendable {
        public var tensors: Int
        public var bytes: Int
    }

    public static func write(model: ModelFile, merge: ModelMerge?, tokenizer: String, to directory: String) throws
        -> Result
    {
        guard FileManager.default.fileExists(atPath: tokenizer) else {
            throw ExportError(path: tokenizer, problem: "no such tokenizer file (pass --tokenizer PATH)")
        }
        let config = model.config
        var tensors: [SafeTensors.Tensor] = []
        for (name, shape) in config.weightShapes {
            let values = try merge?.merged(name) ?? model.decoded(name)
            tensors.append(SafeTensors.Tensor(name: name, shape: shape, values: values))
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = { (name: String) in (directory as NSString).appendingPathComponent(name) }
        let weights = try SafeTensors.encode(
            tensors, metadata: ["format": "pt", "ttl_train_base_model_fingerprint": model.fingerprint])
        try DurableFile.write(Array(weights), to: file("model.safetensors"))
        try DurableFile.write(
            Array(
                try JSONSerialization.data(withJSONObject: configJSON(model), options: [.prettyPrinted, .sortedKeys])),
            to: file("config.json"))
        try DurableFile.write(Array(try Data(contentsOf: URL(fileURLWithPath: tokenizer))), to: file("tokenizer.json"))
        let tokenizerConfig = ((tokenizer as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
            "tokenizer_config.json")
        if FileManager.default.fileExists(atPath: tokenizerConfig) {
            try DurableFile.write(
                Array(try Data(contentsOf: URL(fileURLWithPath: tokenizerConfig))), to: file("tokenizer_config.json"))
        }
        return Result(tensors: tensors.count, bytes: weights.count)
    }

    /// transformers' config of the model's family (`LlamaConfig`, `Qwen2Config`, …) in the
    /// spelling transformers 4 and 5 and llama.cpp's converter all read: `rope_theta` and
    /// `rope_scaling` at the top level.
    static func configJSON(_ model: ModelFile) -> [String: Any] {
        let config = model.config
        let family = config.family
        var json: [String: Any] = [
            "architectures": [family.huggingFaceArchitecture], "model_type": family.rawValue, "torch_dtype": "float32",
            "vocab_size": config.vocabSize, "hidden_size": config.hiddenSize,
            "intermediate_size": config.intermediateSize,
            "num_hidden_layers": config.layerCount, "num_attention_heads": config.attentionHeads,
            "num_key_value_heads": config.keyValueHeads, "head_dim": config.headDim,
            "max_position_embeddings": config.contextLength, "rope_theta": config.ropeTheta,
            "rms_norm_eps": config.rmsNormEpsilon,
            "tie_word_embeddings": config.tiedEmbeddings, "hidden_act": "silu",
            "rope_scaling": ropeScaling(config.ropeScaling),
            "initializer_range": 0.02, "use_cache": true,
        ]
        switch family {
        case .llama:
            json["attention_bias"] = config.biasedSites.contains(.qProj)
            json["mlp_bias"] = config.biasedSites.contains(.gateProj)
        case .qwen2, .qwen3:
            json["use_sliding_window"] = false
            json["sliding_window"] = NSNull()
            json["max_window_layers"] = config.layerCount
            if family == .qwen3 { json["attention_bias"] = config.biasedSites.contains(.qProj) }
        case .mistral:
            json["sliding_window"] = config.slidingWindow.map { $0 as Any } ?? NSNull()
        }
        if let eos = model.endOfSequence { json["eos_token_id"] = Int(eos) }
        return json
    }

    /// `rope_scaling` as transformers spells it (null for plain RoPE).
    private static func ropeScaling(_ scaling: RopeScaling) -> Any {
        switch scaling {
        case .none:
            return NSNull()
        case .linear(let factor):
            return ["rope_type": "linear", "factor": factor] as [String: Any]
        case .llama3(let factor, let low, let high, let original):
            return [
                "rope_type": "llama3", "factor": factor, "low_freq_factor": low, "high_freq_factor": high,
                "original_max_position_embeddings": original,
            ] as [String: Any]
        }
    }
}
