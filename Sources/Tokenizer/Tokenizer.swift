import Foundation

/// A byte-level BPE tokenizer read from a Hugging Face `tokenizer.json` — the kind SmolLM2,
/// Llama 3 and Qwen2/2.5/3 ship: special (added) tokens matched first, an NFC normalizer (Qwen),
/// `Digits` + `ByteLevel` (SmolLM2) or the Llama 3 `Split` + `ByteLevel` pre-tokenization
/// (`PreTokenizer`), BPE merges (with `ignore_merges`: a pre-token in the vocabulary is one
/// token, as Llama 3's says), the byte-level decoder. Anything else a `tokenizer.json` can say
/// (other normalizers, models or pre-tokenizers, byte fallback) is refused when the file is read,
/// so a tokenizer this type cannot reproduce exactly is never used.
///
/// ```swift
/// let tokenizer = try Tokenizer(path: "assets/tokenizer.json")
/// let ids = tokenizer.encode("The capital of Italy is")
/// tokenizer.decode(ids)   // "The capital of Italy is"
/// ```
public final class Tokenizer {
    /// Special tokens by content, longest first (how they are matched in text).
    let specials: [(content: String, id: Int32)]
    /// The specials by their first UTF-8 byte, longest first: text is scanned once, and only at
    /// bytes that can start one is a match tried.
    private let specialsByFirstByte: [[(bytes: [UInt8], id: Int32)]]
    let preTokenizer: PreTokenizer
    let model: BytePairEncoding
    /// Pre-token (byte-level symbols) → id, when `ignore_merges` looks whole pre-tokens up first.
    private let wholeWords: [String: Int32]?
    /// Whether text is put in Unicode normalization form C first (`normalizer: NFC`).
    private let normalizesNFC: Bool
    /// Every id's string: byte-level symbols, or a special token's content.
    let strings: [Int32: String]
    let specialIDs: Set<Int32>
    /// Pre-token → ids and byte lengths: words repeat, and BPE is the slow part. Only short
    /// pre-tokens are kept, so one long line cannot fill memory.
    private var cache: [Substring: (ids: [Int32], lengths: [Int32])] = [:]
    private static let cachedBytes = 64

    public var vocabularySize: Int { strings.count }

