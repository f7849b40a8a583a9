import Kernels

/// A frozen llama decoder: `forward` keeps what `backward` needs; `backward` computes activation
/// gradients only (no base weight gradients), calling the `LinearHook` at every linear layer so
/// adapters can add their part.
///
/// ```
/// x = embed(tokens)
/// for each layer:  h = RMSNorm(x);  q, k, v = h·Wqᵀ (+bq), h·Wkᵀ (+bk), h·Wvᵀ (+bv)
///                  q, k = RMSNorm per head (Qwen3);  RoPE(q, k)
///                  x = x + Attention(q, k, v)·Woᵀ
///                  h = RMSNorm(x);  x = x + (SiLU(h·Wgᵀ) ⊙ h·Wuᵀ)·Wdᵀ
/// logits = RMSNorm(x)·Eᵀ     (only at the rows a loss asks for; see LlamaModel+Loss)
/// ```
public final class LlamaModel {
    public let config: LlamaConfig
    public let weights: LlamaWeights
    /// Adapters (or a test probe) attached to the linear layers; nil runs the bare base model.
    public var linearHook: LinearHook?

    let activations: LlamaActivations
    let rope: RotaryEmbedding
    let attention: CausalAttention
    let outputHead: OutputHeadBuffers
    /// Two `(tokens, widest intermediate)` buffers for the stages of factored linear layers.
    let factoredScratch: [FloatBuffer]
    /// A tile of a quantized matrix's rows, dequantized right before its product.
    let dequantized: FloatBuffer
    /// `FrozenLinear.rowSquaredNorms` by layer and site, computed on first use.
    var rowSquaredNorms: [Int: [Double]] = [:]
    /// The batch of the last forward, which backward and the loss refer to.
    public private(set) var batch: TokenBatch?
    /// Offset of each sequence's probabilities in a slot.
    private var probabilityOffsets: [Int] = []
    /// First row and length of each sequence of the last batch.
    private(set) var sequenceRows: [(start: Int, length: Int)] = []

    /// A model for batches of at most `maxTokens` packed tokens in sequences of at most
    /// `maxSequenceLength`; `trainable` keeps every layer's activations for `backward`, or with
    /// `recompute` only every layer's input, `backward` recomputing each layer's forward from it
    /// (the same bits: the forward is deterministic) — activation memory of one layer instead of all.
    public init(weights: LlamaWeights, maxTokens: Int, maxSequenceLength: Int, trainable: Bool, recompute: Bool = false)
    {
        let config = weights.config
        self.config = config
        self.weights = weights
        activations = LlamaActivations(
            config: config, maxTokens: maxTokens, maxSequenceLength: maxSequenceLength,
            retention: trainable ? (recompute ? .layerInputs : .everyLayer) : .none)
        rope = RotaryEmbedding(
            headDim: config.headDim, maxPositions: maxSequenceLength,
            inverseFrequencies: config.ropeScaling.inverseFrequencies(headDim: config.headDim, theta: config.ropeTheta))
        attention = CausalAttention(
            heads: config.attentionHeads, kvHeads: config.keyValueHeads, headDim: config.headDim)
        outputHead = OutputHeadBuffers(config: config)
        let scratch = maxTokens * weights.widestFactoredIntermediate
        factoredScratch = [FloatBuffer(count: scratch), FloatBuffer(count: scratch)]
        dequantized = FloatBuffer(count: weights.dequantizationScratchCount)
    }

    public var maxTokens: Int { activations.maxTokens }
    public var maxSequenceLength: Int { activations.maxSequenceLength }
    public var isTrainable: Bool { activations.retention != .none }
    /// Whether `backward` recomputes each layer's forward from its saved input.
    public var recomputes: Bool { activations.retention == .layerInputs }
    /// Bytes of the activation and gradient buffers (allocated once, at creation).
    public var activationBytes: Int { activations.floatCount * MemoryLayout<Float>.size }

    /// Checks that `batch` fits this model: token ids in the vocabulary, lengths within capacity.
    public func validate(_ batch: TokenBatch) throws {
        guard batch.count > 0 else { throw ModelInputError.emptyBatch }
        guard batch.count <= maxTokens else { throw ModelInputError.tooManyTokens(batch.count, capacity: maxTokens) }
        for sequence in 0..<batch.sequenceCount {
            let length = batch.length(of: sequence)
            guard length <= maxSequenceLength else {
                throw ModelInputError.sequenceTooLong(length, capacity: maxSequenceLength)
            }
            try checkWindow(length)
        }
        if let bad = batch.tokens.firstIndex(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
            throw ModelInputError.tokenOutOfRange(batch.tokens[bad], position: bad, vocabulary: config.vocabSize)
        }
    }

