import Tokenizer

/// What `data import` ends with and `data inspect` prints: per split the examples, tokens and
/// supervised tokens, length percentiles and truncations, and an example rendered back to text
/// with its supervised part marked.
public struct SplitSummary {
    public let name: String
    public let examples: Int
    public let tokens: Int
    public let supervised: Int
    /// Example lengths in tokens at the 50th, 90th and 99th percentile, and the longest.
    public let lengths: (p50: Int, p90: Int, p99: Int, max: Int)
    public let truncated: Int

    public init(name: String, offsets: [Int], mask: [UInt8], truncated: Int) {
        self.name = name
        examples = offsets.count - 1
        tokens = offsets.last ?? 0
        supervised = mask.reduce(0) { $0 + Int($1) }
        let sorted = (0..<max(examples, 0)).map { offsets[$0 + 1] - offsets[$0] }.sorted()
        let at = { (fraction: Double) in
            sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(fraction * Double(sorted.count)))]
        }
        lengths = (at(0.5), at(0.9), at(0.99), sorted.last ?? 0)
        self.truncated = truncated
    }

    public var line: String {
        "\(name): \(examples) examples, \(tokens) tokens, \(supervised) supervised; length p50 \(lengths.p50) p90 "
            + "\(lengths.p90) "
            + "p99 \(lengths.p99) max \(lengths.max); \(truncated) truncated"
    }

    /// An example's text with each run of supervised tokens between ⟦ and ⟧.
    public static func marked(tokens: [Int32], mask: [UInt8], tokenizer: Tokenizer) -> String {
        var text = ""
        var index = 0
        while index < tokens.count {
            let supervised = mask[index] == 1
            var end = index
            while end < tokens.count, (mask[end] == 1) == supervised { end += 1 }
            let piece = tokenizer.decode(Array(tokens[index..<end]), keepingSpecial: true)
            text += supervised ? "⟦" + piece + "⟧" : piece
            index = end
        }
        return text
    }
}
