import Foundation
import Training

/// A checkpoint's adapters as a PEFT LoRA adapter directory — `adapter_model.safetensors` and
/// `adapter_config.json` with Hugging Face module names — which `PeftModel.from_pretrained` loads
/// onto the Hugging Face model the base was imported from.
///
/// - LoRA: `A` and `B` as they are (`lora_alpha` = α, so PEFT's scale α/r is ours).
/// - Sparse LoRA: the same, with the pruned entries as the zeros they are (a dense LoRA).
/// - TT-LoRA: exactly, as a LoRA of the tensor-train rank r. The train's modes are the input
///   factors followed by the output factors, so contracting the input cores gives
///   `U (in, r)` and the output cores `V (r, out)` with `ΔW = α·U·V` — an exact rank-r
///   factorisation, no SVD and no approximation. Exported as `A = Uᵀ`, `B = α·Vᵀ`,
///   `lora_alpha = r` (PEFT scale 1).
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
        guard adapters.allSatisfy({ $0.rank == first.rank && $0.alpha == first.alpha }) else {
            throw ExportError(path: path, problem: "adapters differ in rank or alpha, which one adapter_config.json cannot say")
        }
        var tensors: [SafeTensors.Tensor] = []
        for adapter in adapters {
            let (a, b) = try loraFactors(adapter, checkpoint: path)
            let prefix = "base_model.model.model.layers.\(adapter.layer).\(adapter.module)"
            tensors.append(SafeTensors.Tensor(name: "\(prefix).lora_A.weight", shape: [adapter.rank, adapter.inFeatures], values: a))
            tensors.append(SafeTensors.Tensor(name: "\(prefix).lora_B.weight", shape: [adapter.outFeatures, adapter.rank], values: b))
        }
        let isTensorTrain = first.kind == "tt-lora"
        let loraAlpha = isTensorTrain ? Double(first.rank) : first.alpha
        let modules = Array(Set(adapters.map { String($0.module.split(separator: ".").last!) })).sorted()
        let layers = Array(Set(adapters.map(\.layer))).sorted()
        let provenance = try Provenance(checkpoint: path, summary: summary, baseModel: baseModel)
        var config = loraConfigDefaults
        for (key, value) in [
            "task_type": "CAUSAL_LM", "base_model_name_or_path": baseModel, "r": first.rank, "lora_alpha": loraAlpha,
            "lora_dropout": provenance.dropout, "target_modules": modules, "layers_to_transform": layers, "inference_mode": true,
        ] as [String: Any] { config[key] = value }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try SafeTensors.encode(tensors, metadata: provenance.metadata)
            .write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("adapter_model.safetensors")), options: .atomic)
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("adapter_config.json")), options: .atomic)
        try provenance.modelCard(rank: first.rank, loraAlpha: loraAlpha, modules: modules, layers: layers)
            .write(toFile: (directory as NSString).appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        return Result(kind: first.kind, rank: first.rank, loraAlpha: loraAlpha, targets: adapters.count, targetModules: modules)
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

    /// `A (r, in)` and `B (out, r)`, row-major, such that PEFT's `ΔW = (lora_alpha/r)·B·A` is ours.
    static func loraFactors(_ adapter: StoredAdapter, checkpoint: String) throws -> ([Float], [Float]) {
        if let a = adapter.tensor("A"), let b = adapter.tensor("B") { return (a.values, b.values) }
        let inCores = adapter.inFactors.count
        let coreCount = inCores + adapter.outFactors.count
        let cores = try (0..<coreCount).map { k in
            guard let core = adapter.tensor("core_\(k)") else { throw ExportError(path: checkpoint, problem: "\(adapter.target) has no core_\(k)") }
            return core
        }
        let u = contract(cores[..<inCores])
        let v = contract(cores[inCores...])
        let r = adapter.rank
        let (inFeatures, outFeatures) = (adapter.inFeatures, adapter.outFeatures)
        var a = [Float](repeating: 0, count: r * inFeatures)
        var b = [Float](repeating: 0, count: outFeatures * r)
        for i in 0..<inFeatures {
            for k in 0..<r { a[k * inFeatures + i] = Float(u[i * r + k]) }
        }
        for o in 0..<outFeatures {
            for k in 0..<r { b[o * r + k] = Float(adapter.alpha * v[k * outFeatures + o]) }
        }
        return (a, b)
    }

    /// Cores `(r_{k-1}, s_k, r_k)` multiplied along their bonds into a row-major
    /// `(r_first · s_1 ⋯ s_n, r_last)` matrix, in Double (starting from the identity on the
    /// first bond).
    static func contract(_ cores: ArraySlice<StoredAdapter.Tensor>) -> [Double] {
        var width = cores.first!.shape[0]
        var rows = width
        var result = (0..<(rows * width)).map { $0 / width == $0 % width ? 1.0 : 0.0 }
        for core in cores {
            let (left, mode, right) = (core.shape[0], core.shape[1], core.shape[2])
            precondition(left == width)
            var next = [Double](repeating: 0, count: rows * mode * right)
            for row in 0..<rows {
                for bond in 0..<left where result[row * left + bond] != 0 {
                    let weight = result[row * left + bond]
                    for s in 0..<mode {
                        for k in 0..<right {
                            next[(row * mode + s) * right + k] += weight * Double(core.values[(bond * mode + s) * right + k])
                        }
                    }
                }
            }
            result = next
            rows *= mode
            width = right
        }
        return result
    }
}

/// A checkpoint that cannot be exported.
public struct ExportError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String

    public var description: String { "\(path): \(problem)" }
}
