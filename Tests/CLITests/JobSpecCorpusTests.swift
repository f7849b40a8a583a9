import Foundation
import TestSupport
import XCTest

/// A corpus of broken job specs, each run through `ttl-train train` as a user would: every one
/// must fail with one line on stderr naming the spec file and the key path, exit non-zero, print
/// nothing on stdout and write nothing.
final class JobSpecCorpusTests: XCTestCase {
    private struct Case {
        /// How the valid spec is broken: a text replacement, an appended line, or --set overrides.
        var edit: (String) -> String = { $0 }
        var overrides: [String] = []
        /// What the error line must contain after "job.yaml: ".
        var expected: String
    }

    func testEveryMalformedSpecFailsWithOneLineAndWritesNothing() throws {
        let directory = try TemporaryDirectory()
        let job = try TinyJob(directory: directory)
        let output = directory.path("run")
        let valid = job.yaml(steps: 4, output: output)
        let replace = { (old: String, new: String) in
            { (text: String) in text.replacingOccurrences(of: old, with: new) }
        }
        let cases: [Case] = [
            Case(edit: { $0 + "learning_rate: 1\n" }, expected: "learning_rate: unknown key"),
            Case(overrides: ["optimizer.momentum=0.9"], expected: "optimizer.momentum: unknown key"),
            Case(overrides: ["batch.size=4"], expected: "batch.size: unknown key"),
            Case(overrides: ["optimizer.lr=fast"], expected: "optimizer.lr: expected a number, got 'fast'"),
            Case(overrides: ["optimizer.lr=-1"], expected: "optimizer.lr: must be a positive number"),
            Case(overrides: ["optimizer.lr=0"], expected: "optimizer.lr: must be a positive number"),
            Case(overrides: ["optimizer.betas=[0.9]"], expected: "optimizer.betas:"),
            Case(overrides: ["optimizer.weight_decay=-0.1"], expected: "optimizer.weight_decay:"),
            Case(overrides: ["batch.micro=three"], expected: "batch.micro: expected an integer, got 'three'"),
            Case(overrides: ["batch.micro=[2]"], expected: "batch.micro: expected an integer, got a list"),
            Case(overrides: ["batch.global=0"], expected: "batch.global:"),
            Case(overrides: ["batch.micro=5"], expected: "batch.global: 12 is not a multiple of batch.micro 5"),
            Case(
                overrides: ["batch.max_length=4"],
                expected: "batch.max_length: 4 must cover the longest example (12 tokens)"),
            Case(
                overrides: ["batch.max_length=100000"],
                expected: "batch.max_length: 100000 must cover the longest example"),
            Case(overrides: ["schedule.total_steps=0"], expected: "schedule.total_steps:"),
            Case(overrides: ["schedule.kind=exponential"], expected: "schedule.kind: expected one of"),
            Case(
                overrides: ["schedule.warmup_steps=10"],
                expected: "schedule.warmup_steps: must be in 0...total_steps (4), got 10"),
            Case(
                overrides: ["task=regression"], expected: "task: expected one of classification, lm, got 'regression'"),
            Case(overrides: ["task=lm"], expected: "task: 'lm' but"),
            Case(edit: replace("task: classification\n", ""), expected: "task: is required"),
            Case(overrides: ["adapter.kind=vera"], expected: "adapter.kind:"),
            Case(overrides: ["adapter.rank=0"], expected: "adapter.rank: must be in 1...4096, got 0"),
            Case(overrides: ["adapter.rank=1.5"], expected: "adapter.rank: expected an integer"),
            Case(overrides: ["adapter.targets=[q_proj, qkv]"], expected: "adapter.targets: unknown target 'qkv'"),
            Case(overrides: ["adapter.layers=[0, 99]"], expected: "adapter.layers:"),
            Case(overrides: ["adapter.dropout=1.5"], expected: "adapter.dropout:"),
            Case(
                overrides: ["adapter.kind=sparse-lora", "adapter.sparsity={final: 1.0, end_step: 3}"],
                expected: "adapter.sparsity.final: must be in [0, 1), got 1.0"),
            Case(
                overrides: ["adapter.kind=tt-lora", "adapter.tt={factors: {64: [4, 4, 3]}}"],
                expected: "adapter.tt.factors.64: [4, 4, 3] multiply to 48, not 64"),
            Case(overrides: ["adapter.tt.pth=auto"], expected: "adapter.tt.pth: unknown key"),
            Case(
                overrides: ["adapter.recovery={rank: 0}"], expected: "adapter.recovery.rank: must be in 1...4096, got 0"
            ),
            Case(
                overrides: ["adapter.recovery={activation: relu}"],
                expected: "adapter.recovery.activation: expected one of gelu, linear, got 'relu'"),
            Case(
                overrides: ["compression_aware={teacher_model: \(job.modelPath)}"],
                expected: "compression_aware.teacher_checkpoint: is required"),
            Case(
                overrides: [
                    "compression_aware={teacher_model: \(job.modelPath), teacher_checkpoint: "
                        + "\(directory.path("absent.h5"))}"
                ],
                expected: "compression_aware.teacher_checkpoint: no such file"),
            Case(
                overrides: [
                    "compression_aware={teacher_model: \(job.modelPath), teacher_checkpoint: \(job.modelPath)}"
                ],
                expected: "model: '\(job.modelPath)' was not compressed from teacher_model"),
            Case(
                overrides: [
                    "compression_aware={teacher_model: \(job.modelPath), teacher_checkpoint: \(job.modelPath), "
                        + "inherit: maybe}"
                ],
                expected: "compression_aware.inherit: expected true or false, got 'maybe'"),
            Case(
                overrides: ["memory.recompute=sometimes"],
                expected: "memory.recompute: expected true or false, got 'sometimes'"),
            Case(
                overrides: ["memory={spill: true}"], expected: "memory.spill: unknown key (expected one of recompute)"),
            Case(
                overrides: ["comm.timeout_s=0"], expected: "comm.timeout_s: must be seconds in [0.1, 31536000], got 0"),
            Case(
                overrides: ["comm.startup_timeout_s=1e9"],
                expected: "comm.startup_timeout_s: must be seconds in [0.1, 31536000]"),
            Case(
                overrides: ["comm={timeout: 5}"],
                expected: "comm.timeout: unknown key (expected one of timeout_s, startup_timeout_s)"),
            Case(overrides: ["model=\(directory.path("absent.h5"))"], expected: "model: no such file"),
            Case(overrides: ["data.path=\(directory.path("absent.h5"))"], expected: "data.path: no such file"),
            Case(overrides: ["model=\(job.dataPath)"], expected: "model: \(job.dataPath): not a ttl-train model file"),
            Case(
                overrides: ["data.path=\(job.modelPath)"],
                expected: "data.path: \(job.modelPath): not a ttl-train dataset"),
            Case(overrides: ["data.train_split=nope"], expected: "data:"),
            Case(overrides: ["eval.every=0"], expected: "eval.every:"),
            Case(overrides: ["eval.examples=-5"], expected: "eval.examples:"),
            Case(overrides: ["checkpoint.keep=0"], expected: "checkpoint.keep:"),
            Case(overrides: ["seed=abc"], expected: "seed: expected an integer"),
            Case(overrides: ["reduction=approximate"], expected: "reduction: expected one of"),
            Case(overrides: ["output=\(job.modelPath)"], expected: "output: '\(job.modelPath)' is a file"),
            Case(overrides: ["optimizer.lr"], expected: "--set optimizer.lr: expected key.path=value"),
            Case(edit: { _ in "name: [unclosed\n" }, expected: "(file): not valid YAML"),
            Case(edit: { _ in "- just\n- a list\n" }, expected: "(file): expected a mapping of name, model"),
            Case(edit: { _ in "\n" }, expected: "(file): is empty"),
        ]
        XCTAssertGreaterThanOrEqual(cases.count, 30)
        let spec = directory.path("job.yaml")
        for (index, broken) in cases.enumerated() {
            try broken.edit(valid).write(toFile: spec, atomically: true, encoding: .utf8)
            let run = try ChildProcess.ttlTrain(["train", spec] + broken.overrides.flatMap { ["--set", $0] })
            let context = "case \(index) (\(broken.overrides.joined(separator: " ")))"
            XCTAssertNotEqual(run.status, 0, context)
            XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, "\(context): \(run.stderr)")
            XCTAssertTrue(run.stderr.hasPrefix("Error: \(spec): \(broken.expected)"), "\(context): \(run.stderr)")
            XCTAssertEqual(run.stdout, "", context)
            XCTAssertFalse(FileManager.default.fileExists(atPath: output), "\(context) wrote \(output)")
            try? FileManager.default.removeItem(atPath: output)
        }
    }
}
