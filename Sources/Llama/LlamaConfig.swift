import HDF5

/// The hyper-parameters of a llama-architecture decoder, as stored in the model file's root
/// attributes under Hugging Face's config names (`hidden_size`, `num_key_value_heads`, …), with
/// the switches of the families built on llama's block (`ModelFamily`).
///
/// Nothing in ttl-train assumes a particular model size: every shape is derived from here.
public struct LlamaConfig: Equatable, Sendable {
    public var family: ModelFamily
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var attentionHeads: Int
    public var keyValueHeads: Int
    public var headDim: Int
    public var contextLength: Int
    public var ropeTheta: Double
    public var rmsNormEpsilon: Double
    /// The output projection reuses the token embedding (`lm_head.weight` is not stored).
    public var tiedEmbeddings: Bool
    public var ropeScaling: RopeScaling
    /// The linear layers that add a bias (`….q_proj.bias`); the adapters never see it.
    public var biasedSites: Set<LinearSite>
    /// RMSNorm over each head of q and k before RoPE (`self_attn.q_norm`, `k_norm`: Qwen3).
    public var queryKeyNorm: Bool
    /// The attention window of a sliding-window model (Mistral); nil attends to every position.
    /// Only sequences that fit in the window are run — there the window changes nothing.
    public var slidingWindow: Int?

    public init(
        family: ModelFamily = .llama, vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int,
        attentionHeads: Int, keyValueHeads: Int, headDim: Int, contextLength: Int,
        ropeTheta: Double, rmsNormEpsilon: Double, tiedEmbeddings: Bool, ropeScaling: RopeScaling = .none,
        biasedSites: Set<LinearSite> = [], queryKeyNorm: Bool = false, slidingWindow: Int? = nil
    ) {
        self.family = family
        self.ropeScaling = ropeScaling
        self.biasedSites = biasedSites
        self.queryKeyNorm = queryKeyNorm
        self.slidingWindow = slidingWindow
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.attentionHeads = attentionHeads
        self.keyValueHeads = keyValueHeads
        self.headDim = headDim
        self.contextLength = contextLength
        self.ropeTheta = ropeTheta
        self.rmsNormEpsilon = rmsNormEpsilon
        self.tiedEmbeddings = tiedEmbeddings
    }

    /// The largest value any config entry may have: far beyond real models, small enough that no
    /// product of two entries overflows.
    static let maxDimension: Int64 = 1 << 24

    /// Reads the config from `attributes`, naming the first missing or invalid entry.
    init(attributes: HDF5Attributes, file: String) throws {
        func integer(_ key: String) throws -> Int {
            guard attributes.contains(key) else { throw ModelFileError.missingConfig(file: file, key: key) }
            let value = try attributes.value(key, as: Int64.self)
            guard value >= 0 else {
                throw ModelFileError.invalidConfig(file: file, key: key, reason: "is negative (\(value))")
            }
            guard value <= Self.maxDimension else {
                throw ModelFileError.invalidConfig(
                    file: file, key: key,
                    reason: "is \(value), beyond any model ttl-train can hold (\(Self.maxDimension))")
            }
            return Int(value)
        }
        func real(_ key: String) throws -> Double {
            guard attributes.contains(key) else { throw ModelFileError.missingConfig(file: file, key: key) }
            let value = try attributes.value(key, as: Double.self)
            guard value.isFinite else {
                throw ModelFileError.invalidConfig(file: file, key: key, reason: "is \(value)")
            }
            return value
        }
        let architecture = try attributes.string("architecture")
        guard let family = ModelFamily(rawValue: architecture) else {
            throw ModelFileError.unsupportedArchitecture(file: file, found: architecture)
        }
        self.init(
            family: family, vocabSize: try integer("vocab_size"), hiddenSize: try integer("hidden_size"),
            intermediateSize: try integer("intermediate_size"), layerCount: try integer("num_hidden_layers"),
            attentionHeads: try integer("num_attention_heads"), keyValueHeads: try integer("num_key_value_heads"),
            headDim: try integer("head_dim"), contextLength: try integer("max_position_embeddings"),
            ropeTheta: try real("rope_theta"), rmsNormEpsilon: try real("rms_norm_eps"),
            tiedEmbeddings: try integer("tie_word_embeddings") != 0
        )
        ropeScaling = try Self.ropeScaling(attributes, file: file, integer: integer, real: real)
        if attributes.contains(Self.biasAttribute) {
            let names = try attributes.string(Self.biasAttribute).split(
                separator: ",", omittingEmptySubsequences: false)
            biasedSites = Set(
                try names.map { name in
                    guard let site = LinearSite(rawValue: String(name)) else {
                        throw ModelFileError.invalidConfig(
                            file: file, key: Self.biasAttribute, reason: "names '\(name)', not a linear layer")
                    }
                    return site
                })
        }
        queryKeyNorm = attributes.contains("qk_norm") ? try integer("qk_norm") != 0 : false
        let window = attributes.contains("sliding_window") ? try integer("sliding_window") : 0
        slidingWindow = window > 0 ? window : nil
        try validate(file: file)
    }

    /// The root attribute listing the biased linear layers, comma-separated (`q_proj,k_proj,v_proj`).
    static let biasAttribute = "linear_bias"

