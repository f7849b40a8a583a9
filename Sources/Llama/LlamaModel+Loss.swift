import Kernels

/// The output head: logits only at the rows a loss supervises, in chunks, so a classification
/// batch pays for one vocabulary projection per example and a long perplexity window never holds
/// a (tokens × vocabulary) matrix. A chunk never mixes sequences, so a sequence's losses do not
/// depend on its batch-mates (see `LlamaModel.linear`).
final class OutputHeadBuffers {
    static let chunkRows = 128

    let gathered: FloatBuffer   // (C, H) final normed rows of the chunk
    let logits: FloatBuffer     // (C, V), overwritten by dL/dlogits in backward
    let losses: FloatBuffer     // (C)
    let logSumExp: FloatBuffer  // (C)
    let scratch: FloatBuffer    // (V)
    var targets: [Int32]

    init(config: LlamaConfig) {
        let rows = Self.chunkRows
        gathered = FloatBuffer(count: rows * config.hiddenSize)
        logits = FloatBuffer(count: rows * config.vocabSize)
        losses = FloatBuffer(count: rows)
        logSumExp = FloatBuffer(count: rows)
        scratch = FloatBuffer(count: config.vocabSize)
        targets = [Int32](repeating: 0, count: rows)
    }
}

extension LlamaModel {
    /// Summed cross-entropy (nats) of `targets` after `forward`. With `gradientScale`, also leaves
    /// `d(scale · loss)/d(final normed hidden)` for `backward`.
    public func crossEntropy(_ targets: [LossTarget], gradientScale: Float? = nil) throws -> Double {
        guard let batch else { preconditionFailure("crossEntropy before forward") }
        let (h, v) = (config.hiddenSize, config.vocabSize)
        if let bad = targets.first(where: { $0.row < 0 || $0.row >= batch.count || $0.token < 0 || Int($0.token) >= v }) {
            throw ModelInputError.tokenOutOfRange(bad.token, position: bad.row, vocabulary: v)
        }
        let head = outputHead
        let projection = weights.pointer(weights.outputProjection)
        if gradientScale != nil { activations.normedGradient.update(repeating: 0, count: batch.count * h) }
        var total = 0.0
        for chunk in chunks(of: targets, in: batch) {
            for (index, target) in chunk.enumerated() {
                head.gathered.at(index * h).update(from: activations.finalNormed + target.row * h, count: h)
                head.targets[index] = target.token
            }
            Matmul.linear(head.gathered.pointer, projection, into: head.logits.pointer, rows: chunk.count, inFeatures: h, outFeatures: v)
            total += CrossEntropy.forward(head.logits.pointer, targets: head.targets, rows: chunk.count, vocabulary: v,
                                          losses: head.losses.pointer, logSumExp: head.logSumExp.pointer, scratch: head.scratch.pointer)
            guard let scale = gradientScale else { continue }
            CrossEntropy.backward(head.logits.pointer, targets: head.targets, logSumExp: head.logSumExp.pointer,
                                  rows: chunk.count, vocabulary: v, scale: scale)
            Matmul.linearBackward(head.logits.pointer, projection, into: head.gathered.pointer, rows: chunk.count,
                                  inFeatures: h, outFeatures: v, accumulate: false)
            for (index, target) in chunk.enumerated() {
                let destination = activations.normedGradient + target.row * h
                let source = head.gathered.at(index * h)
                for j in 0..<h { destination[j] += source[j] }
            }
        }
        return total
    }

    /// Consecutive runs of targets from one sequence, at most `chunkRows` long.
    private func chunks(of targets: [LossTarget], in batch: TokenBatch) -> [ArraySlice<LossTarget>] {
        var chunks: [ArraySlice<LossTarget>] = []
        var start = 0
        var sequence = -1
        for (index, target) in targets.enumerated() {
            let targetSequence = batch.offsets.lastIndex { $0 <= target.row }!
            if index > start && (targetSequence != sequence || index - start == OutputHeadBuffers.chunkRows) {
                chunks.append(targets[start..<index])
                start = index
            }
            sequence = targetSequence
        }
        if start < targets.count { chunks.append(targets[start...]) }
        return chunks
    }

    /// Summed next-token loss (nats) of `tokens` in non-overlapping windows of `window` tokens,
    /// each evaluated on its own, and how many tokens were predicted. The model keeps the last
    /// window's forward, so its logits can be read afterwards.
    public func windowedLoss(of tokens: [Int32], window: Int) throws -> (nats: Double, predicted: Int) {
        precondition(window >= 1 && window <= maxTokens && window <= maxSequenceLength, "a window fits the model's capacity")
        var nats = 0.0
        var predicted = 0
        for start in stride(from: 0, to: tokens.count, by: window) {
            let batch = TokenBatch(sequences: [Array(tokens[start..<min(start + window, tokens.count)])])
            try forward(batch)
            let targets = batch.nextTokenTargets
            nats += try crossEntropy(targets)
            predicted += targets.count
        }
        return (nats, predicted)
    }

    /// The final normed hidden state — the output head's input — at packed `rows` after
    /// `forward`, `(rows.count, hidden)`: what CA-LoRA distills.
    public func finalHidden(rows: [Int]) -> [Float] {
        let h = config.hiddenSize
        return rows.flatMap { row in Array(UnsafeBufferPointer(start: activations.finalNormed + row * h, count: h)) }
    }

    /// Adds `gradient (rows.count, hidden)` to dL/d(final normed hidden) at `rows`: a loss on the
    /// hidden state joining the one `crossEntropy(_:gradientScale:)` left, before `backward`.
    public func addFinalHiddenGradient(_ gradient: [Float], rows: [Int]) {
        let h = config.hiddenSize
        precondition(gradient.count == rows.count * h, "one hidden-size gradient per row")
        for (index, row) in rows.enumerated() {
            let destination = activations.normedGradient + row * h
            for j in 0..<h { destination[j] += gradient[index * h + j] }
        }
    }

    /// Adds `gradient (rows.count, vocabulary)`, a loss's gradient with respect to the logits at
    /// `rows`, to dL/d(final normed hidden) through the output projection — for losses on the
    /// logits beyond `crossEntropy`'s (CA-LoRA's KL term), after it and before `backward`.
    public func addLogitGradient(_ gradient: [Float], rows: [Int]) {
        let (h, v) = (config.hiddenSize, config.vocabSize)
        precondition(gradient.count == rows.count * v, "one vocabulary-size gradient per row")
        var hidden = [Float](repeating: 0, count: rows.count * h)
        gradient.withUnsafeBufferPointer { dy in
            Matmul.linearBackward(dy.baseAddress!, weights.pointer(weights.outputProjection), into: &hidden, rows: rows.count,
                                  inFeatures: h, outFeatures: v, accumulate: false)
        }
        addFinalHiddenGradient(hidden, rows: rows)
    }

    /// The vocabulary logits of packed row `row` after `forward`.
    public func logits(row: Int) -> [Float] {
        guard let batch, row >= 0, row < batch.count else { preconditionFailure("row \(row) is not in the last batch") }
        let (h, v) = (config.hiddenSize, config.vocabSize)
        var logits = [Float](repeating: 0, count: v)
        Matmul.linear(activations.finalNormed + row * h, weights.pointer(weights.outputProjection), into: &logits,
                      rows: 1, inFeatures: h, outFeatures: v)
        return logits
    }
}
