import Kernels

/// Keys and values of every layer for the positions a sequence has seen, and the buffers of one
/// decoding step: what lets `LlamaModel.decode` run only the new tokens.
public final class KeyValueCache {
    /// Positions it can hold (at most the model's `maxSequenceLength`, the rotary table's reach).
    public let capacity: Int
    /// Positions filled so far.
    public private(set) var count = 0
    /// Rows one `decode` call runs at a time (a long prompt goes in chunks of this many).
    let chunk: Int
    let keys: [FloatBuffer]
    let values: [FloatBuffer]
    let x, normed, query, attention, linearOutput, middle, gate, up, activated, rstd, headRstd, scores: FloatBuffer
    let logits: FloatBuffer

    public init(model: LlamaModel, capacity: Int, chunk: Int = 64) {
        precondition(
            capacity >= 1 && capacity <= model.maxSequenceLength,
            "a cache holds 1...\\(model.maxSequenceLength) positions")
        let config = model.config
        let (h, q, kv, i) = (
            config.hiddenSize, model.attention.queryWidth, model.attention.kvWidth, config.intermediateSize
        )
        self.capacity = capacity
        self.chunk = min(chunk, capacity, model.maxTokens)
        keys = (0..<config.layerCount).map { _ in FloatBuffer(count: capacity * kv) }
        values = (0..<config.layerCount).map { _ in FloatBuffer(count: capacity * kv) }
        let rows = self.chunk
        (x, normed, middle, linearOutput) = (
            FloatBuffer(count: rows * h), FloatBuffer(count: rows * h), FloatBuffer(count: rows * h),
            FloatBuffer(count: rows * h)
        )
        (query, attention) = (FloatBuffer(count: rows * q), FloatBuffer(count: rows * q))
        (gate, up, activated) = (
            FloatBuffer(count: rows * i), FloatBuffer(count: rows * i), FloatBuffer(count: rows * i)
        )
        rstd = FloatBuffer(count: rows)
        headRstd = FloatBuffer(count: config.queryKeyNorm ? rows * config.attentionHeads : 0)
        scores = FloatBuffer(count: rows * capacity)
        logits = FloatBuffer(count: config.vocabSize)
    }

    /// Forgets every position (a new sequence).
    public func reset() {
        count = 0
    }

    fileprivate func advance(by rows: Int) {
        count += rows
    }
}

extension LlamaModel {
    /// Runs `tokens`, the next positions of the sequence in `cache`, and returns the logits of the
    /// last one: the prompt once, then one generated token per call. Each token attends to every
    /// position before it through the cached keys and values, so a step costs one token's
    /// products, not the whole prefix's. Adapters attached as the `linearHook` apply as in
    /// `forward`.
    public func decode(_ tokens: [Int32], cache: KeyValueCache) throws -> [Float] {
        guard !tokens.isEmpty else { throw ModelInputError.emptyBatch }
        guard cache.count + tokens.count <= cache.capacity else {
            throw ModelInputError.sequenceTooLong(cache.count + tokens.count, capacity: cache.capacity)
        }
        if let bad = tokens.firstIndex(where: { $0 < 0 || Int($0) >= config.vocabSize }) {
            throw ModelInputError.tokenOutOfRange(
                tokens[bad], position: cache.count + bad, vocabulary: config.vocabSize)
        }
        try checkWindow(cache.count + tokens.count)
        let h = config.hiddenSize
        for start in stride(from: 0, to: tokens.count, by: cache.chunk) {
            let piece = Array(tokens[start..<min(start + cache.chunk, tokens.count)])
            for (row, token) in piece.enumerated() {
                weights.copyRow(Int(token), of: weights.embedding, into: cache.x.pointer + row * h)
            }
            for layer in 0..<config.layerCount { decodeLayer(layer, rows: piece.count, cache: cache) }
            cache.advance(by: piece.count)
        }
        let last = (tokens.count - 1) % cache.chunk
        RMSNorm.forward(
            cache.x.pointer + last * h, weight: weights.pointer(weights.finalNorm), into: cache.normed.pointer,
            rstd: cache.rstd.pointer, rows: 1, dim: h, epsilon: Float(config.rmsNormEpsilon))
        product(
            weights.outputProjection, cache.normed.pointer, into: cache.logits.pointer, rows: 1, inFeatures: h,
            outFeatures: config.vocabSize,
            rowStable: false)
        return cache.logits.array()
    }