    /// Runs the decoder over `batch`. `inputEmbeddings (tokens, hidden)` replaces the embedding
    /// lookup when given (gradient checks perturb it).
    public func forward(_ batch: TokenBatch, inputEmbeddings: [Float]? = nil) throws {
        try validate(batch)
        self.batch = batch
        sequenceRows = (0..<batch.sequenceCount).map { (batch.offsets[$0], batch.length(of: $0)) }
        let n = batch.count
        let h = config.hiddenSize
        let input = activations.slot(0).input
        if let inputEmbeddings {
            precondition(inputEmbeddings.count == n * h, "input embeddings must be (tokens, hidden)")
            inputEmbeddings.withUnsafeBufferPointer { input.update(from: $0.baseAddress!, count: n * h) }
        } else {
            for (row, token) in batch.tokens.enumerated() {
                weights.copyRow(Int(token), of: weights.embedding, into: input + row * h)
            }
        }
        probabilityOffsets = (0..<batch.sequenceCount).reduce(into: [0]) { offsets, sequence in
            offsets.append(offsets.last! + attention.probabilityCount(length: batch.length(of: sequence)))
        }
        for layer in 0..<config.layerCount { forwardLayer(layer, batch: batch) }
        RMSNorm.forward(
            activations.finalResidual, weight: weights.pointer(weights.finalNorm), into: activations.finalNormed,
            rstd: activations.finalRstd, rows: n, dim: h, epsilon: Float(config.rmsNormEpsilon))
    }

    private func forwardLayer(_ layer: Int, batch: TokenBatch) {
        let n = batch.count
        let (h, q, k, i) = (config.hiddenSize, attention.queryWidth, attention.kvWidth, config.intermediateSize)
        let w = weights.layers[layer]
        let slot = activations.slot(layer)
        let epsilon = Float(config.rmsNormEpsilon)

        RMSNorm.forward(
            slot.input, weight: weights.pointer(w.inputNorm), into: slot.attentionNormed,
            rstd: slot.attentionRstd, rows: n, dim: h, epsilon: epsilon)
        linear(layer, .qProj, slot.attentionNormed, into: slot.queryProjection, rows: n, inFeatures: h, outFeatures: q)
        linear(layer, .kProj, slot.attentionNormed, into: slot.keyProjection, rows: n, inFeatures: h, outFeatures: k)
        linear(layer, .vProj, slot.attentionNormed, into: slot.value, rows: n, inFeatures: h, outFeatures: k)
        if let queryNorm = w.queryNorm, let keyNorm = w.keyNorm {
            RMSNorm.forward(
                slot.queryProjection, weight: weights.pointer(queryNorm), into: slot.query, rstd: slot.queryRstd,
                rows: n * config.attentionHeads, dim: config.headDim, epsilon: epsilon)
            RMSNorm.forward(
                slot.keyProjection, weight: weights.pointer(keyNorm), into: slot.key, rstd: slot.keyRstd,
                rows: n * config.keyValueHeads, dim: config.headDim, epsilon: epsilon)
        }
        for sequence in 0..<batch.sequenceCount {
            let start = batch.offsets[sequence]
            let length = batch.length(of: sequence)
            rope.forward(slot.query + start * q, rows: length, heads: config.attentionHeads)
            rope.forward(slot.key + start * k, rows: length, heads: config.keyValueHeads)
            attention.forward(
                q: slot.query + start * q, k: slot.key + start * k, v: slot.value + start * k,
                into: slot.attention + start * q,
                probabilities: slot.probabilities + probabilityOffsets[sequence], length: length)
        }
        linear(layer, .oProj, slot.attention, into: activations.linearOutput, rows: n, inFeatures: q, outFeatures: h)
        add(slot.input, activations.linearOutput, into: slot.middle, count: n * h)

        RMSNorm.forward(
            slot.middle, weight: weights.pointer(w.postAttentionNorm), into: slot.mlpNormed,
            rstd: slot.mlpRstd, rows: n, dim: h, epsilon: epsilon)
        linear(layer, .gateProj, slot.mlpNormed, into: slot.gate, rows: n, inFeatures: h, outFeatures: i)
        linear(layer, .upProj, slot.mlpNormed, into: slot.up, rows: n, inFeatures: h, outFeatures: i)
        SwiGLU.forward(gate: slot.gate, up: slot.up, into: slot.activated, count: n * i)
        linear(layer, .downProj, slot.activated, into: activations.linearOutput, rows: n, inFeatures: i, outFeatures: h)
        add(
            slot.middle, activations.linearOutput,
            into: activations.residualOutput(of: layer, layerCount: config.layerCount), count: n * h)
    }

