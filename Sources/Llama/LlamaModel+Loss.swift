import Kernels

/// The output head: logits only at the rows a loss supervises, in chunks, so a classification
/// batch pays for one row of vocabulary projection per example and a long perplexity window never holds
/// a (tokens × vocabulary) matrix. A chunk may take rows of several sequences: the projection is
/// row-stable (see `Matmul`), so a sequence's losses do not depend on its batch-mates, and every
/// chunk repacks the whole vocabulary matrix, so fewer, larger chunks cost less.
final class OutputHeadBuffers {
    static let chunkRows = 256

    let gathered: FloatBuffer   // (C, H) final normed rows of the chunk
    let logits: FloatBuffer     // (C, V), overwritten by dL/dlogits in backward
    let losses: FloatBuffer     // (C)
    let logSumExp: FloatBuffer  // (C)
    var rowLosses: [Double]     // (C)
    let scratch: FloatBuffer    // (scratchRows, V): one row per thread of the softmax
    static let scratchRows = 8
    var targets: [Int32]

    /// Floats of these buffers (what `init` allocates).
    static func floatCount(config: LlamaConfig) -> Int {
        chunkRows * (config.hiddenSize + config.vocabSize + 2) + scratchRows * config.vocabSize
    }

    init(config: LlamaConfig) {
        let rows = Self.chunkRows
        gathered = FloatBuffer(count: rows * config.hiddenSize)
        logits = FloatBuffer(count: rows * config.vocabSize)
        losses = FloatBuffer(count: rows)
        logSumExp = FloatBuffer(count: rows)
        rowLosses = [Double](repeating: 0, count: rows)
        scratch = FloatBuffer(count: Self.scratchRows * config.vocabSize)
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
        let projection = weights.outputProjection
        if gradientScale != nil { activations.normedGradient.update(repeating: 0, count: batch.count * h) }
        var total = 0.0
        for chunk in chunks(of: targets) {
            for (index, target) in chunk.enumerated() {
                head.gathered.at(index * h).update(from: activations.finalNormed + target.row * h, count: h)
                head.targets[index] = target.token
            }
            product(projection, head.gathered.pointer, into: head.logits.pointer, rows: chunk.count, inFeatures: h, outFeatures: v)
            total += CrossEntropy.forward(head.logits.pointer, targets: head.targets, rows: chunk.count, vocabulary: v,
                                          losses: head.losses.pointer, logSumExp: head.logSumExp.pointer, rowLosses: &head.rowLosses,
                                          scratch: head.scratch.pointer, scratchRows: OutputHeadBuffers.scratchRows)
            guard let scale = gradientScale else { continue }
            CrossEntropy.backward(head.logits.pointer, targets: head.targets, logSumExp: head.logSumExp.pointer,
                                  rows: chunk.count, vocabulary: v, scale: scale)
            productBackward(projection, head.logits.pointer, into: head.gathered.pointer, rows: chunk.count,
                            inFeatures: h, outFeatures: v, accumulate: false)
            for (index, target) in chunk.enumerated() {
                let destination = activations.normedGradient + target.row * h
                let source = head.gathered.at(index * h)
                for j in 0..<h { destination[j] += source[j] }
            }
        }
        return total
    }

    /// Consecutive runs of at most `chunkRows` targets.
    private func chunks(of targets: [LossTarget]) -> [ArraySlice<LossTarget>] {
        stride(from: 0, to: targets.count, by: OutputHeadBuffers.chunkRows).map {
            targets[$0..<min($0 + OutputHeadBuffers.chunkRows, targets.count)]
        }
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
            hidden.withUnsafeMutableBufferPointer { dx in
                productBackward(weights.outputProjection, dy.baseAddress!, into: dx.baseAddress!, rows: rows.count,
                                inFeatures: h, outFeatures: v, accumulate: false)
            }
        }
        addFinalHiddenGradient(hidden, rows: rows)
    }

    /// The vocabulary logits of packed row `row` after `forward`.
    public func logits(row: Int) -> [Float] {
        logits(rows: row..<(row + 1))
    }

    /// The vocabulary logits of packed `rows` after `forward`, `(rows.count, vocabulary)`, in one
    /// projection (bit for bit what `logits(row:)` gives each row).
    public func logits(rows: Range<Int>) -> [Float] {
        guard let batch, rows.lowerBound >= 0, rows.upperBound <= batch.count else {
            preconditionFailure("rows \(rows) are not in the last batch")
        }
        let (h, v) = (config.hiddenSize, config.vocabSize)
        var logits = [Float](repeating: 0, count: rows.count * v)
        logits.withUnsafeMutableBufferPointer { y in
            product(weights.outputProjection, activations.finalNormed + rows.lowerBound * h, into: y.baseAddress!,
                    rows: rows.count, inFeatures: h, outFeatures: v)
        }
        return logits
    }

    /// The logits of `tokens` only at packed row `row` after `forward` — the same bits as those
    /// entries of `logits(row:)`, for a classifier's few answer tokens without projecting onto
    /// the whole vocabulary.
    public func logits(row: Int, tokens: [Int32]) -> [Float] {
        guard let batch, row >= 0, row < batch.count else { preconditionFailure("row \(row) is not in the last batch") }
        let h = config.hiddenSize
        var rows = [Float](repeating: 0, count: tokens.count * h)
        rows.withUnsafeMutableBufferPointer { rows in
            for (index, token) in tokens.enumerated() {
                precondition(token >= 0 && Int(token) < config.vocabSize, "token \(token) is outside the vocabulary")
                weights.copyRow(Int(token), of: weights.outputProjection, into: rows.baseAddress! + index * h)
            }
        }
        var logits = [Float](repeating: 0, count: tokens.count)
        Matmul.linear(activations.finalNormed + row * h, rows, into: &logits, rows: 1, inFeatures: h, outFeatures: tokens.count)
        return logits
    }
}
