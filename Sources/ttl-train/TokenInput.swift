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

    /// The tokens, each checked against the model's vocabulary.
    func tokens(model: ModelFile) throws -> [Int32] {
        let vocabulary = model.config.vocabSize
        if let ids { return try TokenFile.read(ids, vocabulary: vocabulary) }
        let content: String
        switch TextFile.read(text!, limit: TokenFile.maxBytes) {
        case .success(let read): content = read
        case .failure(let error): throw CommandError("\(text!): \(error.problem)")
        }
        let tokens = try TokenizerFile.open(tokenizer, model: model).tokenizer.encode(content)
        guard !tokens.isEmpty else { throw CommandError("\(text!): no text to tokenize") }
        if let bad = tokens.first(where: { Int($0) >= vocabulary }) {
            throw CommandError(
                "\(text!): the tokenizer gives id \(bad), outside the model's vocabulary 0..<\(vocabulary)")
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

    /// The tokenizer (`path`, or the one beside `model`), its file and fingerprint, refused when
    /// the model records another (`tokenizer_fingerprint`): ids of a foreign tokenizer are valid
    /// numbers with the wrong meaning, and generate garbage quietly. The file is read once.
    static func open(_ path: String?, model: ModelFile) throws -> (
        tokenizer: Tokenizer, path: String, fingerprint: String
    ) {
        let resolved = Self.path(path, model: model.path)
        guard let data = FileManager.default.contents(atPath: resolved) else {
            throw CommandError("\(resolved): no such tokenizer file (pass --tokenizer PATH)")
        }
        let fingerprint = SHA256.fingerprint(of: data)
        let recorded = model.tokenizerFingerprint
        guard recorded.isEmpty || recorded == fingerprint else {
            throw CommandError(
                "\(resolved): is not the tokenizer \(model.path) was made with (\(recorded)); "
                    + "pass the model's own with --tokenizer")
        }
        return (try Tokenizer(json: data, path: resolved), resolved, fingerprint)
    }

    /// The chat template of `template` (a Jinja file), else of `config` (the tokenizer's
    /// `tokenizer_config.json`); nil when neither has one. Special tokens come from `config`.
    static func chatTemplate(_ template: String?, config: TokenizerConfig?) throws -> ChatTemplate? {
        guard let template else { return try config.flatMap { try ChatTemplate($0) } }
        let source: String
        switch TextFile.read(template, limit: TokenizerConfig.maxBytes) {
        case .success(let text): source = text
        case .failure(let error): throw CommandError("\(template): \(error.problem)")
        }
        return try ChatTemplate(
            source: source, origin: template, bosToken: config?.bosToken, eosToken: config?.eosToken)
    }
}
