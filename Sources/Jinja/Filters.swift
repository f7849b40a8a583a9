import Foundation

/// jinja2's filters (`x | trim`) and tests (`x is defined`) that chat templates use, with
/// transformers' `tojson`. A filter or test outside this list is refused by name.
extension Builtins {
    static func filter(_ name: String, _ value: Value, _ arguments: Arguments) throws -> Value {
        switch name {
        case "trim":
            return .string(
                Methods.strip(try string(value, name), try arguments.string(0, "chars"), leading: true, trailing: true))
        case "length", "count":
            switch value {
            case .string(let text): return .int(text.unicodeScalars.count)
            case .list(let items), .tuple(let items): return .int(items.count)
            case .dict(let dict): return .int(dict.keys.count)
            case .undefined: return .int(0)
            default: throw TemplateError.type("object of type '\(value.typeName)' has no len()")
            }
        case "tojson":
            // transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
            return .string(
                try JSON.encode(
                    value, indent: try arguments.int(1, "indent"),
                    sortKeys: arguments.value(3, "sort_keys")?.isTruthy ?? false,
                    asciiOnly: arguments.value(0, "ensure_ascii")?.isTruthy ?? false,
                    separators: try separators(arguments.value(2, "separators"))))
        case "upper": return .string(try string(value, name).uppercased())
        case "lower": return .string(try string(value, name).lowercased())
        case "capitalize", "title":
            return try Methods.ofString(try string(value, name), name)!.call([])
        case "string": return .string(value.text)
        case "safe": return value
        case "join":
            let separator = try arguments.string(0, "d") ?? ""
            var items = try iterate(value, what: "join")
            if let attribute = try arguments.string(1, "attribute") {
                items = try items.map { try item($0, .string(attribute)) }
            }
            return .string(items.map(\.text).joined(separator: separator))
        case "list": return .list(try iterate(value, what: "list"))
        case "first", "last":
            let items = try iterate(value, what: name)
            return (name == "first" ? items.first : items.last) ?? .undefined("\(name) of an empty sequence")
        case "default", "d":
            let fallback = arguments.value(0, "default_value") ?? .string("")
            let boolean = arguments.value(1, "boolean")?.isTruthy ?? false
            return value.isUndefined || (boolean && !value.isTruthy) ? fallback : value
        case "items":
            guard case .dict(let dict) = value else {
                if value.isUndefined { return .list([]) }
                throw TemplateError.type("items filter needs a mapping, got \(value.typeName)")
            }
            return .list(dict.pairs.map { .tuple([.string($0.0), $0.1]) })
        case "selectattr", "rejectattr", "select", "reject":
            return .list(try selected(name, value, arguments))
        case "map":
            let items = try iterate(value, what: "map")
            if let attribute = try arguments.string(99, "attribute") {
                return .list(
                    try items.map { element in
                        let found = try item(element, .string(attribute))
                        return found.isUndefined ? (arguments.value(99, "default") ?? found) : found
                    })
            }
            guard let filterName = try arguments.string(0, "filter") else {
                throw TemplateError.type("map() needs a filter name or attribute=")
            }
            let rest = Arguments(
                positional: Array(arguments.positional.dropFirst()), keyword: arguments.keyword, function: filterName)
            return .list(try items.map { try filter(filterName, $0, rest) })
        case "replace":
            guard let old = try arguments.string(0, "old"), let new = try arguments.string(1, "new") else {
                throw TemplateError.type("replace filter takes two strings")
            }
            return .string(Methods.replace(value.text, old, new, count: try arguments.int(2, "count") ?? -1))
        case "int":
            switch value {
            case .int, .bool: return .int(value.integer!)
            case .double(let number) where number.isFinite && abs(number) < 9e18: return .int(Int(number))
            case .string(let text):
                return Int(text.trimmingCharacters(in: .whitespaces)).map { .int($0) }
                    ?? (arguments.value(0, "default") ?? .int(0))
            default: return arguments.value(0, "default") ?? .int(0)
            }
        case "float":
            if let number = value.number { return .double(number) }
            if case .string(let text) = value, let number = Double(text.trimmingCharacters(in: .whitespaces)) {
                return .double(number)
            }
            return arguments.value(0, "default") ?? .double(0)
        case "abs":
            if case .int(let number) = value { return .int(abs(number)) }
            guard let number = value.number else {
                throw TemplateError.type("bad operand type for abs(): '\(value.typeName)'")
            }
            return .double(abs(number))
        case "unique":
            var seen: [Value] = []
            for element in try iterate(value, what: name) where !seen.contains(element) { seen.append(element) }
            return .list(seen)
        case "reverse":
            if case .string(let text) = value {
                return .string(String(String.UnicodeScalarView(text.unicodeScalars.reversed())))
            }
            return .list(try iterate(value, what: name).reversed())
        case "indent":
            return .string(
                indent(
                    value.text, width: try arguments.int(0, "width") ?? 4,
                    first: arguments.value(1, "first")?.isTruthy ?? false,
                    blank: arguments.value(2, "blank")?.isTruthy ?? false))
        default:
            throw TemplateError.unsupported("the filter '\(name)'")
        }
    }