    /// Backward from `dL/d(final normed hidden)` (left by `crossEntropy`) down to the input
    /// embeddings, calling the hook at every linear layer; `inputEmbeddingGradient` has the result.
    public func backward() {
        guard let batch else { preconditionFailure("backward before forward") }
        precondition(isTrainable, "this model was made for inference: create it with trainable: true")
        let n = batch.count
        let h = config.hiddenSize
        let dx = activations.hiddenGradient
        dx.update(repeating: 0, count: n * h)
        RMSNorm.backward(
            activations.normedGradient, x: activations.finalResidual, weight: weights.pointer(weights.finalNorm),
            rstd: activations.finalRstd, addingInto: dx, rows: n, dim: h)
        for layer in stride(from: config.layerCount - 1, through: 0, by: -1) {
            if recomputes { forwardLayer(layer, batch: batch) }
            backwardLayer(layer, batch: batch)
        }
    }

    /// `dL/d(input embeddings) (tokens, hidden)` after `backward` (a copy).
    public func inputEmbeddingGradient() -> [Float] {
        guard let batch else { return [] }
        return Array(UnsafeBufferPointer(start: activations.hiddenGradient, count: batch.count * config.hiddenSize))
    }

    private func backwardLayer(_ layer: Int, batch: TokenBatch) {
        let n = batch.count
        let (h, q, k, i) = (config.hiddenSize, attention.queryWidth, attention.kvWidth, config.intermediateSize)
        let w = weights.layers[layer]
        let slot = activations.slot(layer)
        let a = activations
        let dx = a.hiddenGradient  // dL/d(layer output) on entry, dL/d(layer input) on exit

        linearBackward(
            layer, .downProj, input: slot.activated, outputGradient: dx, into: a.activatedGradient,
            rows: n, inFeatures: i, outFeatures: h, accumulate: false)
        SwiGLU.backward(
            a.activatedGradient, gate: slot.gate, up: slot.up, gateGradient: a.gateGradient,
            upGradient: a.upGradient, count: n * i)
        linearBackward(
            layer, .gateProj, input: slot.mlpNormed, outputGradient: a.gateGradient, into: a.normedGradient,
            rows: n, inFeatures: h, outFeatures: i, accumulate: false)
        linearBackward(
            layer, .upProj, input: slot.mlpNormed, outputGradient: a.upGradient, into: a.normedGradient,
            rows: n, inFeatures: h, outFeatures: i, accumulate: true)
        RMSNorm.backward(
            a.normedGradient, x: slot.middle, weight: weights.pointer(w.postAttentionNorm), rstd: slot.mlpRstd,
            addingInto: dx, rows: n, dim: h)

        linearBackward(
            layer, .oProj, input: slot.attention, outputGradient: dx, into: a.attentionGradient,
            rows: n, inFeatures: q, outFeatures: h, accumulate: false)
        for sequence in 0..<batch.sequenceCount {
            let start = batch.offsets[sequence]
            let length = batch.length(of: sequence)
            attention.backward(
                a.attentionGradient + start * q, q: slot.query + start * q, k: slot.key + start * k,
                v: slot.value + start * k, probabilities: slot.probabilities + probabilityOffsets[sequence],
                dq: a.queryGradient + start * q, dk: a.keyGradient + start * k,
                dv: a.valueGradient + start * k, scratch: a.probabilityScratch, length: length)
            rope.backward(a.queryGradient + start * q, rows: length, heads: config.attentionHeads)
            rope.backward(a.keyGradient + start * k, rows: length, heads: config.keyValueHeads)
        }
        if let queryNorm = w.queryNorm, let keyNorm = w.keyNorm {
            a.queryProjectionGradient.update(repeating: 0, count: n * q)
            a.keyProjectionGradient.update(repeating: 0, count: n * k)
            RMSNorm.backward(
                a.queryGradient, x: slot.queryProjection, weight: weights.pointer(queryNorm), rstd: slot.queryRstd,
                addingInto: a.queryProjectionGradient, rows: n * config.attentionHeads, dim: config.headDim)
            RMSNorm.backward(
                a.keyGradient, x: slot.keyProjection, weight: weights.pointer(keyNorm), rstd: slot.keyRstd,
                addingInto: a.keyProjectionGradient, rows: n * config.keyValueHeads, dim: config.headDim)
        }
        linearBackward(
            layer, .qProj, input: slot.attentionNormed, outputGradient: a.queryProjectionGradient,
            into: a.normedGradient,
            rows: n, inFeatures: h, outFeatures: q, accumulate: false)
        linearBackward(
            layer, .kProj, input: slot.attentionNormed, outputGradient: a.keyProjectionGradient, into: a.normedGradient,
            rows: n, inFeatures: h, outFeatures: k, accumulate: true)
        linearBackward(
            layer, .vProj, input: slot.attentionNormed, outputGradient: a.valueGradient, into: a.normedGradient,
            rows: n, inFeatures: h, outFeatures: k, accumulate: true)
        RMSNorm.backward(
            a.normedGradient, x: slot.input, weight: weights.pointer(w.inputNorm), rstd: slot.attentionRstd,
            addingInto: dx, rows: n, dim: h)
    }