    /// `rope_type` and its parameters; a file without `rope_type` has plain RoPE.
    private static func ropeScaling(
        _ attributes: HDF5Attributes, file: String, integer: (String) throws -> Int, real: (String) throws -> Double
    ) throws -> RopeScaling {
        guard attributes.contains("rope_type") else { return .none }
        switch try attributes.string("rope_type") {
        case "default": return .none
        case "linear": return .linear(factor: try real("rope_factor"))
        case "llama3":
            return .llama3(
                factor: try real("rope_factor"), lowFrequencyFactor: try real("rope_low_freq_factor"),
                highFrequencyFactor: try real("rope_high_freq_factor"),
                originalContext: try integer("rope_original_max_position_embeddings"))
        case let other:
            throw ModelFileError.invalidConfig(
                file: file, key: "rope_type", reason: "is '\(other)' (supported: default, linear, llama3)")
        }
    }

    /// Whether the file needs format version 4 (a family's switches or another architecture).
    public var needsFamilyFormat: Bool {
        family != .llama || ropeScaling != .none || !biasedSites.isEmpty || queryKeyNorm || slidingWindow != nil
    }

    /// Checks the relations the architecture needs (grouped-query heads divide evenly, etc.).
    func validate(file: String) throws {
        let positive: [(String, Int)] = [
            ("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
            ("num_hidden_layers", layerCount), ("num_attention_heads", attentionHeads),
            ("num_key_value_heads", keyValueHeads), ("head_dim", headDim), ("max_position_embeddings", contextLength),
        ]
        for (key, value) in positive where value <= 0 {
            throw ModelFileError.invalidConfig(file: file, key: key, reason: "must be positive, is \(value)")
        }
        if attentionHeads % keyValueHeads != 0 {
            throw ModelFileError.invalidConfig(
                file: file, key: "num_key_value_heads",
                reason: "\(keyValueHeads) does not divide num_attention_heads \(attentionHeads)")
        }
        if headDim % 2 != 0 {
            throw ModelFileError.invalidConfig(
                file: file, key: "head_dim", reason: "RoPE needs an even head_dim, is \(headDim)")
        }
        if !(ropeTheta > 0) || !(rmsNormEpsilon > 0) {
            throw ModelFileError.invalidConfig(
                file: file, key: ropeTheta > 0 ? "rms_norm_eps" : "rope_theta", reason: "must be positive")
        }
        try ropeScaling.validate(file: file)
        let groups = family.biasGroups.filter { !$0.isDisjoint(with: biasedSites) }
        guard biasedSites == groups.reduce(into: Set(), { $0.formUnion($1) }),
            biasedSites.isSuperset(of: family.requiredBiases)
        else {
            let names = biasedSites.map(\.rawValue).sorted().joined(separator: ",")
            throw ModelFileError.invalidConfig(
                file: file, key: Self.biasAttribute, reason: "'\(names)' is not a bias layout of \(family.rawValue)")
        }
        guard queryKeyNorm == family.normalizesQueryKey else {
            throw ModelFileError.invalidConfig(
                file: file, key: "qk_norm",
                reason: "must be \(family.normalizesQueryKey ? 1 : 0) for \(family.rawValue)")
        }
    }

    /// Every weight tensor of the model with its shape, in Hugging Face names and layout
    /// (`(out_features, in_features)` for linear layers).
    public var weightShapes: [(name: String, shape: [Int])] {
        let queryWidth = attentionHeads * headDim
        let keyValueWidth = keyValueHeads * headDim
        var shapes: [(name: String, shape: [Int])] = [("model.embed_tokens.weight", [vocabSize, hiddenSize])]
        for layer in 0..<layerCount {
            let prefix = "model.layers.\(layer)."
            shapes += [
                (prefix + "input_layernorm.weight", [hiddenSize]),
                (prefix + "self_attn.q_proj.weight", [queryWidth, hiddenSize]),
                (prefix + "self_attn.k_proj.weight", [keyValueWidth, hiddenSize]),
                (prefix + "self_attn.v_proj.weight", [keyValueWidth, hiddenSize]),
                (prefix + "self_attn.o_proj.weight", [hiddenSize, queryWidth]),
                (prefix + "post_attention_layernorm.weight", [hiddenSize]),
                (prefix + "mlp.gate_proj.weight", [intermediateSize, hiddenSize]),
                (prefix + "mlp.up_proj.weight", [intermediateSize, hiddenSize]),
                (prefix + "mlp.down_proj.weight", [hiddenSize, intermediateSize]),
            ]
            for site in LinearSite.allCases where biasedSites.contains(site) {
                shapes.append((prefix + site.modulePath + ".bias", [linearShape(site).1]))
            }
            if queryKeyNorm {
                shapes += [
                    (prefix + "self_attn.q_norm.weight", [headDim]), (prefix + "self_attn.k_norm.weight", [headDim]),
                ]
            }
        }
        shapes.append(("model.norm.weight", [hiddenSize]))
        if !tiedEmbeddings { shapes.append(("lm_head.weight", [vocabSize, hiddenSize])) }
        return shapes
    }

    /// Parameters stored in the file: a tied output projection is the embedding, counted once.
    public var parameterCount: Int {
        weightShapes.reduce(0) { $0 + $1.shape.reduce(1, *) }
    }
}

extension LlamaConfig {
    /// `(in_features, out_features)` of a linear layer.
    public func linearShape(_ site: LinearSite) -> (Int, Int) {
        let queryWidth = attentionHeads * headDim
        let kvWidth = keyValueHeads * headDim
        switch site {
        case .qProj: return (hiddenSize, queryWidth)
        case .kProj, .vProj: return (hiddenSize, kvWidth)
        case .oProj: return (queryWidth, hiddenSize)
        case .gateProj, .upProj: return (hiddenSize, intermediateSize)
        case .downProj: return (intermediateSize, hiddenSize)
        }
    }
}
