/// The methods of Python's `str` and `dict` that chat templates call (`content.split('</think>')`,
/// `message.items()`), with Python's semantics: positions and lengths in code points, `split()`
/// without a separator splitting on runs of whitespace, `strip()` without characters stripping
/// what `str.isspace` calls whitespace.
enum Methods {
    static func ofString(_ text: String, _ name: String) -> Value? {
        func method(_ body: @escaping (Arguments) throws -> Value) -> Value {
            .function(Value.Function(name: name, call: body))
        }
        switch name {
        case "upper": return method { _ in .string(text.uppercased()) }
        case "lower": return method { _ in .string(text.lowercased()) }
        case "title": return method { _ in .string(titleCased(text)) }
        case "capitalize":
            return method { _ in
                .string(text.isEmpty ? "" : text.prefix(1).uppercased() + text.dropFirst().lowercased())
            }
        case "strip", "lstrip", "rstrip":
            return method { arguments in
                .string(
                    strip(text, try arguments.string(0, "chars"), leading: name != "rstrip", trailing: name != "lstrip")
                )
            }
        case "startswith", "endswith":
            return method { arguments in
                let candidates: [Value]
                switch arguments.positional.first {
                case .list(let items)?, .tuple(let items)?: candidates = items
                case let value?: candidates = [value]
                case nil: throw TemplateError.type("\(name)() takes a string")
                }
                let bytes = Array(text.utf8)
                return .bool(
                    try candidates.contains { candidate in
                        guard case .string(let affix) = candidate else {
                            throw TemplateError.type("\(name)() takes strings, got \(candidate.typeName)")
                        }
                        return name == "startswith"
                            ? bytes.starts(with: affix.utf8) : bytes.reversed().starts(with: affix.utf8.reversed())
                    })
            }
        case "split", "rsplit":
            return method { arguments in
                let parts = try split(
                    text, separator: try arguments.string(0, "sep"), limit: try arguments.int(1, "maxsplit") ?? -1,
                    fromRight: name == "rsplit")
                return .list(parts.map { .string($0) })
            }
        case "splitlines":
            return method { _ in
                .list(
                    text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map {
                        .string(String($0))
                    }.dropLastIfEmpty())
            }
        case "replace":
            return method { arguments in
                guard let old = try arguments.string(0, "old"), let new = try arguments.string(1, "new") else {
                    throw TemplateError.type("replace() takes two strings")
                }
                return .string(replace(text, old, new, count: try arguments.int(2, "count") ?? -1))
            }
        case "find", "count":
            return method { arguments in
                guard let part = try arguments.string(0, "sub") else {
                    throw TemplateError.type("\(name)() takes a string")
                }
                let (haystack, needle) = (Array(text.utf8), Array(part.utf8))
                if name == "find" {
                    guard let offset = find(needle, in: haystack) else { return .int(-1) }
                    return .int(String(decoding: haystack[..<offset], as: UTF8.self).unicodeScalars.count)
                }
                return .int(occurrences(needle, in: haystack).count)
            }
        case "join":
            return method { arguments in
                let items = try Builtins.iterate(arguments.positional.first ?? .list([]), what: "join")
                return .string(
                    try items.map { item in
                        guard case .string(let part) = item else {
                            throw TemplateError.type("join() expects strings, got \(item.typeName)")
                        }
                        return part
                    }.joined(separator: text))
            }
        case "isdigit":
            return method { _ in
                .bool(
                    !text.isEmpty
                        && text.unicodeScalars.allSatisfy {
                            $0.properties.numericType == .decimal || $0.properties.numericType == .digit
                        })
            }
        case "isalpha":
            return method { _ in .bool(!text.isEmpty && text.unicodeScalars.allSatisfy(\.properties.isAlphabetic)) }
        case "isspace": return method { _ in .bool(!text.isEmpty && text.unicodeScalars.allSatisfy(isSpace)) }
        case "islower":
            return method { _ in .bool(text.contains(where: \.isLowercase) && !text.contains(where: \.isUppercase)) }
        case "isupper":
            return method { _ in .bool(text.contains(where: \.isUppercase) && !text.contains(where: \.isLowercase)) }
        case "format": return method { _ in throw TemplateError.unsupported("str.format()") }
        default: return nil
        }
    }

    static func ofDict(_ dict: Value.Dictionary, _ name: String) -> Value? {
        func method(_ body: @escaping (Arguments) throws -> Value) -> Value {
            .function(Value.Function(name: name, call: body))
        }
        switch name {
        case "items": return method { _ in .list(dict.pairs.map { .tuple([.string($0.0), $0.1]) }) }
        case "keys": return method { _ in .list(dict.keys.map { .string($0) }) }
        case "values": return method { _ in .list(dict.values) }
        case "get":
            return method { arguments in
                guard case .string(let key)? = arguments.positional.first else {
                    return arguments.value(1, "default") ?? .none
                }
                return dict[key] ?? arguments.value(1, "default") ?? .none
            }
        default: return nil
        }
    }