    private static func string(_ value: Value, _ filter: String) throws -> String {
        switch value {
        case .string(let text): return text
        case .undefined: return ""
        default: return value.text
        }
    }

    private static func separators(_ value: Value?) throws -> (String, String)? {
        guard let value, !value.isNone else { return nil }
        guard let parts = value.elements, parts.count == 2, case .string(let item) = parts[0],
            case .string(let key) = parts[1]
        else {
            throw TemplateError.type("tojson separators must be two strings")
        }
        return (item, key)
    }

    /// `select`/`reject` (by a test of the item) and `selectattr`/`rejectattr` (of an attribute).
    private static func selected(_ name: String, _ value: Value, _ arguments: Arguments) throws -> [Value] {
        let byAttribute = name.hasSuffix("attr")
        var rest = arguments.positional
        var attribute: String?
        if byAttribute {
            guard case .string(let first)? = rest.first else {
                throw TemplateError.type("\(name) needs an attribute name")
            }
            attribute = first
            rest.removeFirst()
        }
        var testName: String?
        if case .string(let first)? = rest.first {
            testName = first
            rest.removeFirst()
        }
        let keep = !name.hasPrefix("reject")
        // jinja2 walks the sequence only if it is truthy: None selects nothing.
        guard value.isTruthy else { return [] }
        return try iterate(value, what: name).filter { element in
            let subject = try attribute.map { try item(element, .string($0)) } ?? element
            let passes = try testName.map { try test($0, subject, rest) } ?? subject.isTruthy
            return passes == keep
        }
    }

    private static func indent(_ text: String, width: Int, first: Bool, blank: Bool) -> String {
        let padding = String(repeating: " ", count: max(0, min(width, 1000)))
        var lines = text.components(separatedBy: "\n")
        for index in lines.indices
        where (index > 0 || first) && (blank || !lines[index].trimmingCharacters(in: .whitespaces).isEmpty) {
            lines[index] = padding + lines[index]
        }
        return lines.joined(separator: "\n")
    }

    static func test(_ name: String, _ value: Value, _ arguments: [Value]) throws -> Bool {
        let argument = arguments.first ?? .undefined("the test's argument")
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value.isNone
        case "string": if case .string = value { return true } else { return false }
        case "number": return value.number != nil
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": if case .bool(true) = value { return true } else { return false }
        case "false": if case .bool(false) = value { return true } else { return false }
        case "mapping": if case .dict = value { return true } else { return false }
        case "iterable", "sequence":
            switch value {
            case .string, .list, .dict: return true
            default: return false
            }
        case "callable": if case .function = value { return true } else { return false }
        case "equalto", "eq", "==", "sameas": return value == argument
        case "ne", "!=": return value != argument
        case "lt", "<": return try compare("<", value, argument)
        case "le", "<=": return try compare("<=", value, argument)
        case "gt", ">": return try compare(">", value, argument)
        case "ge", ">=": return try compare(">=", value, argument)
        case "in": return try contains(argument, value)
        case "odd", "even", "divisibleby":
            guard let number = value.integer else {
                throw TemplateError.type("the test '\(name)' needs an integer, got \(value.typeName)")
            }
            if name == "odd" { return number % 2 != 0 }
            if name == "even" { return number % 2 == 0 }
            guard let divisor = argument.integer, divisor != 0 else {
                throw TemplateError.type("divisibleby needs a non-zero integer")
            }
            return number % divisor == 0
        case "lower": if case .string(let text) = value { return text == text.lowercased() } else { return false }
        case "upper": if case .string(let text) = value { return text == text.uppercased() } else { return false }
        default:
            throw TemplateError.unsupported("the test '\(name)'")
        }
    }
}

extension Value {
    /// Calls a function value (a bound method) with positional arguments.
    func call(_ positional: [Value]) throws -> Value {
        guard case .function(let function) = self else {
            throw TemplateError.type("'\(typeName)' object is not callable")
        }
        return try function.call(Arguments(positional: positional, keyword: [], function: function.name))
    }
}
