import ChatTemplates
import Tokenizer

/// Which tokens of an example the loss is taken on (`--train-on`).
public enum TrainOn: String, CaseIterable, Sendable {
    /// Each assistant turn's content and its end-of-turn token.
    case assistant
    /// Every token.
    case all
    /// Only the last assistant turn.
    case last
}

/// Renders an example to text, tokenizes it as a whole (as `apply_chat_template` then the
/// tokenizer would) and marks its supervised tokens: those starting inside a supervised span of
/// the text. An assistant turn's span runs to the next turn; the template's text after the
/// turn's last special token (ChatML's newline after `<|im_end|>`) is not the model's to learn.
public struct ExampleEncoder {
    public let tokenizer: Tokenizer
    public let template: ChatTemplate?
    /// Appended to text and completions, as the end of what is learned.
    public let endOfSequence: String?
    public let trainOn: TrainOn
    public let maxLength: Int
    /// Keep the last `maxLength` tokens of a longer example instead of refusing it.
    public let truncate: Bool

    public init(
        tokenizer: Tokenizer, template: ChatTemplate?, endOfSequence: String?, trainOn: TrainOn, maxLength: Int,
        truncate: Bool
    ) {
        self.tokenizer = tokenizer
        self.template = template
        self.endOfSequence = endOfSequence
        self.trainOn = trainOn
        self.maxLength = maxLength
        self.truncate = truncate
    }

    public struct Encoded {
        public var tokens: [Int32]
        /// 1 where the token is a target (predicted by the logits one position earlier).
        public var mask: [UInt8]
        /// Tokens dropped from the front to fit `maxLength`.
        public var truncatedTokens: Int
    }

    /// The rendered text and its supervised UTF-8 byte ranges; `turns` says the ranges are
    /// assistant turns, to be cut after their last special token.
    public func render(_ example: ExampleFormat.Example) throws -> (text: String, spans: [Range<Int>], turns: Bool) {
        let end = endOfSequence ?? ""
        switch example {
        case .text(let text):
            let whole = text + end
            return (whole, [0..<whole.utf8.count], false)
        case .completion(let prompt, let completion):
            let whole = prompt + completion + end
            return (whole, [(trainOn == .all ? 0 : prompt.utf8.count)..<whole.utf8.count], false)
        case .conversation(let messages):
            guard let template else {
                throw ChatTemplateError(
                    source: "the model's tokenizer",
                    problem: "has no chat template (tokenizer_config.json): pass --template FILE")
            }
            if trainOn == .all {
                let text = try template.render(messages, addGenerationPrompt: false)
                return (text, [0..<text.utf8.count], false)
            }
            let (text, spans) = try template.assistantSpans(messages, lastOnly: trainOn == .last)
            return (text, spans, true)
        }
    }

    public func encode(_ example: ExampleFormat.Example, file: String, line: Int) throws -> Encoded {
        let (text, spans, turns): (String, [Range<Int>], Bool)
        do {
            (text, spans, turns) = try render(example)
        } catch let error as ChatTemplateError {
            throw DataImportError(file: file, line: line, problem: "\(error)")
        }
        let (tokens, offsets) = tokenizer.encodeWithOffsets(text)
        var mask = [UInt8](repeating: 0, count: tokens.count)
        var index = 0
        for span in spans {
            while index < tokens.count, offsets[index] < span.lowerBound { index += 1 }
            var inSpan: [Int] = []
            while index < tokens.count, offsets[index] < span.upperBound {
                inSpan.append(index)
                index += 1
            }
            if turns, let lastSpecial = inSpan.lastIndex(where: { tokenizer.isSpecial(tokens[$0]) }) {
                inSpan.removeSubrange((lastSpecial + 1)...)
            }
            for token in inSpan { mask[token] = 1 }
        }
        if !mask.isEmpty { mask[0] = 0 }
        guard mask.contains(1) else {
            throw DataImportError(
                file: file, line: line, problem: "has nothing to learn from (no supervised token after the first)")
        }
        var encoded = Encoded(tokens: tokens, mask: mask, truncatedTokens: 0)
        if tokens.count > maxLength {
            guard truncate else {
                throw DataImportError(
                    file: file, line: line,
                    problem: "is \(tokens.count) tokens, longer than --max-length \(maxLength); "
                        + "pass --truncate to keep its last \(maxLength) tokens, or a larger --max-length")
            }
            let dropped = tokens.count - maxLength
            encoded = Encoded(
                tokens: Array(tokens[dropped...]), mask: Array(mask[dropped...]), truncatedTokens: dropped)
            encoded.mask[0] = 0
            guard encoded.mask.contains(1) else {
                throw DataImportError(
                    file: file, line: line,
                    problem: "keeps no supervised token once truncated to its last \(maxLength) tokens")
            }
        }
        return encoded
    }
}
