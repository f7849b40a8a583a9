import Distributed
import Llama

extension Trainer {
    /// Mean loss per supervised token and accuracy (classification: argmax over the label answer
    /// tokens only) on the first `examples` examples of `split`.
    ///
    /// A collective: the micro-batch-sized chunks are dealt round-robin to the ranks, and the
    /// per-chunk sums are gathered and added in chunk order, so every rank gets the same numbers
    /// whatever the world size.
    public func evaluate(split name: String, examples: Int) throws -> (loss: Double, accuracy: Double?) {
        let split = try resolved.dataset.split(name)
        let count = min(examples, split.count)
        let chunks = stride(from: 0, to: count, by: spec.batch.micro).map { $0..<min($0 + spec.batch.micro, count) }
        var sums: [Double] = []
        for (index, chunk) in chunks.enumerated() where index % communicator.size == communicator.rank {
            let (batch, targets) = Self.batch(of: Array(chunk), in: split)
            try model.forward(batch)
            let loss = try model.crossEntropy(targets)
            var correct = 0
            if spec.task == .classification {
                for (sequence, example) in chunk.enumerated() {
                    let position = split.supervisedPositions(of: example).last!
                    if predictedLabel(logits: model.logits(row: batch.row(sequence: sequence, position: position - 1))) == Int(split.labels[example]) {
                        correct += 1
                    }
                }
            }
            sums += [loss, Double(targets.count), Double(correct)]
        }
        let gathered = try communicator.allgather(sums)
        var loss = 0.0
        var tokens = 0.0
        var correct = 0.0
        for index in chunks.indices {
            let offset = index / communicator.size * 3
            let values = gathered[index % communicator.size]
            loss += values[offset]
            tokens += values[offset + 1]
            correct += values[offset + 2]
        }
        return (loss / max(tokens, 1), spec.task == .classification ? correct / Double(max(count, 1)) : nil)
    }

    /// The label whose answer token has the largest logit.
    private func predictedLabel(logits: [Float]) -> Int {
        let answers = resolved.dataset.labelTokenIDs.map { logits[Int($0)] }
        return answers.indices.max { answers[$0] < answers[$1] }!
    }
}
