/// Several token sequences of different lengths, packed one after another into a single
/// `(tokens, hidden)` activation matrix: no padding, no wasted rows. Attention runs per sequence,
/// so a sequence's results do not depend on which others share its batch.
public struct TokenBatch: Sendable, Equatable {
    /// All tokens, sequence after sequence.
    public let tokens: [Int32]
    /// Start row of each sequence in `tokens`, plus the total at the end.
    public let offsets: [Int]

    public init(sequences: [[Int32]]) {
        tokens = sequences.flatMap { $0 }
        var offsets = [0]
        for sequence in sequences { offsets.append(offsets.last! + sequence.count) }
        self.offsets = offsets
    }

    public var count: Int { tokens.count }
    public var sequenceCount: Int { offsets.count - 1 }

    public func length(of sequence: Int) -> Int {
        offsets[sequence + 1] - offsets[sequence]
    }

    /// Row `position` of sequence `sequence` in the packed matrix.
    public func row(sequence: Int, position: Int) -> Int {
        offsets[sequence] + position
    }

    /// The next-token targets of every position but each sequence's last: what language
    /// modelling (and perplexity) supervises.
    public var nextTokenTargets: [LossTarget] {
        (0..<sequenceCount).flatMap { sequence in
            (0..<max(length(of: sequence) - 1, 0)).map { position in
                let row = self.row(sequence: sequence, position: position)
                return LossTarget(row: row, token: tokens[row + 1])
            }
        }
    }
}

/// A supervised position: the logits of packed row `row` should predict `token`.
public struct LossTarget: Sendable, Equatable {
    public let row: Int
    public let token: Int32

    public init(row: Int, token: Int32) {
        self.row = row
        self.token = token
    }
}
