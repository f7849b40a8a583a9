/// The pre-tokenizers of the byte-level BPE tokenizers ttl-train reads, written out by hand over
/// Unicode scalars (`\p{L}` letters, `\p{N}` numbers, `\s` White_Space), trying a regex's
/// alternatives in its order at each position:
///
/// - SmolLM2's: `Digits` (each number character its own piece), then `ByteLevel`'s GPT-2 split
///   within each piece — `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;
/// - Llama 3's and Qwen2's: a `Split` by the one regex
///   `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|`
///   ` ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
///   (Qwen2: `\p{N}` one at a time), then `ByteLevel` without its own regex.
struct PreTokenizer {
    enum Kind: Equatable {
        /// `Digits` (when `individualDigits`) then the GPT-2 split.
        case gpt2(individualDigits: Bool)
        /// The Llama 3 split, numbers in runs of at most `digits`.
        case llama3(digits: Int)
    }

    let kind: Kind

    /// The `Split` patterns this type implements, with the digits each allows in a run.
    static let splitPatterns: [String: Int] = [
        llama3Pattern(numbers: #"\p{N}{1,3}"#): 3,
        llama3Pattern(numbers: #"\p{N}"#): 1,
    ]

    /// Llama 3's pattern with `numbers` as its alternative for numbers.
    private static func llama3Pattern(numbers: String) -> String {
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|"# + numbers
            + #"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    }

    func split(_ text: Substring) -> [Substring] {
        switch kind {
        case .gpt2(let individualDigits):
            return (individualDigits ? Self.digitPieces(of: text) : [text]).flatMap {
                Self.tile($0, with: Self.gpt2Match)
            }
        case .llama3(let digits):
            return Self.tile(text) { Self.llama3Match($0, at: $1, digits: digits) }
        }
    }

    /// `Digits`: runs of non-numbers, and each number character alone.
    private static func digitPieces(of text: Substring) -> [Substring] {
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

    /// The matches of a regex (`match` gives the length of the one at a position), which tile
    /// `text`.
    static func tile(_ text: Substring, with match: ([Unicode.Scalar], Int) -> Int) -> [Substring] {
        let scalars = Array(text.unicodeScalars)
        var result: [Substring] = []
        var position = 0
        var utf8Offset = text.unicodeScalars.startIndex
        while position < scalars.count {
            let length = match(scalars, position)
            let end = text.unicodeScalars.index(utf8Offset, offsetBy: length)
            result.append(Substring(text.unicodeScalars[utf8Offset..<end]))
            utf8Offset = end
            position += length
        }
        return result
    }

    /// The length of the GPT-2 regex's first alternative matching at `start` (at least 1).
    private static func gpt2Match(_ s: [Unicode.Scalar], at start: Int) -> Int {
        let count = s.count
        if s[start] == "'", start + 1 < count {
            for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] {
                let tail = Array(suffix.unicodeScalars)
                if start + 1 + tail.count <= count, Array(s[(start + 1)..<(start + 1 + tail.count)]) == tail {
                    return 1 + tail.count
                }
            }
        }
        // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: a leading space can only belong to the
        // run after it (a space is in none of the classes).
        let first = s[start] == " " && start + 1 < count ? start + 1 : start
        for isClass in [isLetter, isNumber, { !isSpace($0) && !isLetter($0) && !isNumber($0) }]
            as [(Unicode.Scalar) -> Bool]
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

    /// The length of the Llama 3 regex's first alternative matching at `start` (at least 1).
    private static func llama3Match(_ s: [Unicode.Scalar], at start: Int, digits: Int) -> Int {
        let count = s.count
        func isLineBreak(_ scalar: Unicode.Scalar) -> Bool { scalar == "\r" || scalar == "\n" }
        // `(?i:'s|'t|'re|'ve|'m|'ll|'d)`
        if s[start] == "'", start + 1 < count {
            for suffix in ["s", "t", "re", "ve", "m", "ll", "d"] {
                let tail = Array(suffix.unicodeScalars)
                guard start + 1 + tail.count <= count else { continue }
                let found = s[(start + 1)..<(start + 1 + tail.count)].map { Character($0).lowercased() }.joined()
                if found == suffix { return 1 + tail.count }
            }
        }
        // `[^\r\n\p{L}\p{N}]?\p{L}+`
        var letters = start
        if !isLineBreak(s[start]) && !isLetter(s[start]) && !isNumber(s[start]) && start + 1 < count
            && isLetter(s[start + 1])
        {
            letters = start + 1
        }
        if isLetter(s[letters]) {
            var end = letters
            while end < count && isLetter(s[end]) { end += 1 }
            return end - start
        }
        // `\p{N}{1,digits}`
        if isNumber(s[start]) {
            var end = start
            while end < count && end - start < digits && isNumber(s[end]) { end += 1 }
            return end - start
        }
        // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        let symbol = { (scalar: Unicode.Scalar) in !isSpace(scalar) && !isLetter(scalar) && !isNumber(scalar) }
        let first = s[start] == " " && start + 1 < count ? start + 1 : start
        if symbol(s[first]) {
            var end = first
            while end < count && symbol(s[end]) { end += 1 }
            while end < count && isLineBreak(s[end]) { end += 1 }
            return end - start
        }
        // `\s*[\r\n]+`: the whitespace run up to its last line break, if it has one.
        var run = start
        while run < count && isSpace(s[run]) { run += 1 }
        if let lastBreak = (start..<run).last(where: { isLineBreak(s[$0]) }) { return lastBreak + 1 - start }
        // `\s+(?!\S)`, then `\s+`.
        if run > start {
            if run == count || run - start == 1 { return run - start }
            return run - start - 1
        }
        return 1
    }
}
