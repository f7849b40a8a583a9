import Foundation
import TestSupport
import XCTest

/// A generated corpus of broken job specs: every key of the format with every kind of bad value
/// (wrong type, out of range, overflow, NaN, infinity, hostile paths), every section replaced or
/// extended with an unknown key, every required key removed, relations broken, YAML syntax errors
/// and alias bombs. Each is run through the command line as a user would; each must be refused
/// within the time bound with exit status 1 and exactly one line on stderr that names the spec
/// file and the key path, and must leave nothing behind.
final class HostileSpecCorpusTests: XCTestCase {
    private struct Case {
        var label: String
        /// The spec text (nil: the valid one with `overrides`).
        var text: String?
        var overrides: [String] = []
        /// What the error line must contain after "Error: SPEC: ".
        var keyPath: String
    }

    private enum Kind {
        case count(minimum: Int), anyInteger, positive, nonNegative, fraction, choice, name, file, output, targets,
            layers, betas
    }

    /// Every key a job spec has, with the kind of value it takes.
    private static let keys: [(String, Kind)] = [
        ("name", .name), ("model", .file), ("data.path", .file), ("data.train_split", .choice),
        ("data.eval_split", .choice),
        ("task", .choice), ("adapter.kind", .choice), ("adapter.rank", .count(minimum: 1)),
        ("adapter.alpha", .positive),
        ("adapter.targets", .targets), ("adapter.layers", .layers), ("adapter.dropout", .fraction),
        ("optimizer.lr", .positive),
        ("optimizer.betas", .betas), ("optimizer.eps", .positive), ("optimizer.weight_decay", .nonNegative),
        ("optimizer.max_grad_norm", .nonNegative), ("schedule.kind", .choice),
        ("schedule.warmup_steps", .count(minimum: 0)),
        ("schedule.total_steps", .count(minimum: 1)), ("batch.global", .count(minimum: 1)),
        ("batch.micro", .count(minimum: 1)),
        ("batch.max_length", .count(minimum: 1)), ("batch.packing", .choice), ("seed", .anyInteger),
        ("reduction", .choice), ("eval.every", .count(minimum: 1)),
        ("eval.examples", .count(minimum: 1)), ("checkpoint.every", .count(minimum: 1)),
        ("checkpoint.keep", .count(minimum: 1)),
        ("output", .output), ("comm.timeout_s", .positive), ("comm.startup_timeout_s", .positive),
    ]

    private static let sections = [
        "data", "adapter", "optimizer", "schedule", "batch", "eval", "checkpoint", "adapter.tt",
        "adapter.sparsity", "adapter.recovery", "compression_aware", "comm",
    ]

    private static func badValues(_ kind: Kind, job: TinyJob) -> [String] {
        let notNumbers = ["abc", "[1, 2]", "{a: 1}", "''", "~", "true"]
        let overflow = [
            "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1000000000000000",
            "0x7fffffffffffffff",
        ]
        let notFinite = [".nan", ".inf", "-.inf", "1e400"]
        switch kind {
        case .count(let minimum): return notNumbers + overflow + ["\(minimum - 1)", "-1", "1.5", "2e0"]
        case .anyInteger: return notNumbers + ["9223372036854775808", "1.5"]
        case .positive: return notNumbers + notFinite + ["0", "-1e-3", "-.inf"]
        case .nonNegative: return notNumbers + notFinite + ["-1", "-1e-300"]
        case .fraction: return notNumbers + notFinite + ["1", "1.5", "-0.1"]
        case .choice: return ["[a]", "{a: 1}", "no-such-choice", "''"]
        case .name:
            return [
                "''", "../../x", "a/b", ".hidden", "'a b'", String(repeating: "n", count: 200), "[a]", "{a: 1}",
                "'x\\u0000y'", "/etc", "\"two\\nlines\"", "\"tab\\there\"",
            ]
        case .file:
            return [
                "''", "/no/such/file.h5", "/proc/self/mem", "/dev/null", "/", "[a]", "{a: 1}", job.directory.path(""),
            ]
        case .output:
            return ["''", "/proc/self", "/proc", "/sys/kernel", "/dev/null", "[a]", "{a: 1}", job.modelPath, "/dev"]
        case .targets: return ["[]", "[q_proj, q_proj]", "[qkv]", "q_proj", "[1]", "[[q_proj]]", "{q_proj: 1}"]
        case .layers: return ["[]", "[-1]", "[99]", "[a]", "[1.5]", "5", "[9223372036854775808]", "[0, 0, 1000000]"]
        case .betas:
            return ["[0.9]", "[1, 0.9]", "[.nan, 0.9]", "[0.9, 0.999, 0.5]", "0.9", "[-0.1, 0.9]", "[0.9, .inf]"]
        }
    }

