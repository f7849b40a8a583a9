/// Builds statements from the lexer's segments, with jinja2's operator precedence (lowest
/// first): `x if c else y`, `or`, `and`, `not`, comparisons and `in`, `+ -`, `~`, `* / // %`,
/// `**`, unary `-`, then filters, tests, attributes, subscripts and calls.
struct Parser {
    private var segments: [Lexer.Segment]
    private var position = 0

    init(_ segments: [Lexer.Segment]) {
        self.segments = segments
    }

    mutating func template() throws -> [Statement] {
        let (body, end) = try block(until: [])
        if let end { throw TemplateError.syntax("line \(end.line): unexpected {% \(end.keyword) %}") }
        return body
    }

    private struct BlockEnd {
        var keyword: String
        var tokens: TokenStream
        var line: Int
    }

    /// Statements up to one of the `terminators` tags (returned with its tokens), or the end.
    private mutating func block(until terminators: Set<String>) throws -> ([Statement], BlockEnd?) {
        var body: [Statement] = []
        while position < segments.count {
            let segment = segments[position]
            position += 1
            switch segment {
            case .text(let text):
                body.append(.text(text))
            case .output(let tokens, let line):
                var stream = TokenStream(tokens, line: line)
                body.append(.output(try stream.wholeTuple()))
            case .statement(let tokens, let line):
                var stream = TokenStream(tokens, line: line)
                guard case .name(let keyword) = stream.next() else {
                    throw TemplateError.syntax("line \(line): a tag without a statement")
                }
                if terminators.contains(keyword) {
                    return (body, BlockEnd(keyword: keyword, tokens: stream, line: line))
                }
                body.append(try statement(keyword, &stream))
            }
        }
        if !terminators.isEmpty {
            throw TemplateError.syntax(
                "the template ends inside a block: expected {% \(terminators.sorted().joined(separator: " or ")) %}")
        }
        return (body, nil)
    }

    private mutating func statement(_ keyword: String, _ stream: inout TokenStream) throws -> Statement {
        switch keyword {
        case "if":
            var branches = [(try stream.wholeTuple(conditional: false), [Statement]())]
            while true {
                let (body, end) = try block(until: ["elif", "else", "endif"])
                branches[branches.count - 1].1 = body
                guard var end else { break }
                switch end.keyword {
                case "elif": branches.append((try end.tokens.wholeTuple(conditional: false), []))
                case "else":
                    try end.tokens.expectEnd()
                    let (otherwise, _) = try block(until: ["endif"])
                    return .ifChain(branches, otherwise: otherwise)
                default:
                    return .ifChain(branches, otherwise: [])
                }
            }
            return .ifChain(branches, otherwise: [])
        case "for":
            let target = try stream.target()
            try stream.expectName("in")
            let iterable = try stream.tuple(conditional: false)
            var condition: Expression?
            if stream.skipName("if") { condition = try stream.expression() }
            if stream.skipName("recursive") { throw TemplateError.unsupported("recursive for loops") }
            try stream.expectEnd()
            let (body, end) = try block(until: ["else", "endfor"])
            var otherwise: [Statement] = []
            if end?.keyword == "else" { otherwise = try block(until: ["endfor"]).0 }
            return .forLoop(target, iterable, filter: condition, body: body, otherwise: otherwise)
        case "set":
            let target = try stream.target()
            if stream.skipSymbol("=") {
                let value = try stream.wholeTuple()
                return .set(target, value)
            }
            guard case .name(let name) = target else {
                throw TemplateError.syntax("line \(stream.line): a block set needs one name")
            }
            try stream.expectEnd()
            let (body, _) = try block(until: ["endset"])
            return .setBlock(name, body)
        case "macro":
            let name = try stream.name()
            try stream.expectSymbol("(")
            var parameters: [(String, Expression?)] = []
            while !stream.skipSymbol(")") {
                if !parameters.isEmpty { try stream.expectSymbol(",") }
                if stream.skipSymbol(")") { break }
                let parameter = try stream.name()
                parameters.append((parameter, stream.skipSymbol("=") ? try stream.expression() : nil))
            }
            try stream.expectEnd()
            let (body, _) = try block(until: ["endmacro"])
            return .macro(name: name, parameters: parameters, body: body)
        case "call":
            let call = try stream.expression()
            try stream.expectEnd()
            let (body, _) = try block(until: ["endcall"])
            return .callBlock(call, body: body)
        case "filter":
            let name = try stream.name()
            var arguments: [Expression] = []
            if stream.skipSymbol("(") { arguments = try stream.arguments().0 }
            try stream.expectEnd()
            let (body, _) = try block(until: ["endfilter"])
            return .filterBlock(name: name, arguments, body: body)
        case "generation":
            // transformers' AssistantTracker: marks the assistant's text, renders its body.
            try stream.expectEnd()
            let (body, _) = try block(until: ["endgeneration"])
            return .ifChain([(.literal(.bool(true)), body)], otherwise: [])
        case "raw":
            try stream.expectEnd()
            guard position < segments.count, case .text(let text) = segments[position] else { return .text("") }
            position += 1
            return .text(text)
        case "break": try stream.expectEnd(); return .break
        case "continue": try stream.expectEnd(); return .continue
        default:
            throw TemplateError.unsupported("the statement {% \(keyword) %} (line \(stream.line))")
        }
    }
}

