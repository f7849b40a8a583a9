import ArgumentParser
import ChatTemplates
import Llama
import Foundation
import SpecFiles
import Tokenizer

/// `--ids FILE` (whitespace-separated token ids) or `--text FILE` (UTF-8, tokenized here with
/// `--tokenizer`, by default the `tokenizer.json` beside the model).
struct TokenInput: ParsableArguments {
    @Option(help: ArgumentHelp("File of whitespace-separated token ids.", valueName: "path"))
    var ids: String?

    @Option(help: ArgumentHelp("UTF-8 text file, tokenized with --tokenizer.", valueName: "path"))
    var text: String?

    @Option(help: ArgumentHelp("tokenizer.json for --text (default: the one beside the model).", valueName: "path"))
    var tokenizer: String?

    func validate() throws {
        guard (ids == nil) != (text == nil) else { throw ValidationError("give one of --ids and --text") }
    }

    /// The file the tokens come from, for messages and records.
    var source: String { ids ?? text! }

    /// The tokens, each checked against a vocabulary of `vocabulary` ids.
    func tokens(vocabulary: Int, model: String) throws -> [Int32] {
        if let ids { return try TokenFile.read(ids, vocabulary: vocabulary) }
        let content: String
        switch TextFile.read(text!, limit: TokenFile.maxBytes) {
        case .success(let read): content = read
        case .failure(let error): throw CommandError("\(text!): \(error.problem)")
        }
        let tokens = try TokenizerFile.open(tokenizer, model: model).encode(content)
        guard !tokens.isEmpty else { throw CommandError("\(text!): no text to tokenize") }
        if let bad = tokens.first(where: { Int($0) >= vocabulary }) {
            throw CommandError("\(text!): the tokenizer gives id \(bad), outside the model's vocabulary 0..<\(vocabulary)")
        }
        return tokens
    }
}

/// Where a command finds its tokenizer.
enum TokenizerFile {
    /// `path`, or the `tokenizer.json` in the model's directory (where the importers put it).
    static func path(_ path: String?, model: String) -> String {
        path ?? ((model as NSString).deletingLastPathComponent as NSString).appendingPathComponent("tokenizer.json")
    }

    /// The tokenizer, refused when the model records another (`tokenizer_fingerprint`): ids of a
    /// foreign tokenizer are valid numbers with the wrong meaning, and generate garbage quietly.
    static func open(_ path: String?, model: String) throws -> Tokenizer {
        let resolved = Self.path(path, model: model)
        let recorded = try ModelFile(path: model).tokenizerFingerprint
        if !recorded.isEmpty, FileManager.default.fileExists(atPath: resolved), try ImportSettings.fingerprint(of: resolved) != recorded {
            throw CommandError("\(resolved): is not the tokenizer \(model) was made with (\(recorded)); pass the model's own with --tokenizer")
        }
        guard FileManager.default.fileExists(atPath: resolved) else {
            throw CommandError("\(resolved): no such tokenizer file (pass --tokenizer PATH)")
        }
        return try Tokenizer(path: resolved)
    }

    /// The chat template of `template` (a Jinja file), else of the `tokenizer_config.json`
    /// beside the tokenizer; nil when neither has one. Special tokens come from that config.
    static func chatTemplate(_ template: String?, tokenizer: String) throws -> ChatTemplate? {
        let config = try TokenizerConfig.beside(tokenizer: tokenizer)
        guard let template else { return try config.flatMap { try ChatTemplate($0) } }
        let source: String
        switch TextFile.read(template, limit: TokenizerConfig.maxBytes) {
        case .success(let text): source = text
        case .failure(let error): throw CommandError("\(template): \(error.problem)")
        }
        return try ChatTemplate(source: source, origin: template, bosToken: config?.bosToken, eosToken: config?.eosToken)
    }
}
