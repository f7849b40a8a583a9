/// A BPE model: the vocabulary and the merge ranks. A pre-token (in the byte-level alphabet)
/// starts as single characters; the adjacent pair with the lowest merge rank is merged, the
/// leftmost first among equals, until no pair has a rank — the order `tokenizers` merges in.
struct BytePairEncoding {
    let vocabulary: [String: Int32]
    /// Rank of each merge, keyed by the two symbols joined with a space (neither holds one: the
    /// byte-level alphabet maps the space to `Ġ`).
    let ranks: [String: Int]

    /// The ids of one pre-token; nil if a symbol is missing from the vocabulary.
    func encode(_ word: String) -> [Int32]? {
        var symbols = word.map(String.init)
        while symbols.count > 1 {
            var best: (rank: Int, index: Int)?
            for index in 0..<(symbols.count - 1) {
                if let rank = ranks[symbols[index] + " " + symbols[index + 1]], rank < best?.rank ?? .max {
                    best = (rank, index)
                }
            }
            guard let best else { break }
            symbols[best.index] += symbols[best.index + 1]
            symbols.remove(at: best.index + 1)
        }
        var ids: [Int32] = []
        for symbol in symbols {
            guard let id = vocabulary[symbol] else { return nil }
            ids.append(id)
        }
        return ids
    }
}