    /// One decoder layer over `rows` new positions starting at `cache.count`, in place on `cache.x`.
    private func decodeLayer(_ layer: Int, rows n: Int, cache: KeyValueCache) {
        let (h, q, kv, i) = (config.hiddenSize, attention.queryWidth, attention.kvWidth, config.intermediateSize)
        let w = weights.layers[layer]
        let epsilon = Float(config.rmsNormEpsilon)
        let past = cache.count
        let sequence = [(start: 0, length: n)]
        let (keys, values) = (cache.keys[layer].pointer, cache.values[layer].pointer)

        RMSNorm.forward(
            cache.x.pointer, weight: weights.pointer(w.inputNorm), into: cache.normed.pointer,
            rstd: cache.rstd.pointer, rows: n, dim: h, epsilon: epsilon)
        linear(
            layer, .qProj, cache.normed.pointer, into: cache.query.pointer, rows: n, inFeatures: h, outFeatures: q,
            sequences: sequence, rowStable: false)
        linear(
            layer, .kProj, cache.normed.pointer, into: keys + past * kv, rows: n, inFeatures: h, outFeatures: kv,
            sequences: sequence, rowStable: false)
        linear(
            layer, .vProj, cache.normed.pointer, into: values + past * kv, rows: n, inFeatures: h, outFeatures: kv,
            sequences: sequence, rowStable: false)
        if let queryNorm = w.queryNorm, let keyNorm = w.keyNorm {
            RMSNorm.forward(
                cache.query.pointer, weight: weights.pointer(queryNorm), into: cache.query.pointer,
                rstd: cache.headRstd.pointer,
                rows: n * config.attentionHeads, dim: config.headDim, epsilon: epsilon)
            RMSNorm.forward(
                keys + past * kv, weight: weights.pointer(keyNorm), into: keys + past * kv,
                rstd: cache.headRstd.pointer,
                rows: n * config.keyValueHeads, dim: config.headDim, epsilon: epsilon)
        }
        rope.forward(cache.query.pointer, rows: n, heads: config.attentionHeads, firstPosition: past)
        rope.forward(keys + past * kv, rows: n, heads: config.keyValueHeads, firstPosition: past)
        attention.forwardCached(
            q: cache.query.pointer, keys: keys, values: values, into: cache.attention.pointer,
            scores: cache.scores.pointer, rows: n, past: past)
        linear(
            layer, .oProj, cache.attention.pointer, into: cache.linearOutput.pointer, rows: n, inFeatures: q,
            outFeatures: h, sequences: sequence, rowStable: false)
        for index in 0..<(n * h) {
            cache.middle.pointer[index] = cache.x.pointer[index] + cache.linearOutput.pointer[index]
        }

        RMSNorm.forward(
            cache.middle.pointer, weight: weights.pointer(w.postAttentionNorm), into: cache.normed.pointer,
            rstd: cache.rstd.pointer, rows: n, dim: h, epsilon: epsilon)
        linear(
            layer, .gateProj, cache.normed.pointer, into: cache.gate.pointer, rows: n, inFeatures: h, outFeatures: i,
            sequences: sequence, rowStable: false)
        linear(
            layer, .upProj, cache.normed.pointer, into: cache.up.pointer, rows: n, inFeatures: h, outFeatures: i,
            sequences: sequence, rowStable: false)
        SwiGLU.forward(gate: cache.gate.pointer, up: cache.up.pointer, into: cache.activated.pointer, count: n * i)
        linear(
            layer, .downProj, cache.activated.pointer, into: cache.linearOutput.pointer, rows: n, inFeatures: i,
            outFeatures: h, sequences: sequence, rowStable: false)
        for index in 0..<(n * h) {
            cache.x.pointer[index] = cache.middle.pointer[index] + cache.linearOutput.pointer[index]
        }
    }
}
