import Foundation

/// A jinja2 template as Hugging Face chat templates use them, rendered byte for byte as Python's
/// jinja2 renders it with transformers' settings (`trim_blocks`, `lstrip_blocks`, loop controls,
/// `raise_exception`, `strftime_now`, a `tojson` that keeps non-ASCII text). A construct outside
/// that subset is refused (`TemplateError.unsupported`) when the template is parsed or the
/// construct is reached — never rendered some other way.
///
/// ```swift
/// let template = try Template(source)
/// let text = try template.render(["messages": messages, "add_generation_prompt": .bool(true),
///                                 "bos_token": .string("<|im_start|>")])
/// ```
public final class Template {
    let body: [Statement]

    public init(_ source: String) throws {
        var parser = Parser(try Lexer(source).segments())
        body = try parser.template()
    }

    /// The text for the variables in `context` (a name not given is undefined, as in jinja2).
    public func render(_ context: [String: Value]) throws -> String {
        var renderer = Renderer(globals: context)
        var output = ""
        _ = try renderer.run(body, into: &output)
        return output
    }
}

/// Executes statements: a stack of scopes (a `for` body and a macro call get their own, so their
/// assignments do not leak out, as in jinja2), and loop control.
struct Renderer {
    private var scopes: [[String: Value]]

    init(globals: [String: Value]) {
        var root = Builtins.globals
        for (name, value) in globals { root[name] = value }
        scopes = [root]
    }

    enum Flow { case normal, breakLoop, continueLoop }

