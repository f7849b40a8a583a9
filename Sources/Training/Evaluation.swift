import Distributed
import Llama

/// Loss and accuracy of a model (with whatever adapters it has attached) on a split of a job's
/// data — the one evaluation the trainer, `ttl-train eval` and the sweep all run.
public struct Evaluation {
    public let dataset: TokenDataset
    public let task: JobSpec.Task
    public let communicator: Communicator

    public init(dataset: TokenDataset, task: JobSpec.Task, communicator: Communicator) {
        self.dataset = dataset
        self.task = task
        self.communicator = communicator
    }

    /// Mean loss per supervised token and accuracy (classification: argmax over the label answer
    /// tokens only) on the first `examples` examples of split `name`.
    ///
    /// A collective: the examples are cut into chunks that fill the model's token capacity (no
    /// optimizer step waits on them, so they need not be micro-batches; the products are
    /// row-stable, so an example's logits do not depend on its chunk), the chunks are dealt
    /// round-robin to the ranks, and the per-chunk sums are gathered and added in chunk order, so
    /// every rank gets the same numbers whatever the world size.
    public func run(_ model: LlamaModel, split name: String, examples: Int) throws -> (loss: Double, accuracy: Double?) {
        let split = try dataset.split(name)
        let count = min(examples, split.count)
        let chunks = Self.chunks(of: split, count: count, capacity: model.maxTokens)
        var sums: [Double] = []
        for (index, chunk) in chunks.enumerated() where index % communicator.size == communicator.rank {
            let (batch, targets) = Trainer.batch(of: Array(chunk), in: split)
            try model.forward(batch)
            let loss = try model.crossEntropy(targets)
            var correct = 0
            if task == .classification {
                for (sequence, example) in chunk.enumerated() {
                    let position = split.supervisedPositions(of: example).last!
                    let answers = model.logits(row: batch.row(sequence: sequence, position: position - 1), tokens: dataset.labelTokenIDs)
                    if Self.predictedLabel(answers) == Int(split.labels[example]) {
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
        return (loss / max(tokens, 1), task == .classification ? correct / Double(max(count, 1)) : nil)
    }

    /// Consecutive runs of the first `count` examples, each as many as fit in `capacity` tokens.
    private static func chunks(of split: TokenDataset.Split, count: Int, capacity: Int) -> [Range<Int>] {
        var chunks: [Range<Int>] = []
        var start = 0
        var tokens = 0
        for example in 0..<count {
            let length = split.offsets[example + 1] - split.offsets[example]
            if example > start && tokens + length > capacity {
                chunks.append(start..<example)
                (start, tokens) = (example, 0)
            }
            tokens += length
        }
        if start < count { chunks.append(start..<count) }
        return chunks
    }

    /// The label whose answer token has the largest logit (`answers`: the answer tokens' logits).
    private static func predictedLabel(_ answers: [Float]) -> Int {
        answers.indices.max { answers[$0] < answers[$1] }!
    }
}
