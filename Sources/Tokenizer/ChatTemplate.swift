/// ChatML, as SmolLM2-Instruct and ttl-train's chat data (`scripts/prepare_data.py`) write it:
/// `<|im_start|>role\ncontent<|im_end|>\n` per message, then `<|im_start|>assistant\n` for the
/// reply. No system message is added unless one is given (the data sets have none).
public enum ChatTemplate {
    public static let endOfTurn = "<|im_end|>"

    public static func prompt(user message: String, system: String? = nil) -> String {
        var text = ""
        if let system { text += "<|im_start|>system\n\(system)\(endOfTurn)\n" }
        return text + "<|im_start|>user\n\(message)\(endOfTurn)\n<|im_start|>assistant\n"
    }
}
