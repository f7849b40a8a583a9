/// The decoder families ttl-train runs. They share llama's block (pre-norm RMSNorm, rotate-half
/// RoPE, grouped-query attention, SwiGLU) and differ in a few switches `LlamaConfig` carries —
/// biases on some linear layers, RMSNorm on queries and keys, the RoPE frequencies, a sliding
/// window — and in the names Hugging Face gives them, which `export --format hf` writes back.
public enum ModelFamily: String, CaseIterable, Sendable {
    /// Llama 1–3.x, SmolLM: biases only with `attention_bias` (q, k, v, o) or `mlp_bias`.
    case llama
    /// Qwen2 and Qwen2.5: a bias on q, k and v.
    case qwen2
    /// Qwen3: RMSNorm over each head of q and k before RoPE; biases only with `attention_bias`.
    case qwen3
    /// Mistral: llama's block with a sliding attention window.
    case mistral

    /// transformers' class for the family (`config.json`'s `architectures`).
    public var huggingFaceArchitecture: String {
        switch self {
        case .llama: return "LlamaForCausalLM"
        case .qwen2: return "Qwen2ForCausalLM"
        case .qwen3: return "Qwen3ForCausalLM"
        case .mistral: return "MistralForCausalLM"
        }
    }

    /// The sets of linear layers that carry a bias together in the family's Hugging Face
    /// implementation; a model's biased sites must be a union of them (so export can say it).
    var biasGroups: [Set<LinearSite>] {
        let attention: Set<LinearSite> = [.qProj, .kProj, .vProj, .oProj]
        switch self {
        case .llama: return [attention, [.gateProj, .upProj, .downProj]]
        case .qwen2: return [[.qProj, .kProj, .vProj]]
        case .qwen3: return [attention]
        case .mistral: return []
        }
    }

    /// Whether the family always has a bias on q, k and v (Qwen2's attention hard-codes it).
    var requiredBiases: Set<LinearSite> {
        self == .qwen2 ? [.qProj, .kProj, .vProj] : []
    }

    /// Whether the family normalizes each head of q and k (Qwen3's `q_norm`, `k_norm`).
    public var normalizesQueryKey: Bool { self == .qwen3 }
}
