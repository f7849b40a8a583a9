import Foundation
import Jinja
import TestSupport
import XCTest

/// Every real chat template scripts/setup.sh fetched, rendered on a set of conversations (with
/// and without a system turn, multi-turn, unicode, empty content, roles out of order) with and
/// without the generation prompt, against Python's jinja2 configured as transformers configures
/// it (`render_reference.py`): the text must be byte-identical; where jinja2 raises, so must we
/// (with the same message for `raise_exception`). A template this engine refuses must refuse
/// every conversation — never render one differently — and the families people fine-tune must
/// not be refused at all.
final class RealTemplateTests: XCTestCase {
    /// Families whose templates must render, not be refused.
    private static let required = [
        "HuggingFaceTB-SmolLM2-135M-Instruct", "meta-llama-Llama-3.1-8B-Instruct", "meta-llama-Llama-3.2-3B-Instruct",
        "meta-llama-Llama-3.3-70B-Instruct", "Qwen-Qwen2.5-7B-Instruct", "Qwen-Qwen3-0.6B",
        "mistralai-Mistral-Nemo-Instruct-2407",
        "google-gemma-2-2b-it", "microsoft-Phi-3.5-mini-instruct",
    ]

    /// Each family's special tokens, as its tokenizer_config.json gives them to the template.
    private static func specialTokens(_ name: String) -> [String: String] {
        if name.contains("Llama-3") || name.contains("Hermes-3") {
            return ["bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"]
        }
        if name.contains("Qwen") || name.contains("SmolLM2") {
            return ["bos_token": "<|im_start|>", "eos_token": "<|im_end|>"]
        }
        if name.contains("gemma") { return ["bos_token": "<bos>", "eos_token": "<eos>"] }
        if name.contains("Phi") { return ["bos_token": "<s>", "eos_token": "<|endoftext|>"] }
        return ["bos_token": "<s>", "eos_token": "</s>"]
    }

    static let conversations: [String] = [
        #"[{"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi there. How can I help?"}]"#,
        #"[{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}, {"role": "#
            + #""assistant", "content": "4"}]"#,
        #"[{"role": "system", "content": "Be kind."}, {"role": "user", "content": "One"}, {"role": "assistant", "#
            + #""content": "Two"}, {"role": "user", "content": "Three"}, {"role": "assistant", "content": "Four"}]"#,
        #"[{"role": "user", "content": "Grüße aus Köln — 你好，世界 🌍 e\u0301 שלום"}, {"role": "assistant", "content": "Ça "#
            + #"va? 😀 \u2028 tab\there"}]"#,
        #"[{"role": "user", "content": ""}, {"role": "assistant", "content": ""}]"#,
        #"[{"role": "user", "content": "Tell me a joke."}]"#,
        #"[{"role": "user", "content": "  leading and trailing  \n\n"}, {"role": "assistant", "content": "He said "#
            + #"\"hi\" and 'bye' \\ back\n<think>\nreasoning\n</think>\n\nanswer"}]"#,
        #"[{"role": "assistant", "content": "I start."}, {"role": "user", "content": "ok"}]"#,
        #"[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]"#,
        #"[{"role": "system", "content": "Only a system prompt."}]"#,
        #"[{"role": "user", "content": "{{ not a tag }} {% neither %}"}, {"role": "assistant", "content": "%}}{{"}]"#,
    ]

    func testRealTemplatesRenderAsJinja2Does() throws {
        let directory = try Repository.chatTemplates()
        let python = try Repository.python()
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".jinja") }
            .sorted()
        XCTAssertGreaterThanOrEqual(names.count, 20)
        var cases: [(template: String, context: String)] = []
        for name in names {
            for conversation in Self.conversations {
                for generationPrompt in [false, true] {
                    var context = Self.specialTokens(name).map { "\"\($0.key)\": \"\($0.value)\"" }
                    context += [
                        "\"messages\": \(conversation)", "\"add_generation_prompt\": \(generationPrompt)",
                        "\"date_string\": \"26 Jul 2024\"",
                    ]
                    cases.append(("\(directory)/\(name)", "{" + context.sorted().joined(separator: ", ") + "}"))
                }
            }
        }
        let temporary = try TemporaryDirectory()
        let casesFile = temporary.path("cases.json")
        let json =
            "[" + cases.map { #"{"template": "\#($0.template)", "context": \#($0.context)}"# }.joined(separator: ",\n")
            + "]"
        try json.write(toFile: casesFile, atomically: true, encoding: .utf8)
        let reference = try ChildProcess.run(
            python, [Repository.path("Tests/JinjaTests/render_reference.py"), casesFile], timeout: 300)
        XCTAssertEqual(reference.status, 0, reference.stderr)
        guard case .list(let expected) = try JSON.parse(Array(reference.stdout.utf8)), expected.count == cases.count
        else {
            return XCTFail("render_reference.py gave no result per case: \(reference.stdout.prefix(500))")
        }

        var templates: [String: Template] = [:]
        var refused: [String: String] = [:]
        var identical = 0
        for (index, (path, context)) in cases.enumerated() {
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            let label = "\(name), case \(index % (Self.conversations.count * 2))"
            guard case .dict(let result) = expected[index],
                case .dict(let variables) = try JSON.parse(Array(context.utf8))
            else { return XCTFail(label) }
            let rendered: Result<String, Error>
            do {
                if templates[path] == nil, refused[name] == nil {
                    templates[path] = try Template(String(contentsOfFile: path, encoding: .utf8))
                }
                guard let template = templates[path] else { continue }
                rendered = .success(try template.render(Dictionary(uniqueKeysWithValues: variables.pairs)))
            } catch TemplateError.unsupported(let construct) {
                refused[name] = construct
                templates[path] = nil
                continue
            } catch {
                rendered = .failure(error)
            }
            switch (result["text"], result["error"], rendered) {
            case (.string(let text)?, _, .success(let ours)):
                XCTAssertEqual(
                    Array(ours.utf8), Array(text.utf8),
                    "\(label): jinja2 rendered \(Value.string(text).representation), we "
                        + "\(Value.string(ours).representation)"
                )
                if ours == text { identical += 1 }
            case (.string(let text)?, _, .failure(let error)):
                XCTFail("\(label): jinja2 rendered \(Value.string(text).representation), we failed: \(error)")
            case (_, .string(let error)?, .success(let ours)):
                XCTFail("\(label): jinja2 failed (\(error)), we rendered \(Value.string(ours).representation)")
            case (_, .string(let error)?, .failure(let ours)):
                // raise_exception's message must match; any other failure of jinja2 must be one of ours.
                let agrees =
                    !error.hasPrefix("raised: ") || (ours as? TemplateError) == .raised(String(error.dropFirst(8)))
                XCTAssertTrue(agrees, "\(label): jinja2 \(error), we \(ours)")
                if agrees { identical += 1 }
            default:
                XCTFail("\(label): unexpected reference result \(result)")
            }
        }
        for name in Self.required {
            XCTAssertNil(refused[name], "\(name) is refused: \(refused[name] ?? "")")
            XCTAssertTrue(names.contains("\(name).jinja"), "\(name).jinja was not fetched")
        }
        let refusals = refused.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: "; ")
        print(
            "chat templates: \(names.count) real templates, \(cases.count) renders; \(identical) identical to jinja2 "
                + "(text or error); refused: \(refused.isEmpty ? "none" : refusals)"
        )
    }
}
