import Foundation

/// A value of a template: what Python's jinja2 would hold, with Python's semantics where a chat
/// template can tell the difference — `str()` of a list or `None`, `True == 1`, a string's length
/// in code points, a dict's insertion order.
public indirect enum Value {
    /// A name or attribute that is not there; `name` is what was asked for, for the error when
    /// it is used as more than "nothing".
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([Value])
    /// Python's tuple: what `dict.items()` yields and `(a, b)` writes; a list that prints in
    /// parentheses and equals only tuples.
    case tuple([Value])
    case dict(Dictionary)
    /// `namespace(...)`, `loop`: an object whose attributes can be set (reference semantics).
    case object(Object)
    case function(Function)

    /// A dict that keeps its keys' order, as Python's does (JSON objects decode into these).
    public struct Dictionary {
        public private(set) var keys: [String] = []
        public private(set) var values: [Value] = []

        public init(_ pairs: [(String, Value)] = []) {
            for (key, value) in pairs { self[key] = value }
        }

        public subscript(key: String) -> Value? {
            get { keys.firstIndex(of: key).map { values[$0] } }
            set {
                if let index = keys.firstIndex(of: key) {
                    if let newValue {
                        values[index] = newValue
                    } else {
                        keys.remove(at: index); values.remove(at: index)
                    }
                } else if let newValue {
                    keys.append(key)
                    values.append(newValue)
                }
            }
        }

        public var pairs: [(String, Value)] { Array(zip(keys, values)) }
    }

    /// Attributes by name: a namespace, the loop variable.
    public final class Object {
        let kind: String
        var attributes: [String: Value]

        init(kind: String, attributes: [String: Value]) {
            self.kind = kind
            self.attributes = attributes
        }
    }

    /// A callable: a global (`raise_exception`), a bound method (`'a'.split`), a macro.
    public struct Function {
        let name: String
        let call: (Arguments) throws -> Value
    }
}

/// The arguments of a call: positional, then keyword.
struct Arguments {
    var positional: [Value]
    var keyword: [(String, Value)]
    let function: String

    /// The argument at `index` or named `name`, or nil.
    func value(_ index: Int, _ name: String) -> Value? {
        if index < positional.count { return positional[index] }
        return keyword.first { $0.0 == name }?.1
    }

    func string(_ index: Int, _ name: String) throws -> String? {
        guard let value = value(index, name), !value.isNone else { return nil }
        guard case .string(let text) = value else {
            throw TemplateError.type("\(function)() expects a string for \(name), got \(value.typeName)")
        }
        return text
    }

    func int(_ index: Int, _ name: String) throws -> Int? {
        guard let value = value(index, name), !value.isNone else { return nil }
        guard let number = value.integer else {
            throw TemplateError.type("\(function)() expects an integer for \(name), got \(value.typeName)")
        }
        return number
    }
}

extension Value {
    var isNone: Bool {
        if case .none = self { return true }
        return false
    }

    /// The elements of a list or tuple.
    var elements: [Value]? {
        switch self {
        case .list(let items), .tuple(let items): return items
        default: return nil
        }
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// An int, or a bool as Python counts it.
    var integer: Int? {
        switch self {
        case .int(let value): return value
        case .bool(let value): return value ? 1 : 0
        default: return nil
        }
    }

    var number: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .bool(let value): return value ? 1 : 0
        case .double(let value): return value
        default: return nil
        }
    }

    /// Python's truth value.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let value): return value
        case .int(let value): return value != 0
        case .double(let value): return value != 0
        case .string(let value): return !value.isEmpty
        case .list(let value), .tuple(let value): return !value.isEmpty
        case .dict(let value): return !value.keys.isEmpty
        case .object, .function: return true
        }
    }

    /// Python's type name, as jinja2's errors say it.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .object(let object): return object.kind
        case .function: return "function"
        }
    }

    /// What `{{ value }}` prints: Python's `str()` (an undefined value prints nothing).
    public var text: String {
        switch self {
        case .undefined: return ""
        case .string(let value): return value
        default: return representation
        }
    }

    /// Python's `repr()`, as `str()` of a list or dict shows its elements.
    public var representation: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let value): return value ? "True" : "False"
        case .int(let value): return String(value)
        case .double(let value): return Self.pythonFloat(value)
        case .string(let value): return Self.pythonQuoted(value)
        case .list(let values): return "[" + values.map(\.representation).joined(separator: ", ") + "]"
        case .tuple(let values):
            return "(" + values.map(\.representation).joined(separator: ", ") + (values.count == 1 ? ",)" : ")")
        case .dict(let dict):
            return "{" + dict.pairs.map { Self.pythonQuoted($0.0) + ": " + $0.1.representation }.joined(separator: ", ")
                + "}"
        case .object(let object): return "<\(object.kind)>"
        case .function(let function): return "<function \(function.name)>"
        }
    }

    /// Python's `repr(float)`: the shortest digits that read back, `.0` on whole numbers,
    /// exponents from 1e16 and below 1e-4 — which Swift's description also does.
    static func pythonFloat(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        return "\(value)"
    }

    /// Python's `repr(str)`: single quotes unless the text holds one and no double quote.
    static func pythonQuoted(_ text: String) -> String {
        let quote: Character = text.contains("'") && !text.contains("\"") ? "\"" : "'"
        var out = String(quote)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += String(format: "\\x%02x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + String(quote)
    }
}

extension Value: Equatable {
    /// Python's `==`: numbers across int, float and bool; lists and dicts by their elements.
    public static func == (lhs: Value, rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.list(let a), .list(let b)), (.tuple(let a), .tuple(let b)): return a == b
        case (.dict(let a), .dict(let b)):
            return a.keys.count == b.keys.count && a.pairs.allSatisfy { key, value in b[key] == value }
        case (.object(let a), .object(let b)): return a === b
        default:
            if let a = lhs.number, let b = rhs.number { return a == b }
            return false
        }
    }
}
