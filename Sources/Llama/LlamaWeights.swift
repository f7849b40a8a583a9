import Kernels

/// All base weights of a model in two flat buffers, with each tensor's offset (llm.c style): float
/// tensors in `buffer`, quantized blocks in `blocks`. Read once from the model file, never written
/// again (the base is frozen) — so the processes of a node may share one copy (`WeightMemory`):
/// one of them reads the file into the shared pages, the others map them.
public final class LlamaWeights {
    /// Where a matrix lives: a dense `(out, in)` matrix in `WeightPanels` at a float offset,
    /// quantized blocks, or the stages of a Tucker-factored one (`TuckerFactors.stages()`), each a
    /// row-major matrix at its offset.
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
        /// The biases of the sites that have one (`LlamaConfig.biasedSites`).
        public let biases: [LinearSite: Int]
        /// The per-head RMSNorm weights of q and k (`LlamaConfig.queryKeyNorm`).
        public let queryNorm: Int?
        public let keyNorm: Int?

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
    /// Processes that share these weights (1 when they are this process's own).
    public let sharers: Int

    /// Reads every weight of `file` (checked against the config's shapes when the file was opened):
    /// factored ones as their factors, quantized ones as their blocks.
    public convenience init(file: ModelFile, memory: WeightMemory? = nil) throws {
        try self.init(
            config: file.config, factored: try file.readFactoredWeights(), quantized: file.quantizedWeights,
            memory: memory,
            values: { try file.read($0) }, blocks: { try file.readBlocks($0) })
    }

