import Foundation

/// JSON as Python's `json` module reads and writes it: objects keep their key order (a key given
/// twice keeps the last value), integers stay integers, `json.dumps`'s separators and escapes.
public enum JSON {
    /// A value that is not JSON, with the byte offset where reading stopped.
    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let offset: Int
        public let problem: String
        public var description: String { "\(problem) at byte \(offset + 1)" }
    }

    /// The value of one JSON text (the whole of `bytes`, whitespace around it allowed).
    public static func parse<Bytes: Collection>(_ bytes: Bytes) throws -> Value
    where Bytes.Element == UInt8, Bytes.Index == Int {
        var reader = Reader(bytes: bytes, position: bytes.startIndex, base: bytes.startIndex)
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.position == bytes.endIndex else { throw reader.failure("extra data after the value") }
        return value
    }

    public static let maximumDepth = 500

    private struct Reader<Bytes: Collection> where Bytes.Element == UInt8, Bytes.Index == Int {
        let bytes: Bytes
        var position: Int
        let base: Int

        func failure(_ problem: String) -> ParseError { ParseError(offset: position - base, problem: problem) }

        var current: UInt8? { position < bytes.endIndex ? bytes[position] : nil }

        mutating func skipSpace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d { position += 1 }
        }

        mutating func value(depth: Int) throws -> Value {
            guard depth < JSON.maximumDepth else { throw failure("nesting deeper than \(JSON.maximumDepth)") }
            guard let byte = current else { throw failure("expecting a value") }
            switch byte {
            case UInt8(ascii: "{"):
                position += 1
                var dict = Value.Dictionary()
                skipSpace()
                if current == UInt8(ascii: "}") { position += 1; return .dict(dict) }
                while true {
                    skipSpace()
                    guard current == UInt8(ascii: "\"") else {
                        throw failure("expecting a property name in double quotes")
                    }
                    let key = try string()
                    skipSpace()
                    guard current == UInt8(ascii: ":") else { throw failure("expecting ':' delimiter") }
                    position += 1
                    skipSpace()
                    dict[key] = try value(depth: depth + 1)
                    skipSpace()
                    if current == UInt8(ascii: ",") { position += 1; continue }
                    if current == UInt8(ascii: "}") { position += 1; return .dict(dict) }
                    throw failure("expecting ',' or '}'")
                }
            case UInt8(ascii: "["):
                position += 1
                var items: [Value] = []
                skipSpace()
                if current == UInt8(ascii: "]") { position += 1; return .list(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    if current == UInt8(ascii: ",") { position += 1; continue }
                    if current == UInt8(ascii: "]") { position += 1; return .list(items) }
                    throw failure("expecting ',' or ']'")
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): return try word("true", .bool(true))
            case UInt8(ascii: "f"): return try word("false", .bool(false))
            case UInt8(ascii: "n"): return try word("null", .none)
            case UInt8(ascii: "N"): return try word("NaN", .double(.nan))
            case UInt8(ascii: "I"): return try word("Infinity", .double(.infinity))
            default:
                return try number()
            }
        }

        private mutating func word(_ text: String, _ value: Value) throws -> Value {
            for expected in text.utf8 {
                guard current == expected else { throw failure("expecting a value") }
                position += 1
            }
            return value
        }

        private mutating func number() throws -> Value {
            let start = position
            if current == UInt8(ascii: "-") {
                position += 1
                if current == UInt8(ascii: "I") { _ = try word("Infinity", .none); return .double(-.infinity) }
            }
            let isDigit = { (byte: UInt8?) in byte.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
            guard isDigit(current) else { position = start; throw failure("expecting a value") }
            if current == UInt8(ascii: "0") { position += 1 } else { while isDigit(current) { position += 1 } }
            var isInteger = true
            if current == UInt8(ascii: "."), position + 1 < bytes.endIndex, isDigit(bytes[position + 1]) {
                isInteger = false
                position += 1
                while isDigit(current) { position += 1 }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                var exponent = position + 1
                if exponent < bytes.endIndex,
                    bytes[exponent] == UInt8(ascii: "+") || bytes[exponent] == UInt8(ascii: "-")
                {
                    exponent += 1
                }
                if exponent < bytes.endIndex, isDigit(bytes[exponent]) {
                    isInteger = false
                    position = exponent
                    while isDigit(current) { position += 1 }
                }
            }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            if isInteger {
                guard let value = Int(text) else {
                    throw ParseError(offset: start - base, problem: "integer \(text.prefix(40)) is out of range")
                }
                return .int(value)
            }
            return .double(Double(text) ?? .nan)
        }

        private mutating func string() throws -> String {
            position += 1
            var out: [UInt8] = []
            while let byte = current {
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: out, as: UTF8.self) else {
                        throw failure("the string is not valid UTF-8")
                    }
                    return text
                case UInt8(ascii: "\\"):
                    guard let escape = current else { throw failure("unterminated string") }
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0c)
                    case UInt8(ascii: "n"): out.append(0x0a)
                    case UInt8(ascii: "r"): out.append(0x0d)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xd800..<0xdc00).contains(code) {
                            guard current == UInt8(ascii: "\\"), position + 1 < bytes.endIndex,
                                bytes[position + 1] == UInt8(ascii: "u")
                            else {
                                throw failure("a lone surrogate \\u\(String(code, radix: 16)) is no character")
                            }
                            position += 2
                            let low = try hex4()
                            guard (0xdc00..<0xe000).contains(low) else {
                                throw failure("a lone surrogate \\u\(String(code, radix: 16)) is no character")
                            }
                            code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00)
                        } else if (0xdc00..<0xe000).contains(code) {
                            throw failure("a lone surrogate \\u\(String(code, radix: 16)) is no character")
                        }
                        out += Array(String(UnicodeScalar(code)!).utf8)
                    default:
                        position -= 1
                        throw failure("invalid \\escape")
                    }
                default:
                    guard byte >= 0x20 else { position -= 1; throw failure("invalid control character in a string") }
                    out.append(byte)
                }
            }
            throw failure("unterminated string")
        }

        private mutating func hex4() throws -> UInt32 {
            guard position + 4 <= bytes.endIndex,
                let code = UInt32(String(decoding: bytes[position..<(position + 4)], as: UTF8.self), radix: 16)
            else {
                throw failure("invalid \\uXXXX escape")
            }
            position += 4
            return code
        }
    }

    /// `json.dumps(value, ensure_ascii=asciiOnly, indent=indent, separators=separators,
    /// sort_keys=sortKeys)`.
    public static func encode(
        _ value: Value, indent: Int? = nil, sortKeys: Bool = false, asciiOnly: Bool = false,
        separators: (String, String)? = nil
    ) throws -> String {
        let (item, key) = separators ?? (indent == nil ? (", ", ": ") : (",", ": "))
        var out = ""
        func write(_ value: Value, level: Int) throws {
            switch value {
            case .none: out += "null"
            case .bool(let flag): out += flag ? "true" : "false"
            case .int(let number): out += String(number)
            case .double(let number):
                out +=
                    number.isNaN
                    ? "NaN" : number.isInfinite ? (number > 0 ? "Infinity" : "-Infinity") : Value.pythonFloat(number)
            case .string(let text): out += quoted(text, asciiOnly: asciiOnly)
            case .list(let items), .tuple(let items):
                guard !items.isEmpty else { out += "[]"; return }
                out += "["
                for (index, element) in items.enumerated() {
                    if index > 0 { out += item }
                    newline(level + 1)
                    try write(element, level: level + 1)
                }
                newline(level)
                out += "]"
            case .dict(let dict):
                guard !dict.keys.isEmpty else { out += "{}"; return }
                out += "{"
                let pairs =
                    sortKeys
                    ? dict.pairs.sorted { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) }
                    : dict.pairs
                for (index, (name, element)) in pairs.enumerated() {
                    if index > 0 { out += item }
                    newline(level + 1)
                    out += quoted(name, asciiOnly: asciiOnly) + key
                    try write(element, level: level + 1)
                }
                newline(level)
                out += "}"
            default:
                throw TemplateError.type("Object of type \(value.typeName) is not JSON serializable")
            }
        }
        func newline(_ level: Int) {
            guard let indent else { return }
            out += "\n" + String(repeating: " ", count: max(0, indent) * level)
        }
        try write(value, level: 0)
        return out
    }

    static func quoted(_ text: String, asciiOnly: Bool) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || (asciiOnly && scalar.value > 0x7f) {
                    if scalar.value > 0xffff {
                        let offset = scalar.value - 0x10000
                        out += String(format: "\\u%04x\\u%04x", 0xd800 + (offset >> 10), 0xdc00 + (offset & 0x3ff))
                    } else {
                        out += String(format: "\\u%04x", scalar.value)
                    }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