    private func corpus(job: TinyJob, valid: String) -> [Case] {
        var cases: [Case] = []
        for (key, kind) in Self.keys {
            for value in Self.badValues(kind, job: job) {
                cases.append(
                    Case(
                        label: "\(key)=\(value)", overrides: ["\(key)=\(value)"],
                        keyPath: key == "data.train_split" || key == "data.eval_split" ? "data" : key))
            }
        }
        for section in Self.sections {
            cases.append(
                Case(
                    label: "\(section).bogus", overrides: ["\(section).bogus=1"],
                    keyPath: "\(section).bogus: unknown key"))
            for value in ["7", "[1, 2]", "text"] {
                cases.append(Case(label: "\(section)=\(value)", overrides: ["\(section)=\(value)"], keyPath: section))
            }
        }
        cases.append(Case(label: "top-level bogus", text: valid + "bogus: 1\n", keyPath: "bogus: unknown key"))
        for key in ["name", "model", "data", "task", "adapter", "optimizer", "schedule", "batch"] {
            let text = valid.split(separator: "\n").filter { !$0.hasPrefix("\(key):") }.joined(separator: "\n") + "\n"
            cases.append(Case(label: "missing \(key)", text: text, keyPath: key))
        }
        let replace = { (old: String, new: String) in valid.replacingOccurrences(of: old, with: new) }
        for (label, old, new, keyPath) in [
            ("missing data.path", "data: {path: \(job.dataPath)}", "data: {train_split: train}", "data.path"),
            ("missing adapter.kind", "kind: lora, ", "", "adapter.kind"),
            ("missing optimizer.lr", "lr: 5.0e-2, ", "", "optimizer.lr"),
            ("missing total_steps", ", total_steps: 4", "", "schedule.total_steps"),
            ("missing batch.global", "global: 12, ", "", "batch.global"),
            ("missing batch.micro", "micro: 1, ", "", "batch.micro"),
        ] {
            cases.append(Case(label: label, text: replace(old, new), keyPath: keyPath))
        }
        let relations: [(String, [String], String)] = [
            ("warmup past total", ["schedule.warmup_steps=5"], "schedule.warmup_steps"),
            ("global not a multiple", ["batch.micro=5"], "batch.global"),
            (
                "sparsity on tt-lora", ["adapter.kind=tt-lora", "adapter.sparsity={final: 0.5, end_step: 2}"],
                "adapter.sparsity"
            ),
            ("sparsity on lora", ["adapter.sparsity={final: 0.5, end_step: 2}"], "adapter.sparsity"),
            ("sparse-lora without sparsity", ["adapter.kind=sparse-lora"], "adapter.sparsity"),
            ("recovery without compression_aware", ["adapter.recovery={rank: 2}"], "adapter.recovery"),
            ("dropout on tt-lora", ["adapter.kind=tt-lora", "adapter.dropout=0.1"], "adapter.dropout"),
            (
                "tt factors wrong", ["adapter.kind=tt-lora", "adapter.tt={factors: {64: [4, 4, 3]}}"],
                "adapter.tt.factors.64"
            ),
            (
                "tt factor overflow",
                ["adapter.kind=tt-lora", "adapter.tt={factors: {64: [4294967296, 4294967296, 4]}}"],
                "adapter.tt.factors.64"
            ),
            ("tt rank overflow", ["adapter.kind=tt-lora", "adapter.rank=1000000000000000"], "adapter.rank"),
            ("tt rank max", ["adapter.kind=tt-lora", "adapter.rank=9223372036854775807"], "adapter.rank"),
            (
                "sparsity final 1", ["adapter.kind=sparse-lora", "adapter.sparsity={final: 1.0, end_step: 3}"],
                "adapter.sparsity.final"
            ),
            (
                "sparsity step overflow",
                ["adapter.kind=sparse-lora", "adapter.sparsity={final: 0.5, end_step: 9223372036854775807}"],
                "adapter.sparsity.end_step"
            ),
            ("max_length short", ["batch.max_length=4"], "batch.max_length"),
            ("max_length past context", ["batch.max_length=100000"], "batch.max_length"),
            ("steps at the limit", ["schedule.total_steps=9223372036854775807"], "schedule.total_steps"),
            (
                "compression_aware without checkpoint", ["compression_aware={teacher_model: \(job.modelPath)}"],
                "compression_aware.teacher_checkpoint"
            ),
            (
                "compression_aware with sparse",
                [
                    "adapter.kind=sparse-lora", "adapter.sparsity={final: 0.5, end_step: 2}",
                    "compression_aware={teacher_model: \(job.modelPath), teacher_checkpoint: \(job.modelPath)}",
                ], "compression_aware"
            ),
            ("set without value", ["optimizer.lr"], "--set optimizer.lr"),
            ("set alias bomb", ["seed=" + Self.aliasBomb(inline: true)], "--set seed"),
        ]
        cases += relations.map { Case(label: $0.0, overrides: $0.1, keyPath: $0.2) }
        let documents: [(String, String)] = [
            ("unclosed list", "name: [unclosed\n"), ("bad indentation", "name: a\n  model: b\n c: d\n"),
            ("a list", "- just\n- a list\n"),
            ("a scalar", "just words\n"), ("empty", "\n"), ("only comments", "# nothing\n# here\n"),
            ("tab indentation", "data:\n\tpath: x\n"),
            ("unterminated quote", "name: \"tiny\nmodel: x\n"), ("stray colon", "name: : :\n"),
            ("binary", "\u{1}\u{2}\u{3}\u{FFFE}\n"),
            ("sequence alias bomb", Self.aliasBomb(inline: false)), ("mapping alias bomb", Self.mappingAliasBomb()),
            ("huge document", valid + "# " + String(repeating: "x", count: 1_100_000) + "\n"),
            ("deep nesting", String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n"),
            ("undefined alias", "name: *nothing\n"),
        ]
        cases += documents.map { Case(label: $0.0, text: $0.1, keyPath: "(file)") }
        return cases
    }

    /// Nine levels of nine aliases: 9⁹ ≈ 387 million strings from 10 lines.
    private static func aliasBomb(inline: Bool) -> String {
        var lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
        for (previous, name) in zip("abcdefgh", "bcdefghi") {
            lines.append(
                "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]")
        }
        return inline ? "{" + lines.joined(separator: ", ") + "}" : lines.joined(separator: "\n") + "\n"
    }

    private static func mappingAliasBomb() -> String {
        var lines = ["a: &a {k0: x, k1: x, k2: x, k3: x, k4: x, k5: x, k6: x, k7: x}"]
        for (previous, name) in zip("abcdefgh", "bcdefghi") {
            lines.append("\(name): &\(name) {" + (0..<8).map { "k\($0): *\(previous)" }.joined(separator: ", ") + "}")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func testEveryGeneratedMalformedSpecIsRefusedWithOneLine() throws {
        let directory = try TemporaryDirectory()
        let job = try TinyJob(directory: directory)
        let output = directory.path("run")
        let valid = job.yaml(steps: 4, output: output)
        let cases = corpus(job: job, valid: valid)
        XCTAssertGreaterThanOrEqual(cases.count, 300)
        let spec = directory.path("job.yaml")
        var refused = 0
        for (index, broken) in cases.enumerated() {
            try (broken.text ?? valid).write(toFile: spec, atomically: true, encoding: .utf8)
            // Every tenth case runs as training (which would create the output), the rest as
            // validation (the same reading and checking, faster).
            let command = index % 10 == 0 ? "train" : "validate"
            let run = try ChildProcess.run(
                ChildProcess.ttlTrainPath, [command, spec] + broken.overrides.flatMap { ["--set", $0] }, timeout: 20)
            let context = "case \(index) \(command) '\(broken.label)'"
            XCTAssertFalse(run.timedOut, "\(context): still running after 20 s")
            XCTAssertEqual(run.status, 1, "\(context): \(run.stderr)")
            let lines = run.stderr.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            XCTAssertEqual(lines.count, 1, "\(context): \(run.stderr)")
            XCTAssertTrue(run.stderr.hasPrefix("Error: \(spec): \(broken.keyPath)"), "\(context): \(run.stderr)")
            XCTAssertEqual(run.stdout, "", context)
            XCTAssertFalse(FileManager.default.fileExists(atPath: output), "\(context) wrote \(output)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: "runs/../../x"), context)
            try? FileManager.default.removeItem(atPath: output)
            if run.status == 1, lines.count == 1 { refused += 1 }
        }
        XCTAssertEqual(refused, cases.count)
        print("hostile specs: \(cases.count) tried, \(refused) refused with one line")
    }

    func testSpecPathsThatAreNoSpecFileAreRefusedWithOneLine() throws {
        let directory = try TemporaryDirectory()
        for (path, problem) in [
            ("/dev/zero", "is not a regular file"), ("/dev/urandom", "is not a regular file"), ("/", "is a directory"),
            (directory.path("absent.yaml"), "no such file"), ("/proc/self/mem", "cannot be read (Input/output error)"),
        ] {
            let run = try ChildProcess.run(ChildProcess.ttlTrainPath, ["validate", path], timeout: 20)
            XCTAssertFalse(run.timedOut, path)
            XCTAssertEqual(run.status, 1, path)
            XCTAssertEqual(run.stderr, "Error: \(path): (file): \(problem)\n")
        }
    }
}
