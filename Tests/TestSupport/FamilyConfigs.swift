import Llama

extension LlamaConfig {
    /// `tiny` in every family ttl-train runs, each with its switches on: Llama 3's scaled RoPE
    /// (an original context of 4 positions, so short test sequences cross every band), Qwen2's
    /// q/k/v biases, Qwen3's q/k norms with a head_dim that is not hidden ÷ heads and biases on
    /// q/k/v/o, Mistral's sliding window (wider than any test sequence).
    public static let tinyFamilies: [LlamaConfig] = [
        .tiny,
        family(.llama) {
            $0.ropeScaling = .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 4)
            $0.biasedSites = [.gateProj, .upProj, .downProj]
        },
        family(.qwen2) { $0.biasedSites = [.qProj, .kProj, .vProj] },
        family(.qwen3) {
            $0.queryKeyNorm = true
            $0.headDim = 24
            $0.biasedSites = [.qProj, .kProj, .vProj, .oProj]
        },
        family(.mistral) { $0.slidingWindow = 64 },
    ]

    private static func family(_ family: ModelFamily, _ change: (inout LlamaConfig) -> Void) -> LlamaConfig {
        var config = LlamaConfig.tiny
        config.family = family
        change(&config)
        return config
    }

    /// A short label for test messages: the family and its switches.
    public var label: String {
        var parts = [family.rawValue]
        if ropeScaling != .none { parts.append(ropeScaling.typeName) }
        if !biasedSites.isEmpty { parts.append("bias " + biasedSiteNames) }
        if queryKeyNorm { parts.append("qk-norm") }
        if let slidingWindow { parts.append("window \(slidingWindow)") }
        return parts.joined(separator: " ")
    }
}
