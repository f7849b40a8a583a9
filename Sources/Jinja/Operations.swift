import Foundation

/// Python's operators, attribute and item access as jinja2 applies them, and the globals
/// transformers gives chat templates.
enum Builtins {
    /// Made once: a render starts from these, and an import renders hundreds of thousands of times.
    nonisolated(unsafe) static let globals: [String: Value] = [
        "raise_exception": .function(
            Value.Function(name: "raise_exception") { arguments in
                throw TemplateError.raised(arguments.positional.first?.text ?? "")
            }),
        "namespace": .function(
            Value.Function(name: "namespace") { arguments in
                var attributes: [String: Value] = [:]
                if case .dict(let dict)? = arguments.positional.first {
                    for (key, value) in dict.pairs { attributes[key] = value }
                }
                for (key, value) in arguments.keyword { attributes[key] = value }
                return .object(Value.Object(kind: "Namespace", attributes: attributes))
            }),
        "range": .function(
            Value.Function(name: "range") { arguments in
                let numbers = try arguments.positional.enumerated().map { index, value in
                    guard let number = value.integer else {
                        throw TemplateError.type("range() takes integers, got \(value.typeName)")
                    }
                    return number
                }
                let (start, stop, step) =
                    numbers.count == 1
                    ? (0, numbers[0], 1) : (numbers[0], numbers[1], numbers.count > 2 ? numbers[2] : 1)
                guard step != 0, numbers.count <= 3, !numbers.isEmpty else {
                    throw TemplateError.type("range() takes 1 to 3 integers, step not 0")
                }
                guard (stop - start) / step <= 1_000_000 else {
                    throw TemplateError.type("range() of more than a million numbers")
                }
                return .list(Swift.stride(from: start, to: stop, by: step).map { .int($0) })
            }),
        "dict": .function(
            Value.Function(name: "dict") { arguments in
                .dict(Value.Dictionary(arguments.keyword))
            }),
        "strftime_now": .function(
            Value.Function(name: "strftime_now") { arguments in
                .string(strftime(try arguments.string(0, "format") ?? ""))
            }),
    ]