    public convenience init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError(path: path, problem: "cannot be read")
        }
        try self.init(json: data, path: path)
    }

    /// `path` names the file in errors.
    public init(json data: Data, path: String) throws {
        func fail(_ problem: String) -> TokenizerError { TokenizerError(path: path, problem: problem) }
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw fail("is not a JSON object")
        }
        let normalizer = root["normalizer"] as? [String: Any]
        guard root["normalizer"] is NSNull || root["normalizer"] == nil || normalizer?["type"] as? String == "NFC"
        else {
            throw fail("normalizer: only none or NFC is supported")
        }
        normalizesNFC = normalizer != nil
        guard let model = root["model"] as? [String: Any], model["type"] as? String == "BPE" else {
            throw fail("model.type: only BPE is supported")
        }
        if model["byte_fallback"] as? Bool == true { throw fail("model.byte_fallback: not supported") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix", "dropout"]
        where !(model[key] is NSNull || model[key] == nil) {
            throw fail("model.\(key): not supported")
        }
        guard let vocabulary = model["vocab"] as? [String: Int] else {
            throw fail("model.vocab: expected an object of ids")
        }
        guard vocabulary.values.allSatisfy({ (0..<Int(Int32.max)).contains($0) }),
            Set(vocabulary.values).count == vocabulary.count
        else {
            throw fail("model.vocab: ids must be distinct and in 0..<2³¹")
        }
        let ids = vocabulary.mapValues(Int32.init)
        wholeWords = model["ignore_merges"] as? Bool == true ? ids : nil
        var merges: [UInt64: BytePairEncoding.Merge] = [:]
        for (rank, merge) in ((model["merges"] as? [Any]) ?? []).enumerated() {
            let pair: [String]
            if let list = merge as? [String] {
                pair = list
            } else if let text = merge as? String {
                pair = text.split(separator: " ").map(String.init)
            } else {
                pair = []
            }
            guard pair.count == 2, !pair.contains(where: { $0.contains(" ") || $0.isEmpty }) else {
                throw fail("model.merges[\(rank)]: expected two symbols")
            }
            guard let left = ids[pair[0]], let right = ids[pair[1]] else {
                throw fail(
                    "model.merges[\(rank)]: '\(ids[pair[0]] == nil ? pair[0] : pair[1])' is not in the vocabulary")
            }
            guard let result = ids[pair[0] + pair[1]] else {
                throw fail("model.merges[\(rank)]: the merge result '\(pair[0] + pair[1])' is not in the vocabulary")
            }
            let key = BytePairEncoding.key(left, right)
            if merges[key] == nil { merges[key] = BytePairEncoding.Merge(rank: Int32(rank), result: result) }
        }
        self.model = BytePairEncoding(byteIDs: ByteLevel.characters.map { ids[String($0)] }, merges: merges)
        preTokenizer = try Self.preTokenizer(root["pre_tokenizer"], fail: fail)
        guard let decoder = root["decoder"] as? [String: Any], decoder["type"] as? String == "ByteLevel" else {
            throw fail("decoder.type: only ByteLevel is supported")
        }
        var specials: [(String, Int32)] = []
        for (index, token) in ((root["added_tokens"] as? [[String: Any]]) ?? []).enumerated() {
            guard let content = token["content"] as? String, !content.isEmpty, let id = token["id"] as? Int,
                (0..<Int(Int32.max)).contains(id)
            else {
                throw fail("added_tokens[\(index)]: expected a content and an id")
            }
            for flag in ["lstrip", "rstrip", "single_word"] where token[flag] as? Bool == true {
                throw fail("added_tokens[\(index)].\(flag): not supported")
            }
            specials.append((content, Int32(id)))
        }
        self.specials = specials.sorted { $0.0.utf8.count > $1.0.utf8.count }
        var byFirstByte = [[(bytes: [UInt8], id: Int32)]](repeating: [], count: 256)
        for (content, id) in self.specials { byFirstByte[Int(content.utf8.first!)].append((Array(content.utf8), id)) }
        specialsByFirstByte = byFirstByte
        specialIDs = Set(specials.map(\.1))
        var strings = Dictionary(uniqueKeysWithValues: vocabulary.map { (Int32($1), $0) })
        for (content, id) in specials { strings[id] = content }
        self.strings = strings
    }

    /// `Sequence` of `Digits` (individual) and `ByteLevel` (regex, no prefix space), or
    /// `ByteLevel` alone; or `Sequence` of the Llama 3 / Qwen2 `Split` (isolated) and `ByteLevel`
    /// without its regex.
    private static func preTokenizer(_ node: Any?, fail: (String) -> TokenizerError) throws -> PreTokenizer {
        guard let node = node as? [String: Any] else { throw fail("pre_tokenizer: missing") }
        let steps = node["type"] as? String == "Sequence" ? (node["pretokenizers"] as? [[String: Any]] ?? []) : [node]
        var kind = PreTokenizer.Kind.gpt2(individualDigits: false)
        for (index, step) in steps.enumerated() {
            switch step["type"] as? String {
            case "Digits" where index == 0 && step["individual_digits"] as? Bool == true:
                kind = .gpt2(individualDigits: true)
            case "Split" where index == 0:
                let pattern = (step["pattern"] as? [String: Any])?["Regex"] as? String ?? ""
                guard let digits = PreTokenizer.splitPatterns[pattern], step["behavior"] as? String == "Isolated",
                    step["invert"] as? Bool != true
                else {
                    throw fail("pre_tokenizer: Split: only Llama 3's and Qwen2's pattern, isolated, is supported")
                }
                kind = .llama3(digits: digits)
            case "ByteLevel" where index == steps.count - 1:
                let split = { if case .llama3 = kind { return true } else { return false } }()
                guard step["add_prefix_space"] as? Bool != true, (step["use_regex"] as? Bool ?? true) != split else {
                    throw fail(
                        "pre_tokenizer: ByteLevel with add_prefix_space, or its regex \(split ? "after" : "without") a "
                            + "Split, is not supported"
                    )
                }
            default:
                throw fail(
                    "pre_tokenizer: only Digits (individual) or Split followed by ByteLevel is supported, got "
                        + "\(step["type"] ?? "nothing")"
                )
            }
        }
        guard steps.last?["type"] as? String == "ByteLevel" else {
            throw fail("pre_tokenizer: must end with ByteLevel")
        }
        return PreTokenizer(kind: kind)
    }

    /// The ids of `text`, special tokens included where their text appears.
    public func encode(_ text: String) -> [Int32] {
        encodeWithOffsets(text).ids
    }

    /// The ids of `text` and the UTF-8 offset in `text` where each token starts: what a data
    /// importer needs to mark the tokens of a span of the text.
    public func encodeWithOffsets(_ text: String) -> (ids: [Int32], offsets: [Int]) {
        var ids: [Int32] = []
        var offsets: [Int] = []
        let bytes = Array(text.utf8)
        var plainStart = 0
        var position = 0
        func flushPlain(upTo end: Int) {
            guard plainStart < end else { return }
            let raw = String(decoding: bytes[plainStart..<end], as: UTF8.self)
            let plain = normalizesNFC ? raw.precomposedStringWithCanonicalMapping : raw
            // Offsets point into the text as given; a run that NFC changes (rare: text is
            // mostly NFC already) has all its tokens at the run's start.
            let exact = plain.utf8.elementsEqual(raw.utf8)
            var offset = plainStart
            for piece in preTokenizer.split(Substring(plain)) {
                let (pieceIDs, lengths) = encodeWord(piece)
                var start = offset
                for (id, length) in zip(pieceIDs, lengths) {
                    ids.append(id)
                    offsets.append(exact ? start : plainStart)
                    start += Int(length)
                }
                offset += piece.utf8.count
            }
        }
        while position < bytes.count {
            let candidates = specialsByFirstByte[Int(bytes[position])]
            let special = candidates.first { candidate in
                bytes.count - position >= candidate.bytes.count
                    && bytes[position..<(position + candidate.bytes.count)].elementsEqual(candidate.bytes)
            }
            if let special {
                flushPlain(upTo: position)
                ids.append(special.id)
                offsets.append(position)
                position += special.bytes.count
                plainStart = position
            } else {
                position += 1
            }
        }
        flushPlain(upTo: bytes.count)
        return (ids, offsets)
    }

    private func encodeWord(_ word: Substring) -> (ids: [Int32], lengths: [Int32]) {
        if let cached = cache[word] { return cached }
        if let wholeWords, let id = wholeWords[ByteLevel.encode(word)] {
            return ([id], [Int32(word.utf8.count)])
        }
        // Every byte-level character is in the vocabulary of a byte-level BPE; a file where one is
        // not would have been a broken export, so its bytes are dropped rather than invented.
        let encoded = model.encode(word.utf8)
        if word.utf8.count <= Self.cachedBytes { cache[word] = encoded }
        return encoded
    }

    /// The text of `ids`; special tokens are left out unless `keepingSpecial`, bytes that are not
    /// valid UTF-8 become U+FFFD (as `tokenizers` decodes).
    public func decode(_ ids: [Int32], keepingSpecial: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard let string = strings[id] else { continue }
            if specialIDs.contains(id) {
                if keepingSpecial { bytes += Array(string.utf8) }
            } else {
                bytes += ByteLevel.decode(string) ?? Array(string.utf8)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The id of a special token, e.g. `<|im_end|>`.
    public func specialID(_ content: String) -> Int32? {
        specials.first { $0.content == content }?.id
    }

    /// Whether `id` is a special token.
    public func isSpecial(_ id: Int32) -> Bool {
        specialIDs.contains(id)
    }
}

/// A tokenizer file this build cannot use, naming it and the setting.
public struct TokenizerError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String

    public var description: String { "\(path): \(problem)" }
}
