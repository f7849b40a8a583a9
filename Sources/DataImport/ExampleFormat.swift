import ChatTemplates
import Jinja

/// The shapes of JSON Lines data that mlx-lm, torchtune and axolotl read, told apart by the keys
/// of an object: `messages` (chat), `prompt` + `completion`, `text`, and alpaca's `instruction`
/// + `output` (+ `input`). Other keys of the object are ignored; the keys of a message are not
/// (a `tool_calls` would change what the template renders).
public enum ExampleFormat: String, CaseIterable, Sendable {
    case chat, completions, text, alpaca

    public static let roles = ["system", "user", "assistant"]

    /// The shape an object's keys say, or nil.
    public static func detect(_ object: Value.Dictionary) -> ExampleFormat? {
        let keys = Set(object.keys)
        if keys.contains("messages") { return .chat }
        if keys.contains("prompt") || keys.contains("completion") { return .completions }
        if keys.contains("instruction") || keys.contains("output") { return .alpaca }
        if keys.contains("text") { return .text }
        return nil
    }

    /// What one example says.
    public enum Example {
        /// A conversation, rendered with the chat template (alpaca becomes one too).
        case conversation([Message])
        /// Text followed by its continuation, which is what is learned.
        case completion(prompt: String, completion: String)
        case text(String)
    }

    /// The example of one line's object; errors name the line and key.
    public func example(_ object: Value.Dictionary, file: String, line: Int) throws -> Example {
        func fail(_ key: String, _ problem: String) -> DataImportError {
            DataImportError(file: file, line: line, key: key, problem: problem)
        }
        func string(_ key: String, required: Bool = true) throws -> String {
            switch object[key] {
            case .string(let text)?: return text
            case nil where !required: return ""
            case nil: throw fail(key, "is missing (a \(rawValue) example has \(keys))")
            case let value?: throw fail(key, "expected a string, got \(JSONLines.kind(of: value))")
            }
        }
        switch self {
        case .chat:
            guard case .list(let items)? = object["messages"] else {
                throw fail(
                    "messages",
                    object["messages"] == nil ? "is missing" : "expected an array of {\"role\", \"content\"} objects")
            }
            guard !items.isEmpty else { throw fail("messages", "is empty") }
            let messages = try items.enumerated().map { index, item -> Message in
                let at = "messages[\(index)]"
                guard case .dict(let message) = item else {
                    throw fail(at, "expected an object with role and content, got \(JSONLines.kind(of: item))")
                }
                if let extra = message.keys.first(where: { $0 != "role" && $0 != "content" }) {
                    throw fail("\(at).\(extra)", "unknown key (a message has role and content)")
                }
                guard case .string(let role)? = message["role"] else {
                    throw fail("\(at).role", message["role"] == nil ? "is missing" : "expected a string")
                }
                guard Self.roles.contains(role) else {
                    throw fail("\(at).role", "unknown role '\(role)' (expected system, user or assistant)")
                }
                guard case .string(let content)? = message["content"] else {
                    throw fail(
                        "\(at).content",
                        message["content"] == nil
                            ? "is missing" : "expected a string, got \(JSONLines.kind(of: message["content"]!))")
                }
                return Message(role: role, content: content)
            }
            guard messages.contains(where: { $0.role == "assistant" }) else {
                throw fail("messages", "has no assistant turn to learn from")
            }
            return .conversation(messages)
        case .completions:
            return .completion(prompt: try string("prompt"), completion: try string("completion"))
        case .text:
            return .text(try string("text"))
        case .alpaca:
            let instruction = try string("instruction"), input = try string("input", required: false),
                output = try string("output")
            let user = input.isEmpty ? instruction : instruction + "\n\n" + input
            return .conversation([Message(role: "user", content: user), Message(role: "assistant", content: output)])
        }
    }

    private var keys: String {
        switch self {
        case .chat: return "messages"
        case .completions: return "prompt and completion"
        case .text: return "text"
        case .alpaca: return "instruction, input (may be empty) and output"
        }
    }
}
