import Foundation
import TestSupport
import XCTest

/// A generated corpus of broken JSON Lines data and templates for `ttl-train data import`: each
/// must fail with exit status 1 and one line naming the file, the line and the key, print nothing
/// on stdout and write nothing.
final class HostileJSONLCorpusTests: XCTestCase {
    private struct Case {
        var label: String
        /// Files of the data directory (or the one file, `data.jsonl`), by name.
        var files: [String: [UInt8]]
        /// What the error line must contain after `Error: `.
        var expected: String
        var arguments: [String] = []
        /// Import the directory rather than data.jsonl.
        var directory = false
    }

    private static let chat =
        #"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}"#

    private func corpus(_ root: String) -> [Case] {
        var cases: [Case] = []
        let file = "\(root)/data.jsonl"
        func lines(_ label: String, _ text: [String], _ expected: String, _ arguments: [String] = []) {
            cases.append(
                Case(
                    label: label, files: ["data.jsonl": Array((text.joined(separator: "\n") + "\n").utf8)],
                    expected: expected.replacingOccurrences(of: "FILE", with: file), arguments: arguments))
        }
        // Not JSON, or not an object, on line 2 after a good line 1.
        for (bad, problem) in [
            ("{", "not valid JSON: expecting a property name in double quotes"),
            (#"{"messages": [}"#, "not valid JSON: expecting a value"),
            ("not json", "not valid JSON: expecting a value"),
            (#"{"a": 1} x"#, "not valid JSON: extra data after the value"),
            (#"{'messages': []}"#, "not valid JSON: expecting a property name"),
            (#"{"a": "\q"}"#, "not valid JSON: invalid \\escape"),
            (#"{"a": "\ud800"}"#, "not valid JSON: a lone surrogate"),
            (#"{"a": 1,}"#, "not valid JSON: expecting a property name"),
            (#"{"a": 123456789012345678901234}"#, "not valid JSON: integer"),
            ("{\"a\": \"tab\tin string\"}", "not valid JSON: invalid control character"),
            ("[1, 2]", "expected a JSON object, got an array"), (#""text""#, "expected a JSON object, got a string"),
            ("42", "expected a JSON object, got a number"), ("null", "expected a JSON object, got null"),
            (String(repeating: "[", count: 1000), "not valid JSON: nesting deeper than 500"),
        ] {
            lines("line 2: \(bad.prefix(20))", [Self.chat, bad], "FILE:2: \(problem)")
        }
        // Shapes.
        lines(
            "unknown shape", [#"{"question": "q", "answer": "a"}"#],
            "FILE:1: has none of the keys of a known shape (keys: question, answer")
        lines("empty object", ["{}"], "FILE:1: has none of the keys of a known shape")
        lines(
            "chat then text", [Self.chat, #"{"text": "t"}"#],
            "FILE:2: is a text example, but the file's first is chat: one file holds one shape")
        lines(
            "text then completions", [#"{"text": "t"}"#, #"{"prompt": "p", "completion": "c"}"#],
            "FILE:2: is a completions example, but the file's first is text")
        lines(
            "alpaca then chat", [#"{"instruction": "i", "output": "o"}"#, Self.chat],
            "FILE:2: is a chat example, but the file's first is alpaca")
        // Chat.
        for (messages, key, problem) in [
            (#""hi""#, "messages", "expected an array of {\"role\", \"content\"} objects"),
            ("null", "messages", "expected an array"),
            ("{}", "messages", "expected an array"), ("[]", "messages", "is empty"),
            (#"["hi"]"#, "messages[0]", "expected an object with role and content, got a string"),
            ("[3]", "messages[0]", "expected an object with role and content, got a number"),
            (#"[{"content": "x"}]"#, "messages[0].role", "is missing"),
            (#"[{"role": 1, "content": "x"}]"#, "messages[0].role", "expected a string"),
            (#"[{"role": null, "content": "x"}]"#, "messages[0].role", "expected a string"),
            (
                #"[{"role": "tool", "content": "x"}]"#, "messages[0].role",
                "unknown role 'tool' (expected system, user or assistant)"
            ),
            (#"[{"role": "User", "content": "x"}]"#, "messages[0].role", "unknown role 'User'"),
            (#"[{"role": "", "content": "x"}]"#, "messages[0].role", "unknown role ''"),
            (#"[{"role": "user"}]"#, "messages[0].content", "is missing"),
            (#"[{"role": "user", "content": null}]"#, "messages[0].content", "expected a string, got null"),
            (#"[{"role": "user", "content": 5}]"#, "messages[0].content", "expected a string, got a number"),
            (
                #"[{"role": "user", "content": [{"type": "text", "text": "x"}]}]"#, "messages[0].content",
                "expected a string, got an array"
            ),
            (
                #"[{"role": "user", "content": "x", "tool_calls": []}]"#, "messages[0].tool_calls",
                "unknown key (a message has role and content)"
            ),
            (
                #"[{"role": "user", "content": "x"}, {"role": "assistant", "content": "y", "name": "bot"}]"#,
                "messages[1].name", "unknown key"
            ),
            (#"[{"role": "user", "content": "x"}]"#, "messages", "has no assistant turn to learn from"),
            (
                #"[{"role": "system", "content": "s"}, {"role": "user", "content": "x"}]"#, "messages",
                "has no assistant turn to learn from"
            ),
        ] {
            lines(
                "chat \(key) \(messages.prefix(30))", [Self.chat, #"{"messages": \#(messages)}"#],
                "FILE:2: \(key): \(problem)")
        }
        // Completions, text, alpaca.
        lines(
            "no completion", [#"{"prompt": "p"}"#],
            "FILE:1: completion: is missing (a completions example has prompt and completion)")
        lines("no prompt", [#"{"completion": "c"}"#], "FILE:1: prompt: is missing")
        lines(
            "prompt a number", [#"{"prompt": 1, "completion": "c"}"#], "FILE:1: prompt: expected a string, got a number"
        )
        lines(
            "completion null", [#"{"prompt": "p", "completion": null}"#],
            "FILE:1: completion: expected a string, got null")
        lines("text a list", [#"{"text": ["a"]}"#], "FILE:1: text: expected a string, got an array")
        lines(
            "text empty", [#"{"text": "fine"}"#, #"{"text": ""}"#],
            "FILE:2: has nothing to learn from (no supervised token after the first)")
        lines("alpaca no output", [#"{"instruction": "i"}"#], "FILE:1: output: is missing")
        lines(
            "alpaca input a number", [#"{"instruction": "i", "input": 3, "output": "o"}"#],
            "FILE:1: input: expected a string, got a number")
        lines("forced chat on text", [#"{"text": "t"}"#], "FILE:1: messages: is missing", ["--format", "chat"])
        // Lengths.
        lines(
            "too long", [#"{"text": "short"}"#, #"{"text": "\#(String(repeating: "word ", count: 50))"}"#],
            "FILE:2: is 52 tokens, longer than --max-length 40; pass --truncate to keep its last 40 tokens",
            ["--max-length", "40"])
        lines(
            "too long, refuse", [#"{"text": "short"}"#, #"{"text": "\#(String(repeating: "word ", count: 50))"}"#],
            "FILE:2: is 52 tokens", ["--max-length", "40", "--refuse"])
        // Files.
        cases.append(
            Case(label: "empty file", files: ["data.jsonl": []], expected: "\(file): holds no examples (an empty file)")
        )
        cases.append(
            Case(
                label: "blank lines only", files: ["data.jsonl": Array(" \n\n\t\n".utf8)],
                expected: "\(file): holds no examples"))
        cases.append(
            Case(
                label: "not UTF-8",
                files: ["data.jsonl": Array((Self.chat + "\n").utf8) + [0x7b, 0xff, 0xfe, 0x7d, 0x0a]],
                expected: "\(file):2: is not UTF-8 text"))
        cases.append(
            Case(
                label: "directory without train", files: ["valid.jsonl": Array(Self.chat.utf8)],
                expected: "\(root): has no train.jsonl", directory: true))
        cases.append(
            Case(
                label: "directory without valid", files: ["train.jsonl": Array(Self.chat.utf8)],
                expected: "\(root): has no valid.jsonl (or validation.jsonl)", directory: true))
        cases.append(
            Case(
                label: "valid and validation",
                files: [
                    "train.jsonl": Array(Self.chat.utf8), "valid.jsonl": Array(Self.chat.utf8),
                    "validation.jsonl": Array(Self.chat.utf8),
                ],
                expected: "\(root): has both valid.jsonl and validation.jsonl", directory: true))
        cases.append(
            Case(
                label: "broken valid.jsonl",
                files: ["train.jsonl": Array(Self.chat.utf8), "valid.jsonl": Array((Self.chat + "\n{oops\n").utf8)],
                expected: "\(root)/valid.jsonl:2: not valid JSON", directory: true))
        // Templates.
        func template(_ label: String, _ source: String, _ expected: String) {
            cases.append(
                Case(
                    label: label, files: ["data.jsonl": Array((Self.chat + "\n").utf8), "t.jinja": Array(source.utf8)],
                    expected: expected.replacingOccurrences(of: "FILE", with: file),
                    arguments: ["--template", "\(root)/t.jinja"]))
        }
        template(
            "template raises", "{{ raise_exception('roles must alternate') }}",
            "FILE:1: \(root)/t.jinja: the template refused the conversation: roles must alternate")
        template(
            "template unsupported", "{% include 'x' %}",
            "\(root)/t.jinja: the template uses the statement {% include %} (line 1)")
        template("template syntax", "{% if %}", "\(root)/t.jinja: template syntax: line 1: an expression is missing")
        template(
            "template not prefix-stable", "{% for m in messages|reverse %}{{ m.content }}|{% endfor %}",
            "FILE:1: \(root)/t.jinja: renders the conversation up to turn 2 as something other than the beginning of "
                + "the whole conversation"
        )
        template(
            "template undefined attribute", "{{ messages[0].nope.deeper }}",
            "FILE:1: \(root)/t.jinja: template: 'nope' is undefined")
        return cases
    }

    func testEveryBrokenInputIsRefusedWithOneLineAndWritesNothing() throws {
        let model = try Repository.realModel()
        let directory = try TemporaryDirectory()
        let cases = corpus(directory.path("data"))
        XCTAssertGreaterThanOrEqual(cases.count, 40)
        let out = directory.path("out.h5")
        for (index, hostile) in cases.enumerated() {
            let root = directory.path("data")
            try? FileManager.default.removeItem(atPath: root)
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            for (name, bytes) in hostile.files { try Data(bytes).write(to: URL(fileURLWithPath: "\(root)/\(name)")) }
            let input = hostile.directory ? root : "\(root)/data.jsonl"
            let run = try ChildProcess.run(
                ChildProcess.ttlTrainPath,
                ["data", "import", input, "--model", model, "--out", out] + hostile.arguments, timeout: 60)
            let context = "case \(index) '\(hostile.label)'"
            XCTAssertEqual(run.status, 1, "\(context): \(run.stderr)")
            XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, "\(context): \(run.stderr)")
            XCTAssertTrue(
                run.stderr.hasPrefix("Error: \(hostile.expected)"),
                "\(context): expected 'Error: \(hostile.expected)…', got \(run.stderr)")
            XCTAssertEqual(run.stdout, "", context)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(context) wrote \(out)")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path("")).filter {
                $0.hasPrefix("out.h5")
            }
            XCTAssertEqual(leftovers, [], context)
        }
        print("broken JSON Lines inputs: \(cases.count) tried, each refused with one line")
    }
}