    // MARK: - Linear layers with their hook

    /// `y = x·Wᵀ` over the whole batch, then the hook's part one sequence at a time, then the
    /// layer's bias if it has one (after the hook, which so sees the product alone, as PEFT's
    /// DoRA takes the bias out before it rescales). The base
    /// product is row-stable (see `Matmul`), and calling the hook per sequence keeps what an
    /// adapter computes for a sequence independent of its batch-mates too (and so of how a global
    /// batch is split across ranks). `sequences` defaults to the last forward's.
    func linear(
        _ layer: Int, _ site: LinearSite, _ x: UnsafeMutablePointer<Float>,
        into y: UnsafeMutablePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int,
        sequences: [(start: Int, length: Int)]? = nil, rowStable: Bool = true
    ) {
        product(
            weights.layers[layer].linear(site), x, into: y, rows: rows, inFeatures: inFeatures,
            outFeatures: outFeatures, rowStable: rowStable)
        if let linearHook {
            let base = frozenLinear(layer: layer, site: site)
            for (start, length) in sequences ?? sequenceRows {
                linearHook.forward(
                    LinearCall(
                        layer: layer, site: site, firstRow: start, rows: length, inFeatures: inFeatures,
                        outFeatures: outFeatures),
                    input: x + start * inFeatures, output: y + start * outFeatures, base: base)
            }
        }
        if let bias = weights.layers[layer].biases[site] {
            for row in 0..<rows {
                add(y + row * outFeatures, weights.pointer(bias), into: y + row * outFeatures, count: outFeatures)
            }
        }
    }

    /// Refuses a sequence longer than a sliding-window model's window: within it the window
    /// changes nothing, beyond it ttl-train would compute another model.
    func checkWindow(_ length: Int) throws {
        if let window = config.slidingWindow, length > window {
            throw ModelInputError.beyondSlidingWindow(length, window: window)
        }
    }

    /// `dx (+)= dy·W` over the whole batch, then the hook's part per sequence like `linear`.
    private func linearBackward(
        _ layer: Int, _ site: LinearSite, input: UnsafeMutablePointer<Float>,
        outputGradient: UnsafeMutablePointer<Float>,
        into dx: UnsafeMutablePointer<Float>, rows: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool
    ) {
        productBackward(
            weights.layers[layer].linear(site), outputGradient, into: dx, rows: rows, inFeatures: inFeatures,
            outFeatures: outFeatures, accumulate: accumulate)
        guard let linearHook else { return }
        let base = frozenLinear(layer: layer, site: site)
        for (start, length) in sequenceRows {
            linearHook.backward(
                LinearCall(
                    layer: layer, site: site, firstRow: start, rows: length, inFeatures: inFeatures,
                    outFeatures: outFeatures),
                input: input + start * inFeatures, outputGradient: outputGradient + start * outFeatures,
                inputGradient: dx + start * inFeatures, base: base)
        }
    }