/// The tokens of one tag, consumed by the expression grammar.
struct TokenStream {
    private let tokens: [Lexer.Token]
    private var index = 0
    let line: Int

    init(_ tokens: [Lexer.Token], line: Int) {
        self.tokens = tokens
        self.line = line
    }

    var peek: Lexer.Token? { index < tokens.count ? tokens[index] : nil }

    mutating func next() -> Lexer.Token? {
        defer { index += 1 }
        return peek
    }

    mutating func skipSymbol(_ symbol: String) -> Bool {
        guard peek == .symbol(symbol) else { return false }
        index += 1
        return true
    }

    mutating func skipName(_ name: String) -> Bool {
        guard peek == .name(name) else { return false }
        index += 1
        return true
    }

    private func isName(_ name: String, at offset: Int = 0) -> Bool {
        index + offset < tokens.count && tokens[index + offset] == .name(name)
    }

    func failure(_ expected: String) -> TemplateError {
        TemplateError.syntax(
            "line \(line): expected \(expected), got \(peek.map(Self.describe) ?? "the end of the tag")")
    }

    static func describe(_ token: Lexer.Token) -> String {
        switch token {
        case .name(let name): return "'\(name)'"
        case .string(let text): return "the string \(Value.pythonQuoted(text))"
        case .int(let value): return "\(value)"
        case .double(let value): return "\(value)"
        case .symbol(let symbol): return "'\(symbol)'"
        }
    }

    mutating func expectSymbol(_ symbol: String) throws {
        guard skipSymbol(symbol) else { throw failure("'\(symbol)'") }
    }

    mutating func expectName(_ name: String) throws {
        guard skipName(name) else { throw failure("'\(name)'") }
    }

    mutating func expectEnd() throws {
        guard peek == nil else { throw failure("the end of the tag") }
    }

    mutating func name() throws -> String {
        guard case .name(let name) = peek else { throw failure("a name") }
        index += 1
        return name
    }

    /// `x`, `ns.x` or `a, b`.
    mutating func target() throws -> Target {
        let first = try name()
        if skipSymbol(".") { return .attribute(first, try name()) }
        guard peek == .symbol(",") else { return .name(first) }
        var names = [first]
        while skipSymbol(",") {
            guard case .name = peek else { break }
            names.append(try name())
        }
        return .names(names)
    }

    /// A whole tag's expression: a tuple when there are commas.
    mutating func wholeTuple(conditional: Bool = true) throws -> Expression {
        let value = try tuple(conditional: conditional)
        try expectEnd()
        return value
    }

    mutating func tuple(conditional: Bool = true) throws -> Expression {
        let first = conditional ? try expression() : try or()
        guard peek == .symbol(",") else { return first }
        var items = [first]
        while skipSymbol(",") {
            guard peek != nil, !isName("if") else { break }
            items.append(conditional ? try expression() : try or())
        }
        return .tuple(items)
    }

    mutating func expression() throws -> Expression {
        let value = try or()
        guard skipName("if") else { return value }
        let condition = try or()
        let otherwise = skipName("else") ? try expression() : nil
        return .conditional(value, condition: condition, otherwise: otherwise)
    }

    private mutating func or() throws -> Expression {
        var left = try and()
        while skipName("or") { left = .or(left, try and()) }
        return left
    }

    private mutating func and() throws -> Expression {
        var left = try not()
        while skipName("and") { left = .and(left, try not()) }
        return left
    }

    private mutating func not() throws -> Expression {
        if skipName("not") { return .unary("not", try not()) }
        return try compare()
    }

    private mutating func compare() throws -> Expression {
        let left = try sum()
        var operations: [(String, Expression)] = []
        while true {
            if case .symbol(let symbol) = peek, ["==", "!=", "<", "<=", ">", ">="].contains(symbol) {
                index += 1
                operations.append((symbol, try sum()))
            } else if skipName("in") {
                operations.append(("in", try sum()))
            } else if isName("not"), isName("in", at: 1) {
                index += 2
                operations.append(("not in", try sum()))
            } else {
                break
            }
        }
        return operations.isEmpty ? left : .compare(left, operations)
    }

    private mutating func sum() throws -> Expression {
        var left = try concatenation()
        while case .symbol(let symbol) = peek, symbol == "+" || symbol == "-" {
            index += 1
            left = .binary(symbol, left, try concatenation())
        }
        return left
    }

    private mutating func concatenation() throws -> Expression {
        var left = try product()
        while skipSymbol("~") { left = .binary("~", left, try product()) }
        return left
    }

    private mutating func product() throws -> Expression {
        var left = try power()
        while case .symbol(let symbol) = peek, ["*", "/", "//", "%"].contains(symbol) {
            index += 1
            left = .binary(symbol, left, try power())
        }
        return left
    }

    private mutating func power() throws -> Expression {
        var left = try unary()
        while skipSymbol("**") { left = .binary("**", left, try unary()) }
        return left
    }

