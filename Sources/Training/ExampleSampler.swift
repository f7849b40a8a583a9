import Llama

/// Which examples each micro-batch of each step trains on, fixed by the seed alone.
///
/// The examples are read in epochs, each a seeded permutation of the split; global position
/// `p = step · globalBatch + k` is the k-th example of step `step`. Micro-batch `i` of a step is
/// positions `i·microBatch ..< (i+1)·microBatch` of it, whichever rank runs it — so the world size
/// changes who computes a micro-batch, never what it contains, and a resumed run continues the
/// same sequence from the step number alone.
public struct ExampleSampler: Sendable {
    public let exampleCount: Int
    public let seed: UInt64

    public init(exampleCount: Int, seed: UInt64) {
        precondition(exampleCount > 0, "a sampler needs examples")
        self.exampleCount = exampleCount
        self.seed = seed
    }

    /// The permutation of epoch `epoch` (Fisher–Yates with SplitMix64 seeded by seed and epoch).
    public func permutation(epoch: Int) -> [Int] {
        var order = Array(0..<exampleCount)
        var generator = SplitMix64(seed: seed ^ (0xA5A5_5A5A_0000_0000 &+ UInt64(epoch)))
        for index in stride(from: exampleCount - 1, to: 0, by: -1) {
            let other = Int(generator.next() % UInt64(index + 1))
            order.swapAt(index, other)
        }
        return order
    }

    /// The examples of micro-batch `microBatchIndex` of step `step`.
    public func microBatch(step: Int, index microBatchIndex: Int, globalBatch: Int, microBatch: Int) -> [Int] {
        let first = step * globalBatch + microBatchIndex * microBatch
        var epoch = -1
        var order: [Int] = []
        return (first..<(first + microBatch)).map { position in
            if position / exampleCount != epoch {
                epoch = position / exampleCount
                order = permutation(epoch: epoch)
            }
            return order[position % exampleCount]
        }
    }

    /// A step's examples cut, in order, into micro-batches of at most `tokenBudget` tokens (an
    /// example longer than the budget alone): packing. Fixed by the step alone, like the
    /// unpacked micro-batches, so which rank runs a micro-batch never changes what it holds.
    public func packedMicroBatches(step: Int, globalBatch: Int, tokenBudget: Int, length: (Int) -> Int) -> [[Int]] {
        var groups: [[Int]] = []
        var tokens = 0
        for example in microBatch(step: step, index: 0, globalBatch: globalBatch, microBatch: globalBatch) {
            let size = length(example)
            if groups.isEmpty || tokens + size > tokenBudget {
                groups.append([])
                tokens = 0
            }
            groups[groups.count - 1].append(example)
            tokens += size
        }
        return groups
    }

    /// The epoch a step starts in (for the progress line and the checkpoint).
    public func epoch(atStep step: Int, globalBatch: Int) -> Int {
        step * globalBatch / exampleCount
    }
}
