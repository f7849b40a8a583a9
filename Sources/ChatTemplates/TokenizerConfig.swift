import Foundation
import Jinja

/// `tokenizer_config.json` beside a `tokenizer.json`, in Hugging Face's own format: the special
/// tokens a chat template is given (`bos_token`, `eos_token`) and the template itself. The
/// importers write it; a Hugging Face directory has it already.
public struct TokenizerConfig: Sendable {
    public let path: String
    public let bosToken: String?
    public let eosToken: String?
    /// The template's source, if the tokenizer has one.
    public let chatTemplate: String?

    /// The largest config read (templates are kilobytes; tool-use ones tens of them).
    public static let maxBytes = 4 << 20

    public init(path: String) throws {
        self.path = path
        let fail = { (problem: String) in ChatTemplateError(source: path, problem: problem) }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw fail("cannot be read") }
        defer { try? handle.close() }
        let data = handle.readData(ofLength: Self.maxBytes + 1)
        guard data.count <= Self.maxBytes else { throw fail("is larger than \(Self.maxBytes >> 20) MiB") }
        let root: Value
        do {
            root = try JSON.parse(Array(data))
        } catch {
            throw fail("is not JSON: \(error)")
        }
        guard case .dict(let config) = root else { throw fail("is not a JSON object") }
        func token(_ key: String) throws -> String? {
            switch config[key] {
            case nil, .none?: return nil
            case .string(let text)?: return text
            case .dict(let added)?:
                guard case .string(let text)? = added["content"] else {
                    throw fail("\(key): expected a string or {\"content\": ...}")
                }
                return text
            default: throw fail("\(key): expected a string")
            }
        }
        bosToken = try token("bos_token")
        eosToken = try token("eos_token")
        switch config["chat_template"] {
        case nil, .none?: chatTemplate = nil
        case .string(let source)?: chatTemplate = source
        case .list(let named)?:
            chatTemplate =
                named.compactMap { entry -> String? in
                    guard case .dict(let item) = entry, case .string("default")? = item["name"],
                        case .string(let source)? = item["template"]
                    else { return nil }
                    return source
                }.first
        default: throw fail("chat_template: expected a string or a list of named templates")
        }
    }

    /// The `tokenizer_config.json` beside `tokenizer`, or nil where there is none.
    public static func beside(tokenizer: String) throws -> TokenizerConfig? {
        let path = ((tokenizer as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
            "tokenizer_config.json")
        return FileManager.default.fileExists(atPath: path) ? try TokenizerConfig(path: path) : nil
    }
}
