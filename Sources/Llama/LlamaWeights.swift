import Kernels

/// All base weights of a model in two flat buffers, with each tensor's offset (llm.c style): float
/// tensors in `buffer`, quantized blocks in `blocks`. One allocation each, read once from the model
/// file, never written again (the base is frozen).
public final class LlamaWeights {
    /// Where a matrix lives: a dense `(out, in)` matrix at a float offset, quantized blocks, or the
    /// stages of a Tucker-factored one (`TuckerFactors.stages()`), each at its offset.
    public enum Linear: Sendable {
        case dense(Int)
        case quantized(QuantizedMatrix)
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
    public let blocks: ByteBuffer
    /// The `(vocab, hidden)` embedding table (dense or quantized).
    public let embedding: Linear
    public let finalNorm: Int
    /// The output projection: the embedding itself when the config ties them.
    public let outputProjection: Linear
    public let layers: [Layer]

    /// Reads every weight of `file` (checked against the config's shapes when the file was opened):
    /// factored ones as their factors, quantized ones as their blocks.
    public convenience init(file: ModelFile) throws {
        try self.init(config: file.config, factored: try file.readFactoredWeights(), quantized: file.quantizedWeights,
                      values: { try file.read($0) }, blocks: { try file.readBlocks($0) })
    }

    /// Builds the buffers from `values(name)` for each dense weight `config` implies, from the
    /// factors for the weights named in `factored` and from `blocks(name)` for those in
    /// `quantized` (Hugging Face names, `….q_proj.weight`).
    public init(
        config: LlamaConfig, factored: [String: TuckerFactors] = [:], quantized: [String: QuantizationFormat] = [:],
        values: (String) throws -> [Float], blocks: (String) throws -> [UInt8] = { preconditionFailure("\($0) is not quantized") }
    ) throws {
        self.config = config
        var offsets: [String: Int] = [:], byteOffsets: [String: Int] = [:]
        var stages: [String: [(stage: FactoredStage, weight: [Float])]] = [:]
        var total = 0, totalBytes = 0
        for (name, shape) in config.weightShapes {
            if let format = quantized[name] {
                byteOffsets[name] = totalBytes
                totalBytes += format.byteCount(values: shape.reduce(1, *))
                continue
            }
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
        let byteBuffer = ByteBuffer(count: totalBytes)
        var linears: [String: Linear] = [:]
        for (name, shape) in config.weightShapes {
            if let format = quantized[name] {
                let loaded = try blocks(name)
                let matrix = QuantizedMatrix(format: format, offset: byteOffsets[name]!, rows: shape[0], columns: shape[1])
                precondition(loaded.count == matrix.byteCount, "weight \(name) has \(loaded.count) bytes")
                byteBuffer.copy(from: loaded, at: matrix.offset)
                linears[name] = .quantized(matrix)
            } else if let chain = stages[name] {
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
        self.blocks = byteBuffer
        embedding = linears["model.embed_tokens.weight"]!
        finalNorm = offsets["model.norm.weight"]!
        outputProjection = config.tiedEmbeddings ? embedding : linears["lm_head.weight"]!
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

    /// Bytes the weights take in memory: floats and quantized blocks.
    public var byteCount: Int { buffer.count * MemoryLayout<Float>.size + blocks.count }

    /// Multiply-adds of all linear layers for one token: `out·in` for a dense or quantized weight,
    /// the sum over its stages for a factored one (what compression saves in compute).
    public var linearMultiplyAddsPerToken: Int {
        layers.reduce(0) { total, layer in
            total + LinearSite.allCases.reduce(0) { sum, site in
                guard case .factored(let stages) = layer.linear(site) else {
                    let (inFeatures, outFeatures) = config.linearShape(site)
                    return sum + inFeatures * outFeatures
                }
                return sum + stages.reduce(0) { $0 + $1.stage.groups * $1.stage.outFeatures * $1.stage.inFeatures }
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

    /// Every quantized matrix: the layers' and the embedding / output projection.
    var quantizedMatrices: [QuantizedMatrix] {
        (layers.flatMap { $0.linears.values } + [embedding, outputProjection]).compactMap {
            if case .quantized(let matrix) = $0 { return matrix } else { return nil }
        }
    }

    /// Rows of `matrix` dequantized at a time: all of them when they fit in about 4 MB of floats
    /// (every layer matrix of a small model), else tiles of at least 256 rows — a large
    /// vocabulary's output head is never expanded whole.
    static func tileRows(of matrix: QuantizedMatrix) -> Int {
        min(matrix.rows, max(256, (1 << 20) / matrix.columns))
    }

    /// Floats of the model's dequantization scratch: the largest tile of any quantized matrix.
    var dequantizationScratchCount: Int {
        quantizedMatrices.map { Self.tileRows(of: $0) * $0.columns }.max() ?? 0
    }

    func pointer(_ offset: Int) -> UnsafeMutablePointer<Float> {
        buffer.at(offset)
    }

    /// Row `row` of a `(rows, hidden)` dense or quantized matrix — the embedding table or the
    /// output projection — into `out`, decoded when quantized.
    func copyRow(_ row: Int, of matrix: Linear, into out: UnsafeMutablePointer<Float>) {
        let h = config.hiddenSize
        switch matrix {
        case .dense(let offset): out.update(from: pointer(offset) + row * h, count: h)
        case .quantized(let quantized): quantized.format.dequantize(UnsafePointer(blocks.at(quantized.offset + row * quantized.rowBytes)), values: h, into: out)
        case .factored: preconditionFailure("a factored matrix has no rows to copy")
        }
    }
}
