import Kernels

/// All base weights of a model in one flat buffer, with each tensor's offset (llm.c style): one
/// allocation, read once from the model file, never written again (the base is frozen).
public final class LlamaWeights {
    /// Offsets of one decoder layer's tensors in `buffer`.
    public struct Layer: Sendable {
        public let inputNorm: Int
        public let query: Int
        public let key: Int
        public let value: Int
        public let output: Int
        public let postAttentionNorm: Int
        public let gate: Int
        public let up: Int
        public let down: Int
    }

    public let config: LlamaConfig
    public let buffer: FloatBuffer
    public let embedding: Int
    public let finalNorm: Int
    /// The output projection: the embedding itself when the config ties them.
    public let outputProjection: Int
    public let layers: [Layer]

    /// Reads every weight of `file` (checked against the config's shapes when the file was opened).
    public convenience init(file: ModelFile) throws {
        try self.init(config: file.config) { name in try file.read(name) }
    }

    /// Builds the buffer from `values(name)` for each weight `config` implies.
    public init(config: LlamaConfig, values: (String) throws -> [Float]) throws {
        self.config = config
        var offsets: [String: Int] = [:]
        var total = 0
        for (name, shape) in config.weightShapes {
            offsets[name] = total
            total += shape.reduce(1, *)
        }
        let buffer = FloatBuffer(count: total)
        for (name, shape) in config.weightShapes {
            let loaded = try values(name)
            precondition(loaded.count == shape.reduce(1, *), "weight \(name) has \(loaded.count) values")
            buffer.copy(from: loaded, at: offsets[name]!)
        }
        self.buffer = buffer
        embedding = offsets["model.embed_tokens.weight"]!
        finalNorm = offsets["model.norm.weight"]!
        outputProjection = config.tiedEmbeddings ? embedding : offsets["lm_head.weight"]!
        layers = (0..<config.layerCount).map { index in
            let prefix = "model.layers.\(index)."
            return Layer(
                inputNorm: offsets[prefix + "input_layernorm.weight"]!,
                query: offsets[prefix + "self_attn.q_proj.weight"]!,
                key: offsets[prefix + "self_attn.k_proj.weight"]!,
                value: offsets[prefix + "self_attn.v_proj.weight"]!,
                output: offsets[prefix + "self_attn.o_proj.weight"]!,
                postAttentionNorm: offsets[prefix + "post_attention_layernorm.weight"]!,
                gate: offsets[prefix + "mlp.gate_proj.weight"]!,
                up: offsets[prefix + "mlp.up_proj.weight"]!,
                down: offsets[prefix + "mlp.down_proj.weight"]!)
        }
    }

    func pointer(_ offset: Int) -> UnsafeMutablePointer<Float> {
        buffer.at(offset)
    }
}
