/// The pre-tokenizer of SmolLM2's `tokenizer.json`: `Digits` (each number character its own
/// piece), then `ByteLevel`'s GPT-2 split within each piece —
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` — written out by
/// hand over Unicode scalars (`\p{L}` letters, `\p{N}` numbers, `\s` White_Space), trying the
/// alternatives in the regex's order at each position.
struct PreTokenizer {
    /// Split every number character off on its own (`Digits` with `individual_digits`).
    let individualDigits: Bool

    func split(_ text: Substring) -> [Substring] {
        pieces(of: text).flatMap(Self.gpt2Split)
    }

    /// `Digits`: runs of non-numbers, and each number character alone.
    private func pieces(of text: Substring) -> [Substring] {
        guard individualDigits else { return [text] }
        var result: [Substring] = []
        var start = text.unicodeScalars.startIndex
        var index = start
        let scalars = text.unicodeScalars
        while index < scalars.endIndex {
            let next = scalars.index(after: index)
            if Self.isNumber(scalars[index]) {
                if start < index { result.append(Substring(scalars[start..<index])) }
                result.append(Substring(scalars[index..<next]))
                start = next
            }
            index = next
        }
        if start < scalars.endIndex { result.append(Substring(scalars[start...])) }
        return result
    }

    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace
    }

    /// The GPT-2 regex's matches, which tile `text`.
    static func gpt2Split(_ text: Substring) -> [Substring] {
        let scalars = Array(text.unicodeScalars)
        var result: [Substring] = []
        var position = 0
        var utf8Offset = text.unicodeScalars.startIndex
        while position < scalars.count {
            let length = match(scalars, at: position)
            let end = text.unicodeScalars.index(utf8Offset, offsetBy: length)
            result.append(Substring(text.unicodeScalars[utf8Offset..<end]))
            utf8Offset = end
            position += length
        }
        return result
    }

    /// The length of the first alternative matching at `start` (at least 1).
    private static func match(_ s: [Unicode.Scalar], at start: Int) -> Int {
        let count = s.count
        if s[start] == "'", start + 1 < count {
            for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] {
                let tail = Array(suffix.unicodeScalars)
                if start + 1 + tail.count <= count, Array(s[(start + 1)..<(start + 1 + tail.count)]) == tail { return 1 + tail.count }
            }
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: a leading space can only belong to the
        // run after it (a space is in none of the classes).
        let first = s[start] == " " && start + 1 < count ? start + 1 : start
        for isClass in [isLetter, isNumber, { !isSpace($0) && !isLetter($0) && !isNumber($0) }] as [(Unicode.Scalar) -> Bool]
        where isClass(s[first]) {
            var end = first
            while end < count && isClass(s[end]) { end += 1 }
            return end - start
        }
        // `\s+(?!\S)`, then `\s+`.
        var end = start
        while end < count && isSpace(s[end]) { end += 1 }
        if end > start {
            if end == count || end - start == 1 { return end - start }
            return end - start - 1
        }
        return 1
    }
}