    /// `y = x·Wᵀ` for a dense weight; for a quantized one tile by tile of W's rows, each
    /// dequantized right before its product into the columns it owns (every output column is its
    /// own chain, so the tiles change no bit); or through a factored weight's stages (intermediate
    /// rows in the two scratch buffers, alternately). `rowStable: false` lets a single row (a
    /// generated token) take the matrix-vector product instead.
    func product(
        _ weight: LlamaWeights.Linear, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int, rowStable: Bool = true
    ) {
        let vector = !rowStable && rows == 1
        switch weight {
        case .dense(let offset) where vector:
            Matmul.matrixVector(
                x, panels: weights.pointer(offset), into: y, inFeatures: inFeatures, outFeatures: outFeatures)
        case .dense(let offset):
            Matmul.linear(
                x, panels: weights.pointer(offset), into: y, rows: rows, inFeatures: inFeatures,
                outFeatures: outFeatures)
        case .quantized(let matrix) where vector:
            matrix.matrixVector(x, from: weights.blocks, into: y)
        case .quantized(let matrix):
            for tile in tiles(of: matrix) {
                matrix.dequantize(rows: tile, from: weights.blocks, into: dequantized.pointer)
                Matmul.rowStable(
                    x, dequantized.pointer, into: y + tile.lowerBound, m: rows, n: tile.count, k: inFeatures,
                    transposeB: true,
                    lda: inFeatures, ldb: inFeatures, ldc: outFeatures, accumulate: false)
            }
        case .factored(let stages):
            var source = x
            for (index, (stage, offset)) in stages.enumerated() {
                let target = index == stages.count - 1 ? y : factoredScratch[index % 2].pointer
                Matmul.linear(
                    source, weights.pointer(offset), into: target, rows: rows * stage.groups,
                    inFeatures: stage.inFeatures, outFeatures: stage.outFeatures)
                source = UnsafePointer(target)
            }
        }
    }

    /// `dx (+)= dy·W`: the activation gradient of `product`. A quantized W goes tile by tile of its
    /// rows, which splits the inner dimension: each tile continues the chains the previous one
    /// stored (see `Matmul`), so the bits are those of one product. A factored W goes through the
    /// stages in reverse.
    func productBackward(
        _ weight: LlamaWeights.Linear, _ dy: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>,
        rows: Int, inFeatures: Int, outFeatures: Int, accumulate: Bool
    ) {
        switch weight {
        case .dense(let offset):
            Matmul.linearBackward(
                dy, panels: weights.pointer(offset), into: dx, rows: rows, inFeatures: inFeatures,
                outFeatures: outFeatures, accumulate: accumulate)
        case .quantized(let matrix):
            for tile in tiles(of: matrix) {
                matrix.dequantize(rows: tile, from: weights.blocks, into: dequantized.pointer)
                Matmul.rowStable(
                    dy + tile.lowerBound, dequantized.pointer, into: dx, m: rows, n: inFeatures, k: tile.count,
                    transposeB: false,
                    lda: outFeatures, ldb: inFeatures, ldc: inFeatures, accumulate: accumulate || tile.lowerBound > 0)
            }
        case .factored(let stages):
            var upstream = dy
            for (index, (stage, offset)) in stages.enumerated().reversed() {
                let target = index == 0 ? dx : factoredScratch[index % 2].pointer
                Matmul.linearBackward(
                    upstream, weights.pointer(offset), into: target, rows: rows * stage.groups,
                    inFeatures: stage.inFeatures, outFeatures: stage.outFeatures, accumulate: index == 0 && accumulate)
                upstream = UnsafePointer(target)
            }
        }
    }

    /// The row ranges `product` and `productBackward` dequantize `matrix` in.
    private func tiles(of matrix: QuantizedMatrix) -> [Range<Int>] {
        let rows = LlamaWeights.tileRows(of: matrix)
        return stride(from: 0, to: matrix.rows, by: rows).map { $0..<min($0 + rows, matrix.rows) }
    }

    private func add(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>, count: Int
    ) {
        for index in 0..<count { c[index] = a[index] + b[index] }
    }
}

/// A batch the model cannot run, named so the caller can say what to change.
public enum ModelInputError: Error, Equatable, CustomStringConvertible, Sendable {
    case emptyBatch
    case tooManyTokens(Int, capacity: Int)
    case sequenceTooLong(Int, capacity: Int)
    case tokenOutOfRange(Int32, position: Int, vocabulary: Int)
    case beyondSlidingWindow(Int, window: Int)

    public var description: String {
        switch self {
        case .emptyBatch: return "no tokens to run"
        case .tooManyTokens(let count, let capacity): return "\(count) tokens exceed the batch capacity of \(capacity)"
        case .sequenceTooLong(let length, let capacity):
            return "a sequence of \(length) tokens exceeds the context of \(capacity)"
        case .tokenOutOfRange(let token, let position, let vocabulary):
            return "token id \(token) at position \(position) is outside the vocabulary (0..<\(vocabulary))"
        case .beyondSlidingWindow(let length, let window):
            return
                "a sequence of \(length) tokens exceeds the model's sliding attention window of \(window) (not "
                    + "implemented: "
                + "keep batch.max_length and generation within it)"
        }
    }
}
