/// Splits a template into text and tags and the tags into tokens, applying jinja2's whitespace
/// rules as transformers configures them for chat templates: `trim_blocks` (the newline after a
/// block tag goes), `lstrip_blocks` (spaces and tabs before a block tag on its line go), the
/// `-` markers (`{%-`, `-%}`, `{{-`, …: all whitespace on that side goes), and
/// `keep_trailing_newline` off (one newline at the end of the source goes).
struct Lexer {
    enum Segment {
        case text(String)
        case output([Token], line: Int)
        case statement([Token], line: Int)
    }

    enum Token: Equatable {
        case name(String)
        case string(String)
        case int(Int)
        case double(Double)
        case symbol(String)
    }

    private let bytes: [UInt8]

    init(_ source: String) {
        var bytes = Array(source.utf8)
        if bytes.last == UInt8(ascii: "\n") {
            bytes.removeLast()
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        }
        self.bytes = bytes
    }

    private enum Kind { case output, statement, comment }

    private struct Tag {
        var kind: Kind
        var tokens: [Token]
        var stripBefore: Bool
        var keepIndent: Bool
        var stripAfter: Bool
        var line: Int
    }

    func segments() throws -> [Segment] {
        var pieces: [Either] = []
        var position = 0
        var textStart = 0
        var line = 1
        while position < bytes.count - 1 {
            guard bytes[position] == UInt8(ascii: "{"), let kind = Self.kind(bytes[position + 1]) else {
                if bytes[position] == UInt8(ascii: "\n") { line += 1 }
                position += 1
                continue
            }
            pieces.append(.text(Array(bytes[textStart..<position])))
            var cursor = position + 2
            var tag = Tag(kind: kind, tokens: [], stripBefore: false, keepIndent: false, stripAfter: false, line: line)
            if cursor < bytes.count, bytes[cursor] == UInt8(ascii: "-") {
                tag.stripBefore = true; cursor += 1
            } else if cursor < bytes.count, bytes[cursor] == UInt8(ascii: "+") {
                tag.keepIndent = true; cursor += 1
            }
            if kind == .comment {
                guard let end = find("#}", from: cursor) else {
                    throw TemplateError.syntax("line \(line): a comment is not closed with #}")
                }
                tag.stripAfter = end > cursor && bytes[end - 1] == UInt8(ascii: "-")
                line += bytes[position..<end].filter { $0 == UInt8(ascii: "\n") }.count
                position = end + 2
            } else {
                let close = kind == .output ? UInt8(ascii: "}") : UInt8(ascii: "%")
                let (tokens, end, stripAfter) = try tokenize(from: cursor, closing: close, line: line)
                tag.tokens = tokens
                tag.stripAfter = stripAfter
                line += bytes[position..<end].filter { $0 == UInt8(ascii: "\n") }.count
                position = end
                if kind == .statement, tokens.first == .name("raw") {
                    let (body, after) = try rawBody(from: position, line: line)
                    pieces.append(.tag(tag))
                    pieces.append(.raw(body))
                    position = after
                    textStart = after
                    continue
                }
            }
            pieces.append(.tag(tag))
            textStart = position
        }
        pieces.append(.text(Array(bytes[min(textStart, bytes.count)...])))
        return applyWhitespaceRules(pieces)
    }

    private enum Either {
        case text([UInt8])
        case raw([UInt8])
        case tag(Tag)
    }

    private static func kind(_ byte: UInt8) -> Kind? {
        switch byte {
        case UInt8(ascii: "{"): return .output
        case UInt8(ascii: "%"): return .statement
        case UInt8(ascii: "#"): return .comment
        default: return nil
        }
    }

