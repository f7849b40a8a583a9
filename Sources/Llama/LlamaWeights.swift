import Kernels

/// All base weights of a model in one flat buffer, with each tensor's offset (llm.c style): one
/// allocation, read once from the model file, never written again (the base is frozen).
public final class LlamaWeights {
    /// Where a linear layer's weight lives: a dense `(out, in)` matrix, or the stages of a
    /// Tucker-factored one (`TuckerFactors.stages()`), each at its offset.
    public enum Linear: Sendable {
        case dense(Int)
        case factored([(stage: FactoredStage, offset: Int)])
    }

    /// Offsets of one decoder layer's tensors in `buffer`.
    public struct Layer: Sendable {
        public let inputNorm: Int
        public let postAttentionNorm: Int
        /// The seven linear layers by site.
        public let linears: [LinearSite: Linear]

        public func linear(_ site: LinearSite) -> Linear { linears[site]! }
    }

    public let config: LlamaConfig
    public let buffer: FloatBuffer
    public let embedding: Int
    public let finalNorm: Int
    /// The output projection: the embedding itself when the config ties them.
    public let outputProjection: Int
    public let layers: [Layer]

    /// Reads every weight of `file` (checked against the config's shapes when the file was opened),
    /// the factored ones as their factors.
    public convenience init(file: ModelFile) throws {
        try self.init(config: file.config, factored: try file.readFactoredWeights()) { name in try file.read(name) }
    }

    /// Builds the buffer from `values(name)` for each dense weight `config` implies, and from the
    /// factors for the weights named in `factored` (Hugging Face names, `….q_proj.weight`).
    public init(config: LlamaConfig, factored: [String: TuckerFactors] = [:], values: (String) throws -> [Float]) throws {
        self.config = config
        var offsets: [String: Int] = [:]
        var stages: [String: [(stage: FactoredStage, weight: [Float])]] = [:]
        var total = 0
        for (name, shape) in config.weightShapes {
            offsets[name] = total
            if let factors = factored[name] {
                precondition([factors.outFeatures, factors.inFeatures] == shape, "factors of \(name) have another shape")
                stages[name] = factors.stages()
                total += stages[name]!.reduce(0) { $0 + $1.weight.count }
            } else {
                total += shape.reduce(1, *)
            }
        }
        let buffer = FloatBuffer(count: total)
        var linears: [String: Linear] = [:]
        for (name, shape) in config.weightShapes {
            if let chain = stages[name] {
                var offset = offsets[name]!
                var placed: [(stage: FactoredStage, offset: Int)] = []
                for (stage, weight) in chain {
                    buffer.copy(from: weight, at: offset)
                    placed.append((stage, offset))
                    offset += weight.count
                }
                linears[name] = .factored(placed)
            } else {
                let loaded = try values(name)
                precondition(loaded.count == shape.reduce(1, *), "weight \(name) has \(loaded.count) values")
                buffer.copy(from: loaded, at: offsets[name]!)
                linears[name] = .dense(offsets[name]!)
            }
        }
        self.buffer = buffer
        embedding = offsets["model.embed_tokens.weight"]!
        finalNorm = offsets["model.norm.weight"]!
        outputProjection = config.tiedEmbeddings ? embedding : offsets["lm_head.weight"]!
        layers = (0..<config.layerCount).map { index in
            let prefix = "model.layers.\(index)."
            return Layer(
                inputNorm: offsets[prefix + "input_layernorm.weight"]!,
                postAttentionNorm: offsets[prefix + "post_attention_layernorm.weight"]!,
                linears: Dictionary(uniqueKeysWithValues: LinearSite.allCases.map { site in
                    (site, linears[prefix + site.modulePath + ".weight"]!)
                }))
        }
    }

    /// Multiply-adds of all linear layers for one token: `out·in` for a dense weight, the sum over
    /// its stages for a factored one (what compression saves in compute).
    public var linearMultiplyAddsPerToken: Int {
        layers.reduce(0) { total, layer in
            total + LinearSite.allCases.reduce(0) { sum, site in
                switch layer.linear(site) {
                case .dense:
                    let (inFeatures, outFeatures) = config.linearShape(site)
                    return sum + inFeatures * outFeatures
                case .factored(let stages):
                    return sum + stages.reduce(0) { $0 + $1.stage.groups * $1.stage.outFeatures * $1.stage.inFeatures }
                }
            }
        }
    }

    /// Widest intermediate row of any factored linear layer (0 when all are dense): the model's
    /// scratch for the stages between input and output.
    var widestFactoredIntermediate: Int {
        layers.flatMap { $0.linears.values }.reduce(0) { widest, linear in
            guard case .factored(let stages) = linear else { return widest }
            return max(widest, stages.dropLast().map(\.stage.outputWidth).max() ?? 0)
        }
    }

    func pointer(_ offset: Int) -> UnsafeMutablePointer<Float> {
        buffer.at(offset)
    }
}
