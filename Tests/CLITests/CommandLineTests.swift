import Foundation
import HDF5
import Llama
import TestSupport
import XCTest

/// Runs the built `ttl-train` binary as a user would and checks what it prints and its exit code.
final class CommandLineTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    private func ttlTrain(_ arguments: String...) throws -> ChildProcess {
        try ChildProcess.ttlTrain(arguments)
    }

    /// A failure must be exactly one line on stderr that names `what`, with a non-zero exit.
    private func assertOneLineFailure(
        _ run: ChildProcess, naming what: String, file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertNotEqual(run.status, 0, file: file, line: line)
        let lines = run.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "stderr: \(run.stderr)", file: file, line: line)
        XCTAssertTrue(run.stderr.contains(what), "stderr: \(run.stderr)", file: file, line: line)
        XCTAssertFalse(run.stderr.contains("Fatal error"), file: file, line: line)
        XCTAssertEqual(run.stdout, "", file: file, line: line)
    }

    func testVersionAndHelp() throws {
        let version = try ttlTrain("--version")
        XCTAssertEqual(version.status, 0)
        XCTAssertEqual(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0.1.0")
        let help = try ttlTrain("--help")
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("info"), help.stdout)
        XCTAssertTrue(help.stdout.contains("mpirun"), help.stdout)
    }

    /// One rule for `--threads` in every command that runs the model, bench included: the
    /// machine's cores ÷ the ranks on it unless given.
    func testBenchTakesTheOneThreadsDefault() throws {
        let path = directory.path("tiny.h5")
        try ModelWriter.writeRandom(to: path, config: .tiny, seed: 3)
        let defaulted = try ttlTrain("bench", "--model", path, "--batch", "1", "--seq", "8", "--seconds", "0.05")
        XCTAssertEqual(defaulted.status, 0, defaulted.stderr)
        XCTAssertEqual(defaulted.keyValues["threads"], "\(ProcessInfo.processInfo.activeProcessorCount)")
        let one = try ttlTrain(
            "bench", "--model", path, "--batch", "1", "--seq", "8", "--seconds", "0.05", "--threads", "1")
        XCTAssertEqual(one.keyValues["threads"], "1")
        assertOneLineFailure(
            try ttlTrain("bench", "--model", path, "--threads", "0"), naming: "--threads must be at least 1")
    }

    func testInfoPrintsConfigParametersAndVerifiedFingerprint() throws {
        let path = directory.path("tiny.h5")
        try ModelWriter.writeRandom(to: path, config: .tiny, seed: 3)
        let run = try ttlTrain("info", "--model", path, "--verify")
        XCTAssertEqual(run.status, 0, run.stderr)
        let values = run.keyValues
        XCTAssertEqual(values["hidden_size"], "64")
        XCTAssertEqual(values["num_key_value_heads"], "2")
        XCTAssertEqual(values["parameters"], "\(LlamaConfig.tiny.parameterCount)")
        XCTAssertEqual(values["fingerprint"], try ModelFile(path: path).fingerprint)
        XCTAssertEqual(values["fingerprint_verified"], "true")
    }

    func testBadModelFilesFailWithOneClearLine() throws {
        let missing = directory.path("absent.h5")
        assertOneLineFailure(try ttlTrain("info", "--model", missing), naming: "\(missing): no such file")

        let text = directory.path("text.h5")
        try "not hdf5".write(toFile: text, atomically: true, encoding: .utf8)
        assertOneLineFailure(try ttlTrain("info", "--model", text), naming: "\(text): not a readable HDF5 file")

        let foreign = directory.path("foreign.h5")
        do { try HDF5File.create(foreign).root.attributes.set("format", "something-else") }
        assertOneLineFailure(try ttlTrain("info", "--model", foreign), naming: "not a ttl-train model file")

        let future = directory.path("future.h5")
        try ModelWriter.writeRandom(to: future, config: .tiny, seed: 3)
        do { try HDF5File.open(future, mode: .readWrite).root.attributes.set("format_version", Int64(9)) }
        assertOneLineFailure(try ttlTrain("info", "--model", future), naming: "model format version 9 is not supported")

        let truncated = directory.path("truncated.h5")
        try ModelWriter.writeRandom(to: truncated, config: .tiny, seed: 3)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: truncated))
        try handle.truncate(atOffset: 40_000)
        try handle.close()
        assertOneLineFailure(try ttlTrain("info", "--model", truncated), naming: "truncated")

        let altered = directory.path("altered.h5")
        try ModelWriter.writeRandom(to: altered, config: .tiny, seed: 3)
        do {
            let norm = try HDF5File.open(altered, mode: .readWrite).root.openDataset("/model/norm/weight")
            try norm.write([Float](repeating: 2, count: 64))
        }
        assertOneLineFailure(try ttlTrain("info", "--model", altered, "--verify"), naming: "the file was altered")
    }

    func testTrainingWithABadJobFailsWithOneLineAndWritesNothing() throws {
        let missing = directory.path("absent.yaml")
        assertOneLineFailure(try ttlTrain(missing), naming: "\(missing): (file): no such file")
        let job = directory.path("job.yaml")
        let text =
            "name: x\nmodel: \(directory.path("none.h5"))\ndata: {path: d.h5}\ntask: classification\nadapter: {kind: "
                + "lora}\noptimizer: {lr: 1.0e-3}\nschedule: {total_steps: 2}\nbatch: {global: 2, micro: 1}\noutput: "
                + "\(directory.path("run"))\n"
        try text.write(toFile: job, atomically: true, encoding: .utf8)
        assertOneLineFailure(try ttlTrain("train", job), naming: "\(job): model: no such file")
        assertOneLineFailure(
            try ttlTrain(job, "--set", "batch.micro=three"),
            naming: "\(job): batch.micro: expected an integer, got 'three'")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.path("run")))
    }

    func testInspectSummarisesACheckpointAndRefusesACorruptOne() throws {
        let job = try TinyJob(directory: directory)
        let spec = directory.path("job.yaml")
        try job.yaml(kind: "tt-lora", steps: 3, output: directory.path("run")).write(
            toFile: spec, atomically: true, encoding: .utf8)
        let train = try ttlTrain(spec)
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("step 3/3  loss "), train.stdout)
        let checkpoint = directory.path("run/checkpoints/step-000003.h5")
        let inspect = try ttlTrain("inspect", checkpoint, "--targets")
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        let values = inspect.keyValues
        XCTAssertEqual(values["step"], "3")
        XCTAssertEqual(values["data_cursor"], "36")
        XCTAssertEqual(values["world_size"], "1")
        XCTAssertEqual(values["job"], "tiny")
        XCTAssertEqual(values["adapter_kind"], "tt-lora")
        XCTAssertEqual(values["optimizer_steps"], "3")
        XCTAssertEqual(values["model_fingerprint"], try ModelFile(path: job.modelPath).fingerprint)
        XCTAssertEqual(
            inspect.stdout.split(separator: "\n").filter { $0.hasPrefix("target layers.") }.count,
            3 * LlamaConfig.tiny.layerCount)

        var bytes = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
        bytes.removeLast(bytes.count / 3)
        try bytes.write(to: URL(fileURLWithPath: checkpoint))
        assertOneLineFailure(try ttlTrain("inspect", checkpoint), naming: checkpoint)
    }

    func testUsageErrorsSayHowToFixTheCall() throws {
        let run = try ttlTrain("info", "--verify")
        XCTAssertNotEqual(run.status, 0)
        XCTAssertTrue(run.stderr.contains("--model"), run.stderr)
    }

    /// A tiny job in a fresh directory (which the job keeps): its spec trains `steps` steps into `run/`.
    private func tinyJob(steps: Int) throws -> (job: TinyJob, output: String, spec: String) {
        let job = try TinyJob(directory: try TemporaryDirectory())
        let output = job.directory.path("run")
        return (job, output, try job.writeSpec(steps: steps, output: output))
    }

    func testTrainingSaysWhatRunsWhereAndHowItEnded() throws {
        let (job, output, spec) = try tinyJob(steps: 4)
        let run = try ChildProcess.ttlTrain(["train", spec, "--threads", "1"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = run.stdout.split(separator: "\n").map(String.init)
        let version = try ChildProcess.ttlTrain(["--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(
            lines[0].hasPrefix(
                "ttl-train \(version): 1 rank on \(ProcessInfo.processInfo.hostName) ×1; 1 thread per rank; BLAS "),
            lines[0])
        XCTAssertFalse(lines[0].contains("Prescott"), lines[0])
        let fingerprint = try ChildProcess.ttlTrain(["info", "--model", job.modelPath]).keyValues["fingerprint"] ?? "?"
        XCTAssertTrue(lines[1].hasPrefix("model \(job.modelPath) (\(fingerprint)): 2 layers, "), lines[1])
        let trainable = try ChildProcess.ttlTrain(["validate", spec]).keyValues["trainable_parameters"] ?? "?"
        XCTAssertTrue(
            lines[2].hasPrefix(
                "adapter lora rank 4 alpha 8.0 on q_proj,v_proj,down_proj, all 2 layers: \(trainable) trainable "
                    + "parameters, "
            ), lines[2])
        XCTAssertEqual(
            lines[3], "job tiny: 4 steps of 12 examples from 40 (classification); output \(output); fresh start")
        let summary = try XCTUnwrap(lines.last)
        XCTAssertTrue(summary.hasPrefix("done: 4 steps (4 this run) in "), summary)
        XCTAssertTrue(
            summary.contains(" tokens/s, ") && summary.contains("final eval loss ") && summary.contains(" accuracy "),
            summary)
        XCTAssertTrue(
            summary.contains("newest checkpoint \(output)/checkpoints/step-000004.h5, peak RSS per rank "), summary)
        XCTAssertTrue(summary.hasSuffix(" MB; files in \(output)"), summary)
    }

    func testAResumeWithAChangedSpecSaysWhatChangedAndRefusesChangedMath() throws {
        let (job, output, spec) = try tinyJob(steps: 2)
        defer { withExtendedLifetime(job) {} }
        XCTAssertEqual(try ChildProcess.ttlTrain(["train", spec]).status, 0)
        let checkpoint = "\(output)/checkpoints/step-000002.h5"
        // Changed math: refused in one line that lists every such change.
        let refused = try ChildProcess.ttlTrain([
            "train", spec, "--resume", "auto", "--set", "schedule.total_steps=4", "--set", "optimizer.lr=0.01",
        ])
        XCTAssertEqual(refused.status, 1)
        XCTAssertEqual(
            refused.stderr,
            "Error: \(checkpoint) was trained with other settings that change the run's math: optimizer.lr 0.05 → "
                + "0.01, "
                + "schedule.total_steps 2 → 4; resume with the checkpoint's settings, or pass --allow-changes to "
                + "continue with these\n"
        )
        // Settings outside the math: reported, accepted.
        let harmless = try ChildProcess.ttlTrain([
            "train", spec, "--resume", "auto", "--set", "eval.every=50", "--set", "checkpoint.keep=2",
        ])
        XCTAssertEqual(harmless.status, 0, harmless.stderr)
        XCTAssertTrue(
            harmless.stdout.contains(
                "changed since the checkpoint: eval.every 100 → 50\nchanged since the checkpoint: checkpoint.keep 5 → "
                    + "2\n"
            ), harmless.stdout)
        // Allowed: reported, continued, and recorded in metrics.h5.
        let allowed = try ChildProcess.ttlTrain([
            "train", spec, "--resume", "auto", "--set", "schedule.total_steps=4", "--allow-changes",
        ])
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        XCTAssertTrue(
            allowed.stdout.contains("changed since the checkpoint: schedule.total_steps 2 → 4 (allowed)"),
            allowed.stdout)
        XCTAssertTrue(allowed.stdout.contains("done: 4 steps (2 this run)"), allowed.stdout)
        XCTAssertEqual(
            try HDF5File.open("\(output)/metrics.h5").root.attributes.strings("spec_changes"),
            ["step 2: schedule.total_steps 2 → 4"])
        // The new checkpoints record the spec they were trained with: resuming them needs no flag.
        let again = try ChildProcess.ttlTrain(["train", spec, "--resume", "auto", "--set", "schedule.total_steps=4"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertFalse(again.stdout.contains("changed since"), again.stdout)
    }

    func testMetricsPrintsTheRunsColumnsAsCSVAndJSON() throws {
        let (job, output, spec) = try tinyJob(steps: 3)
        XCTAssertEqual(try ChildProcess.ttlTrain(["train", spec]).status, 0)
        let csv = try ChildProcess.ttlTrain(["metrics", output])
        XCTAssertEqual(csv.status, 0, csv.stderr)
        let lines = csv.stdout.split(separator: "\n")
        XCTAssertEqual(lines.first, "step,loss,lr,grad_norm,tokens_per_s,seconds,timestamp")
        XCTAssertEqual(lines.dropFirst().map { $0.split(separator: ",").first }, ["1", "2", "3"])
        let eval = try ChildProcess.ttlTrain(["metrics", "\(output)/metrics.h5", "--table", "eval"])
        XCTAssertEqual(eval.stdout.split(separator: "\n").first, "step,loss,accuracy,timestamp")
        let file = directory.path("metrics.json")
        XCTAssertEqual(try ChildProcess.ttlTrain(["metrics", output, "--format", "json", "--out", file]).status, 0)
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any])
        let attributes = try XCTUnwrap(json["attributes"] as? [String: String])
        XCTAssertEqual(attributes["job"], "tiny")
        XCTAssertEqual(attributes["world_size"], "1")
        let train = try XCTUnwrap(json["train"] as? [String: Any])
        let rows = try XCTUnwrap(train["rows"] as? [[String: Any]])
        XCTAssertEqual(rows.map { $0["step"] as? Int }, [1, 2, 3])
        let columns = try XCTUnwrap(train["columns"] as? [[String: String]])
        XCTAssertEqual(columns.first { $0["name"] == "tokens_per_s" }?["units"], "tokens/s")
        let refused = try ChildProcess.ttlTrain(["metrics", job.modelPath])
        XCTAssertEqual(refused.status, 1)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
    }

    func testAnUnknownCommandIsRefusedWithASuggestionNotTakenAsAJob() throws {
        for (arguments, message) in [
            (["trian", "jobs/quickstart.yaml"], "unknown command 'trian' (did you mean 'train'?)"),
            (["summon", "--help"], "unknown command 'summon' (run 'ttl-train --help' for the commands)"),
            (["inspekt", "c.h5"], "unknown command 'inspekt' (did you mean 'inspect'?)"),
            (["valdate"], "unknown command 'valdate' (did you mean 'validate'?)"),
        ] {
            let run = try ChildProcess.ttlTrain(arguments)
            XCTAssertEqual(run.status, 2, "\(arguments)")
            XCTAssertEqual(run.stderr, "Error: \(message)\n")
            XCTAssertEqual(run.stdout, "")
        }
        // A path is still the default command's job spec.
        let missing = try ChildProcess.ttlTrain(["no/such/job.yaml"])
        XCTAssertEqual(missing.stderr, "Error: no/such/job.yaml: (file): no such file\n")
    }
}

/// `ttl-train adapters` on the real SmolLM2 (q_proj + v_proj in all 30 layers).
final class AdaptersCommandTests: XCTestCase {
    private func adapters(_ arguments: [String]) throws -> ChildProcess {
        try ChildProcess.ttlTrain(["adapters", "--model", try Repository.realModel()] + arguments)
    }

    private func total(_ run: ChildProcess) -> Int? {
        run.stdout.split(separator: "\n").first { $0.hasPrefix("total_parameters=") }.flatMap {
            Int($0.dropFirst("total_parameters=".count))
        }
    }

    func testParameterCountsMatchHandComputedValues() throws {
        XCTAssertEqual(total(try adapters(["--adapter", "lora", "--rank", "8"])), 460_800)
        // TT-LoRA r 5: q 576×576 as 8·8·9·9·8·8 → 40+200+225+225+200+40 = 930; v 192×576 as
        // 8·8·9·8·6·4 → 40+200+225+200+150+20 = 835; times 30 layers.
        let tt = try adapters(["--adapter", "tt-lora", "--rank", "5"])
        XCTAssertEqual(total(tt), 30 * (930 + 835))
        XCTAssertTrue(tt.stdout.contains("8·8·9·9·8·8"), tt.stdout)
        XCTAssertTrue(tt.stdout.contains("lora_r8_parameters=460800"), tt.stdout)
        // Sparse LoRA r 8 keeps count − round(s·count) of each A (4,608) and B (4,608 or 1,536).
        for (sparsity, perLayer) in [("0.5", 3 * 2304 + 768), ("0.8", 3 * 922 + 307), ("0.9", 3 * 461 + 154)] {
            XCTAssertEqual(
                total(try adapters(["--adapter", "sparse-lora", "--rank", "8", "--sparsity", sparsity])), 30 * perLayer)
        }
    }

    func testBadSettingsFailWithOneLineNamingTheSetting() throws {
        let cases: [([String], String)] = [
            (["--adapter", "lora", "--rank", "0"], "adapter.rank: must be in 1...4096, got 0"),
            (
                ["--adapter", "tt-lora", "--tt-factors", "576=8x8x8"],
                "adapter.tt.factors.576: [8, 8, 8] multiply to 512, not 576"
            ),
            (["--adapter", "lora", "--targets", "q_proj,qkv"], "adapter.targets: unknown target 'qkv'"),
            (["--adapter", "sparse-lora", "--sparsity", "1"], "adapter.sparsity.final: must be in [0, 1), got 1.0"),
            (["--adapter", "vera"], "--adapter"),
        ]
        for (arguments, message) in cases {
            let run = try adapters(arguments)
            XCTAssertNotEqual(run.status, 0, message)
            XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
            XCTAssertTrue(run.stderr.contains(message), run.stderr)
        }
    }
}

/// `ttl-train eval` on the real model and data.
final class EvalCommandTests: XCTestCase {
    func testZeroShotEvaluationOfTheRealModel() throws {
        _ = try Repository.realModel()
        _ = try Repository.sentimentDataset()
        let run = try ChildProcess.ttlTrain([
            "eval", Repository.path("jobs/sentiment-lora.yaml"), "--zero-shot", "--examples", "8",
            "--set", "model=\(Repository.path("assets/smollm2-135m-instruct.h5"))",
            "--set", "data.path=\(Repository.path("assets/data/sentiment.h5"))",
        ])
        XCTAssertEqual(run.status, 0, run.stderr)
        let values = run.keyValues
        XCTAssertEqual(values["adapters"], "zero-shot (no adapter)")
        XCTAssertEqual(values["split"], "validation")
        XCTAssertEqual(values["examples"], "8")
        let accuracy = try XCTUnwrap(values["accuracy"].flatMap(Double.init))
        XCTAssertTrue((0...1).contains(accuracy))
        XCTAssertEqual(accuracy * 8, (accuracy * 8).rounded(), accuracy: 1e-9)
        XCTAssertGreaterThan(try XCTUnwrap(values["loss"].flatMap(Double.init)), 0)
    }

    func testZeroShotInitialAndCheckpointAreExclusive() throws {
        for flags in [
            ["--zero-shot", "--checkpoint", "c.h5"], ["--initial", "--zero-shot"],
            ["--initial", "--checkpoint", "c.h5"],
        ] {
            let run = try ChildProcess.ttlTrain(["eval", "job.yaml"] + flags)
            XCTAssertNotEqual(run.status, 0)
            XCTAssertTrue(run.stderr.contains("give one of --zero-shot, --initial and --checkpoint"), run.stderr)
        }
    }
}
