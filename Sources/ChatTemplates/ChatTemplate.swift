import Jinja

/// One turn of a conversation.
public struct Message: Equatable, Sendable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A model's chat template with the special tokens it is rendered with, as transformers'
/// `apply_chat_template` renders it (`messages`, `add_generation_prompt`, `bos_token`,
/// `eos_token`).
///
/// Which part of a conversation is the assistant's comes from rendering, not from looking for
/// one template's markers: assistant turn i spans from the end of the conversation before it
/// rendered with the generation prompt to the end of the conversation through it. A template
/// whose renderings of a conversation's beginnings are not beginnings of the whole (some
/// rewrite earlier turns) is refused for training, naming the turn.
public struct ChatTemplate {
    public let source: String
    /// Where the template came from, for errors (`assets/tokenizer_config.json`).
    public let origin: String
    public let bosToken: String?
    public let eosToken: String?
    private let template: Template

    public init(source: String, origin: String, bosToken: String?, eosToken: String?) throws {
        self.source = source
        self.origin = origin
        self.bosToken = bosToken
        self.eosToken = eosToken
        do {
            template = try Template(source)
        } catch let error as TemplateError {
            throw ChatTemplateError(source: origin, problem: "\(error)")
        }
    }

    /// The template of a tokenizer config; nil when it has none.
    public init?(_ config: TokenizerConfig) throws {
        guard let source = config.chatTemplate else { return nil }
        try self.init(
            source: source, origin: "\(config.path) (chat_template)", bosToken: config.bosToken,
            eosToken: config.eosToken)
    }

    /// The conversation as text; with `addGenerationPrompt`, followed by what starts the
    /// assistant's reply.
    public func render(_ messages: [Message], addGenerationPrompt: Bool) throws -> String {
        var context: [String: Value] = [
            "messages": .list(
                messages.map {
                    .dict(Value.Dictionary([("role", .string($0.role)), ("content", .string($0.content))]))
                }),
            "add_generation_prompt": .bool(addGenerationPrompt),
        ]
        if let bosToken { context["bos_token"] = .string(bosToken) }
        if let eosToken { context["eos_token"] = .string(eosToken) }
        do {
            return try template.render(context)
        } catch let error as TemplateError {
            throw ChatTemplateError(source: origin, problem: "\(error)")
        }
    }

    /// The rendered conversation and the UTF-8 byte range of each assistant turn in it (its
    /// content and whatever the template writes after it, up to the next turn).
    /// With `lastOnly`, only the last assistant turn's (earlier turns are not rendered alone).
    public func assistantSpans(_ messages: [Message], lastOnly: Bool = false) throws -> (
        text: String, spans: [Range<Int>]
    ) {
        let whole = Array(try render(messages, addGenerationPrompt: false).utf8)
        var spans: [Range<Int>] = []
        var turns = messages.indices.filter { messages[$0].role == "assistant" }
        if lastOnly { turns = Array(turns.suffix(1)) }
        for index in turns {
            let before = Array(try render(Array(messages[..<index]), addGenerationPrompt: true).utf8)
            let through = Array(try render(Array(messages[...index]), addGenerationPrompt: false).utf8)
            guard whole.starts(with: through), through.starts(with: before), before.count <= through.count else {
                throw ChatTemplateError(
                    source: origin,
                    problem: "renders the conversation up to turn \(index + 1) as something other than the "
                        + "beginning of the whole conversation, so the assistant's tokens cannot be told apart; "
                        + "give a template that renders earlier turns the same way (--template FILE)")
            }
            spans.append(before.count..<through.count)
        }
        return (String(decoding: whole, as: UTF8.self), spans)
    }
}