    /// Builds the buffers from `values(name)` for each dense weight `config` implies, from the
    /// factors for the weights named in `factored` and from `blocks(name)` for those in
    /// `quantized` (Hugging Face names, `….q_proj.weight`). With `memory`, the buffers live in its
    /// region and only the process that fills it calls `values` and `blocks`.
    public init(
        config: LlamaConfig, factored: [String: TuckerFactors] = [:], quantized: [String: QuantizationFormat] = [:],
        memory: WeightMemory? = nil,
        values: (String) throws -> [Float],
        blocks: (String) throws -> [UInt8] = { preconditionFailure("\($0) is not quantized") }
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
                precondition(
                    [factors.outFeatures, factors.inFeatures] == shape, "factors of \(name) have another shape")
                stages[name] = factors.stages()
                total += Self.placed(stages[name]!.reduce(0) { $0 + $1.weight.count })
            } else {
                total += Self.denseFloatCount(shape: shape)
            }
        }
        let floatBytes = (total * MemoryLayout<Float>.size + 63) / 64 * 64
        let region = try memory?.region(bytes: floatBytes + totalBytes)
        let buffer = region.map { FloatBuffer(count: total, in: $0, at: 0) } ?? FloatBuffer(count: total)
        let byteBuffer =
            region.map { ByteBuffer(count: totalBytes, in: $0, at: floatBytes) } ?? ByteBuffer(count: totalBytes)
        var linears: [String: Linear] = [:]
        for (name, shape) in config.weightShapes {
            if let format = quantized[name] {
                linears[name] = .quantized(
                    QuantizedMatrix(format: format, offset: byteOffsets[name]!, rows: shape[0], columns: shape[1]))
            } else if let chain = stages[name] {
                let starts = chain.indices.map { index in
                    offsets[name]! + chain[..<index].reduce(0) { $0 + $1.weight.count }
                }
                linears[name] = .factored(zip(chain, starts).map { ($0.stage, $1) })
            } else {
                linears[name] = .dense(offsets[name]!)
            }
        }
        // Only the filling process reads the file; a failure there reaches every sharer.
        var failure: Error?
        if region?.fills ?? true {
            do {
                for (name, shape) in config.weightShapes {
                    switch linears[name]! {
                    case .quantized(let matrix):
                        let loaded = try blocks(name)
                        precondition(loaded.count == matrix.byteCount, "weight \(name) has \(loaded.count) bytes")
                        byteBuffer.copy(from: loaded, at: matrix.offset)
                    case .factored(let placed):
                        for ((_, weight), (_, offset)) in zip(stages[name]!, placed) {
                            buffer.copy(from: weight, at: offset)
                        }
                    case .dense(let offset):
                        let loaded = try values(name)
                        precondition(loaded.count == shape.reduce(1, *), "weight \(name) has \(loaded.count) values")
                        if shape.count == 2 {
                            WeightPanels.pack(loaded, rows: shape[0], columns: shape[1], into: buffer.at(offset))
                        } else {
                            buffer.copy(from: loaded, at: offset)
                        }
                    }
                }
            } catch {
                failure = error
            }
        }
        if let memory, let region { try memory.publish(region, failure: failure.map { "\($0)" }) }
        if let failure { throw failure }
        sharers = memory?.sharers ?? 1
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
                linears: Dictionary(
                    uniqueKeysWithValues: LinearSite.allCases.map { site in
                        (site, linears[prefix + site.modulePath + ".weight"]!)
                    }),
                biases: Dictionary(
                    uniqueKeysWithValues: config.biasedSites.map { site in
                        (site, offsets[prefix + site.modulePath + ".bias"]!)
                    }),
                queryNorm: offsets[prefix + "self_attn.q_norm.weight"],
                keyNorm: offsets[prefix + "self_attn.k_norm.weight"])
        }
    }

    /// Floats a dense tensor of `shape` takes in `buffer`: a matrix as `WeightPanels`, placed on a
    /// cache line like every tensor (what `ModelFile.residentWeightBytes` counts too).
    public static func denseFloatCount(shape: [Int]) -> Int {
        placed(shape.count == 2 ? WeightPanels.floatCount(rows: shape[0], columns: shape[1]) : shape.reduce(1, *))
    }

    /// `floats` rounded up to a whole cache line (16 floats), where the next tensor starts.
    public static func placed(_ floats: Int) -> Int {
        (floats + 15) / 16 * 16
    }

    /// Bytes the weights take in memory: floats and quantized blocks.
    public var byteCount: Int { buffer.count * MemoryLayout<Float>.size + blocks.count }

    /// Multiply-adds of all linear layers for one token: `out·in` for a dense or quantized weight,
    /// the sum over its stages for a factored one (what compression saves in compute).
    public var linearMultiplyAddsPerToken: Int {
        layers.reduce(0) { total, layer in
            total
                + LinearSite.allCases.reduce(0) { sum, site in
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
    var dequantizationScratchCount: Int { Self.dequantizationScratchCount(of: quantizedMatrices) }

    /// Floats of the largest tile of any of `matrices`.
    static func dequantizationScratchCount(of matrices: [QuantizedMatrix]) -> Int {
        matrices.map { tileRows(of: $0) * $0.columns }.max() ?? 0
    }

    func pointer(_ offset: Int) -> UnsafeMutablePointer<Float> {
        buffer.at(offset)
    }

    /// Row `row` of a `(rows, width)` dense or quantized matrix — the embedding table, the output
    /// projection, a linear layer — into `out`, decoded when quantized.
    public func copyRow(_ row: Int, of matrix: Linear, into out: UnsafeMutablePointer<Float>) {
        copyRow(row, of: matrix, width: config.hiddenSize, into: out)
    }

    func copyRow(_ row: Int, of matrix: Linear, width h: Int, into out: UnsafeMutablePointer<Float>) {
        switch matrix {
        case .dense(let offset): WeightPanels.copyRow(row, of: pointer(offset), columns: h, into: out)
        case .quantized(let quantized):
            quantized.format.dequantize(
                UnsafePointer(blocks.at(quantized.offset + row * quantized.rowBytes)), values: h, into: out)
        case .factored: preconditionFailure("a factored matrix has no rows to copy")
        }
    }
}
