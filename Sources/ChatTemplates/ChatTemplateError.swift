/// A chat template that cannot be read or cannot render a conversation, naming its source.
public struct ChatTemplateError: Error, CustomStringConvertible, Sendable {
    public let source: String
    public let problem: String

    public init(source: String, problem: String) {
        self.source = source
        self.problem = problem
    }

    public var description: String { "\(source): \(problem)" }
}