    mutating func run(_ statements: [Statement], into output: inout String) throws -> Flow {
        for statement in statements {
            let flow = try run(statement, into: &output)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private mutating func run(_ statement: Statement, into output: inout String) throws -> Flow {
        switch statement {
        case .text(let text):
            output += text
        case .output(let expression):
            output += try evaluate(expression).text
        case .ifChain(let branches, let otherwise):
            for (condition, body) in branches where try evaluate(condition).isTruthy {
                return try run(body, into: &output)
            }
            return try run(otherwise, into: &output)
        case .forLoop(let target, let iterable, let filter, let body, let otherwise):
            return try runLoop(target, iterable, filter: filter, body: body, otherwise: otherwise, into: &output)
        case .set(let target, let expression):
            try assign(target, try evaluate(expression))
        case .setBlock(let name, let body):
            var captured = ""
            _ = try run(body, into: &captured)
            scopes[scopes.count - 1][name] = .string(captured)
        case .macro(let name, let parameters, let body):
            scopes[scopes.count - 1][name] = .function(macro(name, parameters: parameters, body: body))
        case .callBlock:
            throw TemplateError.unsupported("{% call %} blocks")
        case .filterBlock(let name, let arguments, let body):
            var captured = ""
            _ = try run(body, into: &captured)
            let values = try arguments.map { try evaluate($0) }
            output += try Builtins.filter(
                name, .string(captured), Arguments(positional: values, keyword: [], function: name)
            ).text
        case .break:
            return .breakLoop
        case .continue:
            return .continueLoop
        }
        return .normal
    }

    private mutating func runLoop(
        _ target: Target, _ iterable: Expression, filter: Expression?, body: [Statement],
        otherwise: [Statement], into output: inout String
    ) throws -> Flow {
        var items = try Builtins.iterate(try evaluate(iterable), what: "for")
        scopes.append([:])
        defer { scopes.removeLast() }
        if let filter {
            items = try items.filter { item in
                try assign(target, item)
                return try evaluate(filter).isTruthy
            }
        }
        if items.isEmpty { return try run(otherwise, into: &output) }
        for (index, item) in items.enumerated() {
            // Each pass starts from the scope outside the loop, as jinja2's does.
            scopes[scopes.count - 1] = [:]
            try assign(target, item)
            scopes[scopes.count - 1]["loop"] = Builtins.loop(index: index, items: items)
            if try run(body, into: &output) == .breakLoop { break }
        }
        return .normal
    }

    private mutating func assign(_ target: Target, _ value: Value) throws {
        switch target {
        case .name(let name):
            scopes[scopes.count - 1][name] = value
        case .attribute(let name, let attribute):
            guard case .object(let object) = lookup(name), object.kind == "Namespace" else {
                throw TemplateError.type(
                    "cannot assign attribute '\(attribute)' on '\(name)': only a namespace() takes attributes")
            }
            object.attributes[attribute] = value
        case .names(let names):
            let values = try Builtins.iterate(value, what: "unpacking")
            guard values.count == names.count else {
                throw TemplateError.type("cannot unpack \(values.count) values into \(names.count) names")
            }
            for (name, item) in zip(names, values) { scopes[scopes.count - 1][name] = item }
        }
    }

    private func lookup(_ name: String) -> Value {
        for scope in scopes.reversed() {
            if let value = scope[name] { return value }
        }
        return .undefined(name)
    }

    /// A macro: called with the root scope as it is then (as jinja2 resolves a macro's free
    /// names in the template's context) and its parameters.
    private func macro(_ name: String, parameters: [(String, Expression?)], body: [Statement]) -> Value.Function {
        let root = scopes[0]
        return Value.Function(name: name) { arguments in
            var renderer = Renderer(scopes: [root])
            var locals: [String: Value] = [:]
            for (index, (parameter, fallback)) in parameters.enumerated() {
                if let value = arguments.value(index, parameter) {
                    locals[parameter] = value
                } else {
                    locals[parameter] = try fallback.map { try renderer.evaluate($0) } ?? .undefined(parameter)
                }
            }
            renderer.scopes.append(locals)
            var output = ""
            _ = try renderer.run(body, into: &output)
            return .string(output)
        }
    }

    private init(scopes: [[String: Value]]) {
        self.scopes = scopes
    }

    mutating func evaluate(_ expression: Expression) throws -> Value {
        switch expression {
        case .literal(let value):
            return value
        case .name(let name):
            return lookup(name)
        case .list(let items):
            return .list(try items.map { try evaluate($0) })
        case .tuple(let items):
            return .tuple(try items.map { try evaluate($0) })
        case .dict(let pairs):
            var dict = Value.Dictionary()
            for (key, value) in pairs {
                guard case .string(let name) = try evaluate(key) else {
                    throw TemplateError.unsupported("dict keys that are not strings")
                }
                dict[name] = try evaluate(value)
            }
            return .dict(dict)
        case .attribute(let base, let name):
            return try Builtins.attribute(try evaluate(base), name)
        case .item(let base, let key):
            return try Builtins.item(try evaluate(base), try evaluate(key))
        case .slice(let base, let start, let stop, let step):
            return try Builtins.slice(
                try evaluate(base), start: try start.map { try evaluate($0) },
                stop: try stop.map { try evaluate($0) }, step: try step.map { try evaluate($0) })
        case .call(let callee, let positional, let keyword):
            let function = try evaluate(callee)
            guard case .function(let body) = function else {
                if case .undefined(let name) = function { throw TemplateError.type("'\(name)' is undefined") }
                throw TemplateError.type("'\(function.typeName)' object is not callable")
            }
            return try body.call(
                Arguments(
                    positional: try positional.map { try evaluate($0) },
                    keyword: try keyword.map { ($0.0, try evaluate($0.1)) }, function: body.name))
        case .filter(let base, let name, let positional, let keyword):
            let value = try evaluate(base)
            return try Builtins.filter(
                name, value,
                Arguments(
                    positional: try positional.map { try evaluate($0) },
                    keyword: try keyword.map { ($0.0, try evaluate($0.1)) }, function: name))
        case .test(let base, let name, let negated, let arguments):
            let result = try Builtins.test(name, try evaluate(base), try arguments.map { try evaluate($0) })
            return .bool(result != negated)
        case .unary(let operation, let operand):
            let value = try evaluate(operand)
            switch operation {
            case "not": return .bool(!value.isTruthy)
            case "-": return try Builtins.arithmetic("-", .int(0), value)
            default: return try Builtins.arithmetic("+", .int(0), value)
            }
        case .binary(let operation, let left, let right):
            return try Builtins.arithmetic(operation, try evaluate(left), try evaluate(right))
        case .and(let left, let right):
            let value = try evaluate(left)
            return value.isTruthy ? try evaluate(right) : value
        case .or(let left, let right):
            let value = try evaluate(left)
            return value.isTruthy ? value : try evaluate(right)
        case .compare(let first, let operations):
            var left = try evaluate(first)
            for (operation, expression) in operations {
                let right = try evaluate(expression)
                guard try Builtins.compare(operation, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let value, let condition, let otherwise):
            if try evaluate(condition).isTruthy { return try evaluate(value) }
            return try otherwise.map { try evaluate($0) } ?? .undefined("the else of a conditional expression")
        }
    }
}
