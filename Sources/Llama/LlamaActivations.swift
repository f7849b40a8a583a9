import Kernels

/// Every buffer the forward and backward passes use, allocated once for a capacity of `maxTokens`
/// packed tokens in sequences of at most `maxSequenceLength`: nothing is allocated per step, per
/// layer or per token.
///
/// Training keeps one slot of activations per layer for backward; inference reuses a single slot;
/// training with recomputation keeps each layer's input only and one working slot, which backward
/// refills for one layer at a time (`Retention`). Shapes, with N = tokens, H = hidden, Q = heads·head_dim, K = kv_heads·head_dim, I = intermediate:
final class LlamaActivations {
    /// What the forward pass keeps for backward.
    enum Retention: Sendable {
        /// Nothing: inference, one slot reused by every layer.
        case none
        /// Every layer's activations.
        case everyLayer
        /// Every layer's input; the rest lives in one slot that backward recomputes per layer.
        case layerInputs
    }

    /// One layer's saved tensors.
    struct Slot {
        let input: UnsafeMutablePointer<Float>  // (N, H) residual stream into the layer
        let attentionNormed: UnsafeMutablePointer<Float>  // (N, H) input of q/k/v_proj
        let attentionRstd: UnsafeMutablePointer<Float>  // (N)
        let queryProjection: UnsafeMutablePointer<Float>  // (N, Q) q_proj's output: `query` itself without q/k norm
        let keyProjection: UnsafeMutablePointer<Float>  // (N, K) k_proj's output: `key` itself without q/k norm
        let queryRstd: UnsafeMutablePointer<Float>  // (N, heads) of the q norm (empty without it)
        let keyRstd: UnsafeMutablePointer<Float>  // (N, kv heads) of the k norm (empty without it)
        let query: UnsafeMutablePointer<Float>  // (N, Q) after RoPE
        let key: UnsafeMutablePointer<Float>  // (N, K) after RoPE
        let value: UnsafeMutablePointer<Float>  // (N, K)
        let probabilities: UnsafeMutablePointer<Float>  // Σ heads·L² over the sequences
        let attention: UnsafeMutablePointer<Float>  // (N, Q) input of o_proj
        let middle: UnsafeMutablePointer<Float>  // (N, H) residual after attention
        let mlpNormed: UnsafeMutablePointer<Float>  // (N, H) input of gate/up_proj
        let mlpRstd: UnsafeMutablePointer<Float>  // (N)
        let gate: UnsafeMutablePointer<Float>  // (N, I)
        let up: UnsafeMutablePointer<Float>  // (N, I)
        let activated: UnsafeMutablePointer<Float>  // (N, I) input of down_proj
    }

    let maxTokens: Int
    let maxSequenceLength: Int
    let retention: Retention
    let slots: [Slot]
    let output: UnsafeMutablePointer<Float>  // (N, H) residual after the last layer
    let finalNormed: UnsafeMutablePointer<Float>  // (N, H)
    let finalRstd: UnsafeMutablePointer<Float>  // (N)
    let linearOutput: UnsafeMutablePointer<Float>  // (N, H) o_proj / down_proj product before the residual add

    // Backward scratch, one copy for all layers.
    let hiddenGradient: UnsafeMutablePointer<Float>  // (N, H) dL/d(residual stream)
    let normedGradient: UnsafeMutablePointer<Float>  // (N, H) dL/d(normed input)
    let queryGradient: UnsafeMutablePointer<Float>  // (N, Q)
    let keyGradient: UnsafeMutablePointer<Float>  // (N, K)
    let queryProjectionGradient: UnsafeMutablePointer<Float>  // (N, Q) before the q norm: `queryGradient` without it
    let keyProjectionGradient: UnsafeMutablePointer<Float>  // (N, K) before the k norm: `keyGradient` without it
    let valueGradient: UnsafeMutablePointer<Float>  // (N, K)
    let attentionGradient: UnsafeMutablePointer<Float>  // (N, Q)
    let gateGradient: UnsafeMutablePointer<Float>  // (N, I)
    let upGradient: UnsafeMutablePointer<Float>  // (N, I)
    let activatedGradient: UnsafeMutablePointer<Float>  // (N, I)
    let probabilityScratch: UnsafeMutablePointer<Float>  // (kv heads, L, L)

    private let storage: FloatBuffer

