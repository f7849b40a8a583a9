/// Why a template could not be parsed or rendered.
public enum TemplateError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The text is not a template jinja2 would parse.
    case syntax(String)
    /// A construct this engine does not implement: refused, never rendered differently.
    case unsupported(String)
    /// The template called `raise_exception(message)` (a conversation it does not accept).
    case raised(String)
    /// An operation on the wrong kind of value (jinja2 raises TypeError or UndefinedError).
    case type(String)

    public var description: String {
        switch self {
        case .syntax(let detail): return "template syntax: \(detail)"
        case .unsupported(let construct):
            return "the template uses \(construct), which ttl-train's template engine does not support"
        case .raised(let message): return "the template refused the conversation: \(message)"
        case .type(let detail): return "template: \(detail)"
        }
    }
}