    static func ofList(_ items: [Value], _ name: String) -> Value? {
        switch name {
        case "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse":
            // transformers renders in jinja2's immutable sandbox, which refuses these.
            return .function(
                Value.Function(name: name) { _ in
                    throw TemplateError.type("access to attribute '\(name)' of 'list' object is unsafe")
                })
        case "index":
            return .function(
                Value.Function(name: name) { arguments in
                    guard let value = arguments.positional.first, let index = items.firstIndex(of: value) else {
                        throw TemplateError.type("list.index(x): x not in list")
                    }
                    return .int(index)
                })
        case "count":
            return .function(
                Value.Function(name: name) { arguments in
                    .int(items.filter { $0 == (arguments.positional.first ?? .none) }.count)
                })
        default: return nil
        }
    }

    /// What Python's `str.isspace` counts as whitespace.
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (0x1c...0x1f).contains(scalar.value)
    }

    static func strip(_ text: String, _ characters: String?, leading: Bool, trailing: Bool) -> String {
        let set = characters.map { Set($0.unicodeScalars) }
        let strips = { (scalar: Unicode.Scalar) in set?.contains(scalar) ?? isSpace(scalar) }
        var scalars = Substring(text).unicodeScalars[...]
        if leading { while let first = scalars.first, strips(first) { scalars.removeFirst() } }
        if trailing { while let last = scalars.last, strips(last) { scalars.removeLast() } }
        return String(String.UnicodeScalarView(scalars))
    }

    static func split(_ text: String, separator: String?, limit: Int, fromRight: Bool) throws -> [String] {
        guard let separator else {
            var words = text.unicodeScalars.split(whereSeparator: isSpace).map { String(String.UnicodeScalarView($0)) }
            guard limit >= 0, words.count > limit + 1 else { return words }
            // With a limit, the rest keeps its inner whitespace: split again by position.
            var parts: [String] = []
            var rest = Substring(text)
            if fromRight {
                for _ in 0..<limit {
                    rest = Substring(strip(String(rest), nil, leading: false, trailing: true))
                    guard let cut = rest.unicodeScalars.lastIndex(where: isSpace) else { break }
                    parts.insert(String(rest[rest.unicodeScalars.index(after: cut)...]), at: 0)
                    rest = rest[..<cut]
                }
                words = [strip(String(rest), nil, leading: true, trailing: true)] + parts
            } else {
                for _ in 0..<limit {
                    rest = Substring(strip(String(rest), nil, leading: true, trailing: false))
                    guard let cut = rest.unicodeScalars.firstIndex(where: isSpace) else { break }
                    parts.append(String(rest[..<cut]))
                    rest = rest[cut...]
                }
                words = parts + [strip(String(rest), nil, leading: true, trailing: false)]
            }
            return words
        }
        guard !separator.isEmpty else { throw TemplateError.type("empty separator") }
        let (haystack, needle) = (Array(text.utf8), Array(separator.utf8))
        var cuts = occurrences(needle, in: haystack)
        if limit >= 0, cuts.count > limit { cuts = fromRight ? Array(cuts.suffix(limit)) : Array(cuts.prefix(limit)) }
        var parts: [String] = []
        var start = 0
        for cut in cuts {
            parts.append(String(decoding: haystack[start..<cut], as: UTF8.self))
            start = cut + needle.count
        }
        parts.append(String(decoding: haystack[start...], as: UTF8.self))
        return parts
    }

    static func replace(_ text: String, _ old: String, _ new: String, count: Int) -> String {
        let haystack = Array(text.utf8)
        guard !old.isEmpty else { return text }
        var cuts = occurrences(Array(old.utf8), in: haystack)
        if count >= 0 { cuts = Array(cuts.prefix(count)) }
        var out: [UInt8] = []
        var start = 0
        for cut in cuts {
            out += haystack[start..<cut]
            out += new.utf8
            start = cut + old.utf8.count
        }
        out += haystack[start...]
        return String(decoding: out, as: UTF8.self)
    }

    static func titleCased(_ text: String) -> String {
        var out = ""
        var previousIsLetter = false
        for character in text {
            out += previousIsLetter ? character.lowercased() : character.uppercased()
            previousIsLetter = character.isLetter
        }
        return out
    }

    /// The first byte offset of `needle` in `haystack` (UTF-8: a match is a match of code points).
    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0) -> Int? {
        guard !needle.isEmpty else { return start }
        guard haystack.count >= needle.count else { return nil }
        var index = start
        let first = needle[0]
        while index <= haystack.count - needle.count {
            if haystack[index] == first {
                var matched = true
                for offset in 1..<needle.count where haystack[index + offset] != needle[offset] {
                    matched = false
                    break
                }
                if matched { return index }
            }
            index += 1
        }
        return nil
    }

    /// Every non-overlapping occurrence, left to right.
    static func occurrences(_ needle: [UInt8], in haystack: [UInt8]) -> [Int] {
        var found: [Int] = []
        var start = 0
        while let index = find(needle, in: haystack, from: start) {
            found.append(index)
            start = index + max(needle.count, 1)
        }
        return found
    }
}

private extension Array where Element == Value {
    func dropLastIfEmpty() -> [Value] {
        if case .string("")? = last { return Array(dropLast()) }
        return self
    }
}