    init(config: LlamaConfig, maxTokens: Int, maxSequenceLength: Int, retention: Retention) {
        self.maxTokens = maxTokens
        self.maxSequenceLength = maxSequenceLength
        self.retention = retention
        let n = maxTokens
        let (h, q, k, i) = (
            config.hiddenSize, config.attentionHeads * config.headDim,
            config.keyValueHeads * config.headDim, config.intermediateSize
        )
        let probabilities = Self.probabilityCount(
            config: config, maxTokens: maxTokens, maxSequenceLength: maxSequenceLength)
        let storage = FloatBuffer(
            count: Self.floatCount(
                config: config, maxTokens: maxTokens, maxSequenceLength: maxSequenceLength,
                retention: retention))
        self.storage = storage

        var cursor = 0
        func take(_ count: Int) -> UnsafeMutablePointer<Float> {
            defer { cursor += count }
            return storage.at(cursor)
        }
        let normed = config.queryKeyNorm
        func slot(input: UnsafeMutablePointer<Float>) -> Slot {
            let (attentionNormed, attentionRstd, query, key) = (take(n * h), take(n), take(n * q), take(n * k))
            return Slot(
                input: input, attentionNormed: attentionNormed, attentionRstd: attentionRstd,
                queryProjection: normed ? take(n * q) : query, keyProjection: normed ? take(n * k) : key,
                queryRstd: take(normed ? n * config.attentionHeads : 0),
                keyRstd: take(normed ? n * config.keyValueHeads : 0),
                query: query, key: key, value: take(n * k), probabilities: take(probabilities), attention: take(n * q),
                middle: take(n * h), mlpNormed: take(n * h), mlpRstd: take(n), gate: take(n * i), up: take(n * i),
                activated: take(n * i))
        }
        switch retention {
        case .none, .everyLayer:
            slots = (0..<(retention == .everyLayer ? config.layerCount : 1)).map { _ in slot(input: take(n * h)) }
        case .layerInputs:
            // One working slot; each layer's view of it has the layer's own input.
            let layerInputs = (0..<config.layerCount).map { _ in take(n * h) }
            let work = slot(input: layerInputs[0])
            slots = layerInputs.map { input in
                Slot(
                    input: input, attentionNormed: work.attentionNormed, attentionRstd: work.attentionRstd,
                    queryProjection: work.queryProjection, keyProjection: work.keyProjection, queryRstd: work.queryRstd,
                    keyRstd: work.keyRstd, query: work.query, key: work.key, value: work.value,
                    probabilities: work.probabilities, attention: work.attention,
                    middle: work.middle, mlpNormed: work.mlpNormed, mlpRstd: work.mlpRstd, gate: work.gate, up: work.up,
                    activated: work.activated)
            }
        }
        output = take(n * h)
        finalNormed = take(n * h)
        finalRstd = take(n)
        linearOutput = take(n * h)
        hiddenGradient = take(n * h)
        normedGradient = take(n * h)
        queryGradient = take(n * q)
        keyGradient = take(n * k)
        queryProjectionGradient = normed ? take(n * q) : queryGradient
        keyProjectionGradient = normed ? take(n * k) : keyGradient
        valueGradient = take(n * k)
        attentionGradient = take(n * q)
        gateGradient = take(n * i)
        upGradient = take(n * i)
        activatedGradient = take(n * i)
        probabilityScratch = take(config.keyValueHeads * maxSequenceLength * maxSequenceLength)
        precondition(cursor <= storage.count)
    }

    /// Σ L² over packed sequences is at most maxSequenceLength · N, per head.
    private static func probabilityCount(config: LlamaConfig, maxTokens: Int, maxSequenceLength: Int) -> Int {
        config.attentionHeads * min(maxSequenceLength, maxTokens) * maxTokens
    }

    /// Floats of all buffers for this capacity and retention (what `init` allocates).
    static func floatCount(config: LlamaConfig, maxTokens n: Int, maxSequenceLength: Int, retention: Retention) -> Int {
        let (h, q, k, i) = (
            config.hiddenSize, config.attentionHeads * config.headDim,
            config.keyValueHeads * config.headDim, config.intermediateSize
        )
        let probabilities = probabilityCount(config: config, maxTokens: n, maxSequenceLength: maxSequenceLength)
        let queryKeyNorm = config.queryKeyNorm ? n * (q + k + config.attentionHeads + config.keyValueHeads) : 0
        let slotSize = 4 * n * h + 2 * n + 2 * n * q + 2 * n * k + probabilities + 3 * n * i + queryKeyNorm
        let slotCount = retention == .everyLayer ? config.layerCount : 1
        let inputs = retention == .layerInputs ? config.layerCount * n * h : 0
        let globals = 4 * n * h + n
        let scratch =
            2 * n * h + 2 * n * q + 2 * n * k + 3 * n * i + config.keyValueHeads * maxSequenceLength * maxSequenceLength
            + (config.queryKeyNorm ? n * (q + k) : 0)
        return slotCount * slotSize + inputs + globals + scratch
    }

    /// Whether each layer has its own input (training): layer outputs go to the next layer's slot.
    var keepsLayers: Bool { slots.count > 1 }

    /// Floats of all these buffers, for memory reports.
    var floatCount: Int { storage.count }

    func slot(_ layer: Int) -> Slot {
        slots[slots.count == 1 ? 0 : layer]
    }

    /// Where layer `layer` writes its output: the next layer's input, or `finalResidual` after the
    /// last. With a single slot the layer overwrites its own input, which it no longer needs then.
    func residualOutput(of layer: Int, layerCount: Int) -> UnsafeMutablePointer<Float> {
        layer + 1 < layerCount ? slot(layer + 1).input : finalResidual
    }

    /// The residual stream after the last layer.
    var finalResidual: UnsafeMutablePointer<Float> {
        keepsLayers ? output : slots[0].input
    }
}
