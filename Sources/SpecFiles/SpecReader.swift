import Yams

/// Strict reading of a YAML job spec or compression plan: every value is fetched by key path, so an error can say
/// `optimizer.lr: expected a number, got 'fast'`; a mapping with a key nobody asked for is an
/// error naming it and the keys that are allowed.
package struct SpecReader {
    package let file: String

    package init(file: String) {
        self.file = file
    }

    /// A spec or plan is a page of YAML; these bounds refuse a huge file or an alias bomb (a few
    /// lines whose anchors expand to billions of nodes) before anything walks the tree.
    package static let maxDocumentBytes = 1 << 20
    package static let maxNodes = 100_000

    /// The YAML document in `text`; an empty, malformed or oversized one is an error saying what
    /// the file should hold (`needs`).
    package func document(_ text: String, needs: String) throws -> Node {
        guard !text.allSatisfy(\.isWhitespace) else {
            throw SpecError(file: file, keyPath: "(file)", problem: "is empty (\(needs))")
        }
        guard let node = try compose(text, at: "(file)") else {
            throw SpecError(file: file, keyPath: "(file)", problem: "holds only comments (\(needs))")
        }
        return node
    }

    /// Parses YAML `text` within the size and node bounds; `path` names it in errors.
    package func compose(_ text: String, at path: String) throws -> Node? {
        guard text.utf8.count <= Self.maxDocumentBytes else {
            throw SpecError(file: file, keyPath: path, problem: "is \(text.utf8.count) bytes; YAML here is limited to \(Self.maxDocumentBytes)")
        }
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw SpecError(file: file, keyPath: path, problem: "not valid YAML: \("\(error)".split(separator: "\n").first ?? "")")
        }
        var budget = Self.maxNodes
        if let node, !Self.fits(node, within: &budget) {
            throw SpecError(file: file, keyPath: path, problem: "expands to more than \(Self.maxNodes) YAML nodes (nested aliases?); refusing to read it")
        }
        return node
    }

    /// Counts `node` and everything under it — aliases count each time they are used — against
    /// `budget`, stopping as soon as it runs out.
    private static func fits(_ node: Node, within budget: inout Int) -> Bool {
        budget -= 1
        guard budget >= 0 else { return false }
        switch node {
        case .scalar: return true
        case .sequence(let sequence): return sequence.allSatisfy { fits($0, within: &budget) }
        case .mapping(let mapping): return mapping.allSatisfy { fits($0.key, within: &budget) && fits($0.value, within: &budget) }
        case .alias: return true
        }
    }

    /// The entries of the mapping at `path`, refusing unknown keys. A missing (nil) node is an
    /// empty mapping, so optional sections can be left out.
    package func table(_ node: Node?, at path: String, keys: [String]) throws -> [String: Node] {
        guard let node else { return [:] }
        guard let mapping = node.mapping else { throw error(path, "expected a mapping of \(keys.joined(separator: ", "))", found: node) }
        var table: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw error(path, "has a key that is not a string") }
            guard keys.contains(name) else {
                throw error(join(path, name), "unknown key (expected one of \(keys.joined(separator: ", ")))")
            }
            table[name] = value
        }
        return table
    }

    /// A mapping whose keys are positive integers (e.g. `tt.factors: {576: [8, 8, 9]}`).
    package func integerTable(_ node: Node?, at path: String) throws -> [Int: Node] {
        guard let node else { return [:] }
        guard let mapping = node.mapping else { throw error(path, "expected a mapping", found: node) }
        var table: [Int: Node] = [:]
        for (key, value) in mapping {
            guard let number = key.int, number > 0 else { throw error(join(path, key.string ?? "?"), "expected a positive integer key") }
            table[number] = value
        }
        return table
    }

    package func string(_ table: [String: Node], _ key: String, at path: String, default fallback: String? = nil) throws -> String {
        guard let node = table[key] else { return try missing(path, key, fallback) }
        guard case .scalar = node, let value = node.string else { throw error(join(path, key), "expected a string", found: node) }
        return value
    }

    /// An integer in `range`: every number a spec holds is bounded where it is read, so no later
    /// arithmetic on it can overflow.
    package func int(_ table: [String: Node], _ key: String, at path: String, in range: ClosedRange<Int>, default fallback: Int? = nil) throws -> Int {
        guard let node = table[key] else { return try missing(path, key, fallback) }
        return try intElement(in: range)(node, join(path, key))
    }

    /// A finite number for which `valid` holds (`expected` says what that means); NaN and
    /// infinities are refused everywhere.
    package func double(_ table: [String: Node], _ key: String, at path: String, _ expected: String, valid: @escaping (Double) -> Bool,
                        default fallback: Double? = nil) throws -> Double {
        guard let node = table[key] else { return try missing(path, key, fallback) }
        return try doubleElement(expected, valid: valid)(node, join(path, key))
    }

    /// One of `choices`, spelled as in the spec.
    package func choice(_ table: [String: Node], _ key: String, at path: String, _ choices: [String], default fallback: String? = nil) throws -> String {
        let value = try string(table, key, at: path, default: fallback)
        guard choices.contains(value) else {
            throw error(join(path, key), "expected one of \(choices.joined(separator: ", ")), got '\(value)'")
        }
        return value
    }

    /// `true` or `false`.
    /// `choice` of a type's cases, returned typed.
    package func choice<Choice: RawRepresentable>(_ table: [String: Node], _ key: String, at path: String, _ choices: [Choice],
                                                  default fallback: Choice? = nil) throws -> Choice where Choice.RawValue == String {
        let name = try choice(table, key, at: path, choices.map(\.rawValue), default: fallback?.rawValue)
        return choices.first { $0.rawValue == name }!
    }

    package func bool(_ table: [String: Node], _ key: String, at path: String, default fallback: Bool? = nil) throws -> Bool {
        let value = try string(table, key, at: path, default: fallback.map { "\($0)" })
        guard let flag = Bool(value) else { throw error(join(path, key), "expected true or false, got '\(value)'") }
        return flag
    }

    package func list<Element>(_ table: [String: Node], _ key: String, at path: String, default fallback: [Element]? = nil,
                       _ element: (Node, String) throws -> Element) throws -> [Element] {
        guard let node = table[key] else { return try missing(path, key, fallback) }
        guard let sequence = node.sequence else { throw error(join(path, key), "expected a list", found: node) }
        return try sequence.enumerated().map { try element($0.element, "\(join(path, key))[\($0.offset)]") }
    }

    /// Reads one integer list element (or value) in `range`.
    package func intElement(in range: ClosedRange<Int>) -> (Node, String) throws -> Int {
        { node, path in
            guard case .scalar = node, let value = node.int else { throw error(path, "expected an integer", found: node) }
            guard range.contains(value) else {
                let bounds = range.upperBound == .max ? "at least \(range.lowerBound)" : "in \(range.lowerBound)...\(range.upperBound)"
                throw error(path, "must be \(bounds), got \(value)")
            }
            return value
        }
    }

    /// Reads one finite number (or list element) for which `valid` holds.
    package func doubleElement(_ expected: String, valid: @escaping (Double) -> Bool) -> (Node, String) throws -> Double {
        { node, path in
            guard case .scalar = node, let value = node.float ?? node.int.map(Double.init) else {
                throw error(path, "expected a number", found: node)
            }
            guard value.isFinite, valid(value) else { throw error(path, "must be \(expected), got \(value)") }
            return value
        }
    }

    package func stringElement(_ node: Node, _ path: String) throws -> String {
        guard case .scalar = node, let value = node.string else { throw error(path, "expected a string", found: node) }
        return value
    }

    package func error(_ path: String, _ problem: String, found node: Node? = nil) -> SpecError {
        let shown: String
        switch node {
        case .scalar(let scalar)?: shown = ", got '\(scalar.string)'"
        case .mapping?: shown = ", got a mapping"
        case .sequence?: shown = ", got a list"
        default: shown = ""
        }
        return SpecError(file: file, keyPath: path.isEmpty ? "(file)" : path, problem: problem + shown)
    }

    private func missing<Value>(_ path: String, _ key: String, _ fallback: Value?) throws -> Value {
        guard let fallback else { throw error(join(path, key), "is required") }
        return fallback
    }

    package func join(_ path: String, _ key: String) -> String {
        path.isEmpty ? key : "\(path).\(key)"
    }
}

/// A bad value in a spec or plan file: the file, the key path and what was expected.
public struct SpecError: Error, Equatable, CustomStringConvertible, Sendable {
    public let file: String
    public let keyPath: String
    public let problem: String

    public init(file: String, keyPath: String, problem: String) {
        self.file = file
        self.keyPath = keyPath
        self.problem = problem
    }

    public var description: String { "\(file): \(keyPath): \(problem)" }
}