    private func find(_ marker: String, from start: Int) -> Int? {
        let needle = Array(marker.utf8)
        var index = start
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0] && Array(bytes[index..<(index + needle.count)]) == needle { return index }
            index += 1
        }
        return nil
    }

    /// `{% raw %}…{% endraw %}`: the body as it is written.
    private func rawBody(from start: Int, line: Int) throws -> ([UInt8], Int) {
        var index = start
        while let open = find("{%", from: index) {
            var cursor = open + 2
            if cursor < bytes.count, bytes[cursor] == UInt8(ascii: "-") { cursor += 1 }
            let (tokens, end, _) = try tokenize(from: cursor, closing: UInt8(ascii: "%"), line: line)
            if tokens == [.name("endraw")] { return (Array(bytes[start..<open]), end) }
            index = end
        }
        throw TemplateError.syntax("line \(line): {% raw %} without {% endraw %}")
    }

    /// Drops the whitespace the rules say to drop and joins what is left into segments. Whether
    /// a tag's indentation is at a line start is judged on the source, as jinja2's lexer does:
    /// a tag whose match swallowed a newline (trim_blocks, or `-` before a newline) ends a line.
    private func applyWhitespaceRules(_ pieces: [Either]) -> [Segment] {
        var texts: [[UInt8]] = []
        var tags: [Tag?] = []
        for piece in pieces {
            switch piece {
            case .text(let text), .raw(let text): texts.append(text); tags.append(nil)
            case .tag(let tag): texts.append([]); tags.append(tag)
            }
        }
        let isSpace = { (byte: UInt8) in
            byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d || byte == 0x0b || byte == 0x0c
        }
        let original = texts
        // Whether the source consumed up to the end of piece `index` ends a line.
        func endsLine(_ index: Int) -> Bool {
            guard index >= 0 else { return true }
            guard let tag = tags[index] else { return original[index].last == 0x0a }
            let next = index + 1 < tags.count && tags[index + 1] == nil ? original[index + 1] : []
            if tag.stripAfter {
                let run = next.prefix(while: isSpace)
                return run.last == 0x0a
            }
            return tag.kind != .output && (next.first == 0x0a || next.starts(with: [0x0d, 0x0a]))
        }
        var lstrip = [Bool](repeating: false, count: tags.count)
        for (index, tag) in tags.enumerated() {
            guard let tag, tag.kind != .output, !tag.stripBefore, !tag.keepIndent, index > 0, tags[index - 1] == nil
            else { continue }
            let text = original[index - 1]
            let lineStart = (text.lastIndex(of: 0x0a).map { $0 + 1 }) ?? 0
            let startsLine = lineStart > 0 || endsLine(index - 2)
            lstrip[index] = startsLine && text[lineStart...].allSatisfy { $0 == 0x20 || $0 == 0x09 }
        }
        for (index, tag) in tags.enumerated() {
            guard let tag else { continue }
            if index > 0, tags[index - 1] == nil {
                if tag.stripBefore {
                    while let last = texts[index - 1].last, isSpace(last) { texts[index - 1].removeLast() }
                } else if lstrip[index] {
                    while let last = texts[index - 1].last, last == 0x20 || last == 0x09 {
                        texts[index - 1].removeLast()
                    }
                }
            }
            if index + 1 < tags.count, tags[index + 1] == nil {
                if tag.stripAfter {
                    texts[index + 1] = Array(texts[index + 1].drop(while: isSpace))
                } else if tag.kind != .output {
                    if texts[index + 1].first == 0x0a {
                        texts[index + 1].removeFirst()
                    } else if texts[index + 1].starts(with: [0x0d, 0x0a]) {
                        texts[index + 1].removeFirst(2)
                    }
                }
            }
        }
        var segments: [Segment] = []
        for (index, tag) in tags.enumerated() {
            if let tag {
                switch tag.kind {
                case .output: segments.append(.output(tag.tokens, line: tag.line))
                case .statement: segments.append(.statement(tag.tokens, line: tag.line))
                case .comment: break
                }
            } else if !texts[index].isEmpty {
                segments.append(.text(String(decoding: texts[index], as: UTF8.self)))
            }
        }
        return segments
    }

    /// The tokens of a tag from `start` to its closing `}}` or `%}`; returns the position after
    /// the tag and whether it ended with `-`.
    private func tokenize(from start: Int, closing: UInt8, line: Int) throws -> ([Token], Int, Bool) {
        var tokens: [Token] = []
        var index = start
        func at(_ offset: Int) -> UInt8? { index + offset < bytes.count ? bytes[index + offset] : nil }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d {
                index += 1
                continue
            }
            if byte == UInt8(ascii: "-"), at(1) == closing, at(2) == UInt8(ascii: "}") {
                return (tokens, index + 3, true)
            }
            if byte == closing, at(1) == UInt8(ascii: "}") { return (tokens, index + 2, false) }
            if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                let (text, end) = try stringLiteral(from: index, line: line)
                tokens.append(.string(text))
                index = end
            } else if Self.isDigit(byte) {
                var end = index
                while end < bytes.count, Self.isDigit(bytes[end]) || bytes[end] == UInt8(ascii: "_") { end += 1 }
                var isFloat = false
                if end + 1 < bytes.count, bytes[end] == UInt8(ascii: "."), Self.isDigit(bytes[end + 1]) {
                    isFloat = true
                    end += 1
                    while end < bytes.count, Self.isDigit(bytes[end]) { end += 1 }
                }
                if end < bytes.count, bytes[end] == UInt8(ascii: "e") || bytes[end] == UInt8(ascii: "E") {
                    var exponent = end + 1
                    if exponent < bytes.count,
                        bytes[exponent] == UInt8(ascii: "+") || bytes[exponent] == UInt8(ascii: "-")
                    {
                        exponent += 1
                    }
                    if exponent < bytes.count, Self.isDigit(bytes[exponent]) {
                        isFloat = true
                        end = exponent
                        while end < bytes.count, Self.isDigit(bytes[end]) { end += 1 }
                    }
                }
                let text = String(decoding: bytes[index..<end].filter { $0 != UInt8(ascii: "_") }, as: UTF8.self)
                if isFloat {
                    guard let value = Double(text) else {
                        throw TemplateError.syntax("line \(line): bad number \(text)")
                    }
                    tokens.append(.double(value))
                } else {
                    guard let value = Int(text) else {
                        throw TemplateError.syntax("line \(line): integer \(text) is too large")
                    }
                    tokens.append(.int(value))
                }
                index = end
            } else if Self.isNameStart(byte) {
                var end = index
                while end < bytes.count, Self.isNameStart(bytes[end]) || Self.isDigit(bytes[end]) { end += 1 }
                tokens.append(.name(String(decoding: bytes[index..<end], as: UTF8.self)))
                index = end
            } else {
                let two = at(1).map { String(decoding: [byte, $0], as: UTF8.self) }
                if let two, ["==", "!=", "<=", ">=", "//", "**"].contains(two) {
                    tokens.append(.symbol(two))
                    index += 2
                } else if "()[]{}.,:|~+-*/%<>=".utf8.contains(byte) {
                    tokens.append(.symbol(String(UnicodeScalar(byte))))
                    index += 1
                } else {
                    throw TemplateError.syntax(
                        "line \(line): unexpected character '\(String(decoding: [byte], as: UTF8.self))' in a tag")
                }
            }
        }
        throw TemplateError.syntax("line \(line): a tag is not closed")
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    private static func isNameStart(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte == UInt8(ascii: "_") || byte >= 0x80
    }

    /// A Python string literal with its escapes, and the position after its closing quote.
    private func stringLiteral(from start: Int, line: Int) throws -> (String, Int) {
        let quote = bytes[start]
        var out: [UInt8] = []
        var index = start + 1
        while index < bytes.count {
            let byte = bytes[index]
            if byte == quote { return (String(decoding: out, as: UTF8.self), index + 1) }
            if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                let next = bytes[index + 1]
                index += 2
                switch next {
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "0"): out.append(0)
                case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): out.append(next)
                case UInt8(ascii: "\n"): break
                case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let digits = next == UInt8(ascii: "x") ? 2 : next == UInt8(ascii: "u") ? 4 : 8
                    guard index + digits <= bytes.count,
                        let code = UInt32(String(decoding: bytes[index..<(index + digits)], as: UTF8.self), radix: 16),
                        let scalar = UnicodeScalar(code)
                    else {
                        throw TemplateError.syntax(
                            "line \(line): a bad \\\(String(UnicodeScalar(next))) escape in a string")
                    }
                    out += Array(String(scalar).utf8)
                    index += digits
                default:
                    out += [UInt8(ascii: "\\"), next]
                }
                continue
            }
            out.append(byte)
            index += 1
        }
        throw TemplateError.syntax("line \(line): a string is not closed")
    }
}