    /// C's strftime of the current local time, which Python's `datetime.now().strftime` is.
    static func strftime(_ format: String) -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 512)
        let count = Foundation.strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The items a `for` walks: a list's elements, a dict's keys, a string's characters.
    static func iterate(_ value: Value, what: String) throws -> [Value] {
        switch value {
        case .list(let items), .tuple(let items): return items
        case .dict(let dict): return dict.keys.map { .string($0) }
        case .string(let text): return text.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw TemplateError.type("'\(value.typeName)' object is not iterable (\(what))")
        }
    }

    static func loop(index: Int, items: [Value]) -> Value {
        let count = items.count
        let attributes: [String: Value] = [
            "index": .int(index + 1), "index0": .int(index), "revindex": .int(count - index),
            "revindex0": .int(count - index - 1),
            "first": .bool(index == 0), "last": .bool(index == count - 1), "length": .int(count), "depth": .int(1),
            "depth0": .int(0),
            "previtem": index > 0 ? items[index - 1] : .undefined("loop.previtem"),
            "nextitem": index + 1 < count ? items[index + 1] : .undefined("loop.nextitem"),
            "cycle": .function(
                Value.Function(name: "loop.cycle") { arguments in
                    guard !arguments.positional.isEmpty else {
                        throw TemplateError.type("loop.cycle() needs at least one value")
                    }
                    return arguments.positional[index % arguments.positional.count]
                }),
        ]
        return .object(Value.Object(kind: "LoopContext", attributes: attributes))
    }

    /// `value.name`: an attribute (a method of a string or dict), else the item of that name.
    static func attribute(_ value: Value, _ name: String) throws -> Value {
        switch value {
        case .undefined(let missing):
            throw TemplateError.type("'\(missing)' is undefined (asked for its attribute '\(name)')")
        case .object(let object):
            return object.attributes[name] ?? .undefined("\(object.kind).\(name)")
        case .dict(let dict):
            if let method = Methods.ofDict(dict, name) { return method }
            return dict[name] ?? .undefined(name)
        case .string(let text):
            return Methods.ofString(text, name) ?? .undefined(name)
        case .list(let items):
            return Methods.ofList(items, name) ?? .undefined(name)
        default:
            return .undefined(name)
        }
    }

    /// `value[key]`: the item, else the attribute of that name.
    static func item(_ value: Value, _ key: Value) throws -> Value {
        switch (value, key) {
        case (.undefined(let missing), _):
            throw TemplateError.type("'\(missing)' is undefined (asked for an item of it)")
        case (.list(let items), _), (.tuple(let items), _):
            guard let index = key.integer else { return .undefined("[\(key.representation)]") }
            let position = index < 0 ? items.count + index : index
            return items.indices.contains(position) ? items[position] : .undefined("[\(index)]")
        case (.string(let text), _):
            guard let index = key.integer else { return .undefined("[\(key.representation)]") }
            let scalars = Array(text.unicodeScalars)
            let position = index < 0 ? scalars.count + index : index
            return scalars.indices.contains(position) ? .string(String(scalars[position])) : .undefined("[\(index)]")
        case (.dict(let dict), .string(let name)):
            return dict[name] ?? Methods.ofDict(dict, name) ?? .undefined(name)
        case (_, .string(let name)):
            return try attribute(value, name)
        default:
            return .undefined("[\(key.representation)]")
        }
    }

    /// Python's `value[start:stop:step]` on a list or string.
    static func slice(_ value: Value, start: Value?, stop: Value?, step: Value?) throws -> Value {
        func bound(_ value: Value?) throws -> Int? {
            guard let value, !value.isNone else { return nil }
            guard let number = value.integer else {
                throw TemplateError.type("slice indices must be integers, got \(value.typeName)")
            }
            return number
        }
        let stride = try bound(step) ?? 1
        guard stride != 0 else { throw TemplateError.type("slice step cannot be zero") }
        func indices(_ count: Int) throws -> [Int] {
            func clamp(_ index: Int?, _ fallback: Int) -> Int {
                guard var index else { return fallback }
                if index < 0 { index += count }
                return stride > 0 ? min(max(index, 0), count) : min(max(index, -1), count - 1)
            }
            let from = clamp(try bound(start), stride > 0 ? 0 : count - 1)
            let to = clamp(try bound(stop), stride > 0 ? count : -1)
            return Array(Swift.stride(from: from, to: to, by: stride))
        }
        switch value {
        case .list(let items): return .list(try indices(items.count).map { items[$0] })
        case .tuple(let items): return .tuple(try indices(items.count).map { items[$0] })
        case .string(let text):
            let scalars = Array(text.unicodeScalars)
            var out = String.UnicodeScalarView()
            for index in try indices(scalars.count) { out.append(scalars[index]) }
            return .string(String(out))
        case .undefined(let missing): throw TemplateError.type("'\(missing)' is undefined (sliced)")
        default: throw TemplateError.type("'\(value.typeName)' object is not subscriptable")
        }
    }

    /// `+ - * / // % ** ~` with Python's rules.
    static func arithmetic(_ operation: String, _ left: Value, _ right: Value) throws -> Value {
        if operation == "~" { return .string(left.text + right.text) }
        switch (operation, left, right) {
        case ("+", .string(let a), .string(let b)): return .string(a + b)
        case ("+", .list(let a), .list(let b)): return .list(a + b)
        case ("+", .tuple(let a), .tuple(let b)): return .tuple(a + b)
        case ("*", .string(let text), _) where right.integer != nil:
            return .string(
                String(repeating: text, count: max(0, min(right.integer!, 10_000_000 / max(text.utf8.count, 1)))))
        case ("*", .list(let items), _) where right.integer != nil:
            return .list(
                Array(repeating: items, count: max(0, min(right.integer!, 1_000_000 / max(items.count, 1)))).flatMap {
                    $0
                })
        default: break
        }
        if let a = left.integer, let b = right.integer {
            switch operation {
            case "+": return try checked(a.addingReportingOverflow(b))
            case "-": return try checked(a.subtractingReportingOverflow(b))
            case "*": return try checked(a.multipliedReportingOverflow(by: b))
            case "/":
                guard b != 0 else { throw TemplateError.type("division by zero") }
                return .double(Double(a) / Double(b))
            case "//", "%":
                guard b != 0 else { throw TemplateError.type("integer division or modulo by zero") }
                var quotient = a / b
                if (a % b != 0) && ((a < 0) != (b < 0)) { quotient -= 1 }
                return .int(operation == "//" ? quotient : a - quotient * b)
            case "**":
                guard b >= 0 else { return .double(pow(Double(a), Double(b))) }
                var result = 1
                for _ in 0..<min(b, 64) { result = try checked(result.multipliedReportingOverflow(by: a)).integer! }
                return .int(result)
            default: break
            }
        }
        if let a = left.number, let b = right.number {
            switch operation {
            case "+": return .double(a + b)
            case "-": return .double(a - b)
            case "*": return .double(a * b)
            case "/":
                guard b != 0 else { throw TemplateError.type("float division by zero") }
                return .double(a / b)
            case "//": return .double((a / b).rounded(.down))
            case "%": return .double(a - b * (a / b).rounded(.down))
            case "**": return .double(pow(a, b))
            default: break
            }
        }
        throw TemplateError.type(
            "unsupported operand type(s) for \(operation): '\(left.typeName)' and '\(right.typeName)'")
    }

    private static func checked(_ result: (partialValue: Int, overflow: Bool)) throws -> Value {
        guard !result.overflow else { throw TemplateError.type("integer overflow") }
        return .int(result.partialValue)
    }

    /// `== != < <= > >= in`, `not in`.
    static func compare(_ operation: String, _ left: Value, _ right: Value) throws -> Bool {
        switch operation {
        case "==": return left == right
        case "!=": return left != right
        case "in": return try contains(right, left)
        case "not in": return !(try contains(right, left))
        default: break
        }
        let order: Int
        if let a = left.number, let b = right.number {
            order = a < b ? -1 : a > b ? 1 : 0
        } else if case .string(let a) = left, case .string(let b) = right {
            order =
                a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars, by: { $0.value < $1.value })
                ? -1 : (a == b ? 0 : 1)
        } else {
            throw TemplateError.type(
                "'\(operation)' not supported between instances of '\(left.typeName)' and '\(right.typeName)'")
        }
        switch operation {
        case "<": return order < 0
        case "<=": return order <= 0
        case ">": return order > 0
        default: return order >= 0
        }
    }

    /// Python's `needle in haystack`.
    static func contains(_ haystack: Value, _ needle: Value) throws -> Bool {
        switch haystack {
        case .string(let text):
            guard case .string(let part) = needle else {
                throw TemplateError.type("'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            return Methods.find(Array(part.utf8), in: Array(text.utf8)) != nil
        case .list(let items), .tuple(let items): return items.contains(needle)
        case .dict(let dict):
            guard case .string(let key) = needle else { return false }
            return dict[key] != nil
        case .undefined: return false
        default: throw TemplateError.type("argument of type '\(haystack.typeName)' is not iterable")
        }
    }
}