    private mutating func unary(withFilters: Bool = true) throws -> Expression {
        var value: Expression
        if skipSymbol("-") {
            value = .unary("-", try unary(withFilters: false))
        } else if skipSymbol("+") {
            value = .unary("+", try unary(withFilters: false))
        } else {
            value = try primary()
        }
        value = try postfix(value)
        return withFilters ? try filters(value) : value
    }

    private mutating func primary() throws -> Expression {
        guard let token = next() else { throw TemplateError.syntax("line \(line): an expression is missing") }
        switch token {
        case .string(var text):
            while case .string(let more) = peek { text += more; index += 1 }
            return .literal(.string(text))
        case .int(let value): return .literal(.int(value))
        case .double(let value): return .literal(.double(value))
        case .name(let name):
            switch name {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(name)
            }
        case .symbol("("):
            if skipSymbol(")") { return .tuple([]) }
            let value = try tuple()
            try expectSymbol(")")
            return value
        case .symbol("["):
            var items: [Expression] = []
            while !skipSymbol("]") {
                if !items.isEmpty { try expectSymbol(",") }
                if skipSymbol("]") { break }
                items.append(try expression())
            }
            return .list(items)
        case .symbol("{"):
            var pairs: [(Expression, Expression)] = []
            while !skipSymbol("}") {
                if !pairs.isEmpty { try expectSymbol(",") }
                if skipSymbol("}") { break }
                let key = try expression()
                try expectSymbol(":")
                pairs.append((key, try expression()))
            }
            return .dict(pairs)
        default:
            index -= 1
            throw failure("an expression")
        }
    }

    private mutating func postfix(_ base: Expression) throws -> Expression {
        var value = base
        while true {
            if skipSymbol(".") {
                switch next() {
                case .name(let name): value = .attribute(value, name)
                case .int(let number): value = .item(value, .literal(.int(number)))
                default: index -= 1; throw failure("an attribute name")
                }
            } else if skipSymbol("[") {
                value = try subscriptOrSlice(value)
            } else if skipSymbol("(") {
                let (positional, keyword) = try arguments()
                value = .call(value, positional, keyword)
            } else {
                return value
            }
        }
    }

    private mutating func subscriptOrSlice(_ base: Expression) throws -> Expression {
        var parts: [Expression?] = [nil]
        var isSlice = false
        while !skipSymbol("]") {
            if skipSymbol(":") {
                isSlice = true
                parts.append(nil)
            } else {
                guard parts[parts.count - 1] == nil else { throw failure("']'") }
                parts[parts.count - 1] = try expression()
            }
        }
        guard isSlice else {
            guard let key = parts[0] else { throw failure("a subscript") }
            return .item(base, key)
        }
        guard parts.count <= 3 else { throw failure("a slice of at most start:stop:step") }
        return .slice(
            base, start: parts[0], stop: parts.count > 1 ? parts[1] : nil, step: parts.count > 2 ? parts[2] : nil)
    }

    /// Call arguments after `(`, through `)`.
    mutating func arguments() throws -> ([Expression], [(String, Expression)]) {
        var positional: [Expression] = []
        var keyword: [(String, Expression)] = []
        while !skipSymbol(")") {
            if !positional.isEmpty || !keyword.isEmpty { try expectSymbol(",") }
            if skipSymbol(")") { break }
            if case .name(let name) = peek, index + 1 < tokens.count, tokens[index + 1] == .symbol("=") {
                index += 2
                keyword.append((name, try expression()))
            } else {
                if skipSymbol("*") { throw TemplateError.unsupported("*args in a call (line \(line))") }
                positional.append(try expression())
            }
        }
        return (positional, keyword)
    }

    private mutating func filters(_ base: Expression) throws -> Expression {
        var value = base
        while true {
            if skipSymbol("|") {
                let name = try dottedName()
                var (positional, keyword) = ([Expression](), [(String, Expression)]())
                if skipSymbol("(") { (positional, keyword) = try arguments() }
                value = .filter(value, name: name, positional, keyword)
            } else if skipName("is") {
                let negated = skipName("not")
                let name = try dottedName()
                var arguments: [Expression] = []
                if skipSymbol("(") {
                    arguments = try self.arguments().0
                } else if let token = peek, Self.startsTestArgument(token) {
                    arguments = [try postfix(try primary())]
                }
                value = .test(value, name: name, negated: negated, arguments)
            } else if skipSymbol("(") {
                let (positional, keyword) = try arguments()
                value = .call(value, positional, keyword)
            } else {
                return value
            }
        }
    }

    private static func startsTestArgument(_ token: Lexer.Token) -> Bool {
        switch token {
        case .name(let name): return !["else", "or", "and", "if", "in", "is", "not"].contains(name)
        case .string, .int, .double: return true
        case .symbol(let symbol): return symbol == "[" || symbol == "{"
        }
    }

    private mutating func dottedName() throws -> String {
        var name = try self.name()
        while peek == .symbol("."), index + 1 < tokens.count, case .name(let part) = tokens[index + 1] {
            index += 2
            name += "." + part
        }
        return name
    }
}
