import HDF5

/// The hyper-parameters of a llama-architecture decoder, as stored in the model file's root
/// attributes under Hugging Face's config names (`hidden_size`, `num_key_value_heads`, …).
///
/// Nothing in ttl-train assumes a particular model size: every shape is derived from here.
public struct LlamaConfig: Equatable, Sendable {
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

    public init(
        vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int,
        attentionHeads: Int, keyValueHeads: Int, headDim: Int, contextLength: Int,
        ropeTheta: Double, rmsNormEpsilon: Double, tiedEmbeddings: Bool
    ) {
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
            guard value >= 0 else { throw ModelFileError.invalidConfig(file: file, key: key, reason: "is negative (\(value))") }
            guard value <= Self.maxDimension else {
                throw ModelFileError.invalidConfig(file: file, key: key, reason: "is \(value), beyond any model ttl-train can hold (\(Self.maxDimension))")
            }
            return Int(value)
        }
        func real(_ key: String) throws -> Double {
            guard attributes.contains(key) else { throw ModelFileError.missingConfig(file: file, key: key) }
            return try attributes.value(key, as: Double.self)
        }
        self.init(
            vocabSize: try integer("vocab_size"), hiddenSize: try integer("hidden_size"),
            intermediateSize: try integer("intermediate_size"), layerCount: try integer("num_hidden_layers"),
            attentionHeads: try integer("num_attention_heads"), keyValueHeads: try integer("num_key_value_heads"),
            headDim: try integer("head_dim"), contextLength: try integer("max_position_embeddings"),
            ropeTheta: try real("rope_theta"), rmsNormEpsilon: try real("rms_norm_eps"),
            tiedEmbeddings: try integer("tie_word_embeddings") != 0
        )
        try validate(file: file)
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
            throw ModelFileError.invalidConfig(file: file, key: "head_dim", reason: "RoPE needs an even head_dim, is \(headDim)")
        }
        if !(ropeTheta > 0) || !(rmsNormEpsilon > 0) {
            throw ModelFileError.invalidConfig(file: file, key: ropeTheta > 0 ? "rms_norm_eps" : "rope_theta", reason: "must be positive")
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
