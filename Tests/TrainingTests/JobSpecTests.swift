import Adapters
import Distributed
import Foundation
import TestSupport
import Training
import XCTest

final class JobSpecTests: XCTestCase {
    private let minimal = """
        name: t
        model: m.h5
        data: {path: d.h5}
        task: classification
        adapter: {kind: lora, rank: 4, targets: [q_proj]}
        optimizer: {lr: 1.0e-3}
        schedule: {total_steps: 10}
        batch: {global: 8, micro: 2}
        """

    private func error(_ text: String, overrides: [String] = []) -> String {
        do {
            _ = try JobSpec.parse(text, file: "job.yaml", overrides: overrides)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    func testDefaultsAndOverrides() throws {
        let spec = try JobSpec.parse(
            minimal, file: "job.yaml", overrides: ["optimizer.lr=2e-4", "adapter.targets=[q_proj, v_proj]", "seed=7"])
        XCTAssertEqual(spec.optimizer.learningRate, 2e-4)
        XCTAssertEqual(spec.schedule.peak, 2e-4)
        XCTAssertEqual(spec.adapter.targets, [.qProj, .vProj])
        XCTAssertEqual(spec.adapter.alpha, 8, "LoRA's α defaults to 2·rank")
        XCTAssertEqual(spec.seed, 7)
        XCTAssertEqual(spec.schedule.shape, .cosine)
        XCTAssertEqual(spec.reduction, .exact)
        XCTAssertEqual(spec.comm.timeout, CollectiveTimeout(seconds: 600, setting: "comm.timeout_s"))
        XCTAssertEqual(spec.comm.startupTimeout, CollectiveTimeout(seconds: 1800, setting: "comm.startup_timeout_s"))
        XCTAssertEqual(spec.trainSplit, "train")
        XCTAssertEqual(spec.evalSplit, "validation")
        XCTAssertEqual(spec.output, "runs/t")
        XCTAssertEqual(spec.optimizer.adam, AdamW.Settings(beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01))
        XCTAssertTrue(spec.text.contains("0.0002") || spec.text.contains("2e-4"), spec.text)
    }

    func testEveryMistakeNamesItsKeyPath() {
        XCTAssertEqual(
            error(minimal + "\nlearning_rate: 1"),
            "job.yaml: learning_rate: unknown key (expected one of name, model, data, task, adapter, optimizer, "
                + "schedule, batch, seed, reduction, eval, checkpoint, output, compression_aware, memory, comm)"
        )
        XCTAssertEqual(
            error(minimal, overrides: ["optimizer.lr=fast"]), "job.yaml: optimizer.lr: expected a number, got 'fast'")
        XCTAssertEqual(
            error(minimal, overrides: ["batch.micro=[2]"]), "job.yaml: batch.micro: expected an integer, got a list")
        XCTAssertEqual(
            error(minimal.replacingOccurrences(of: "task: classification\n", with: "")), "job.yaml: task: is required")
        XCTAssertEqual(
            error(minimal, overrides: ["task=regression"]),
            "job.yaml: task: expected one of classification, lm, got 'regression'")
        XCTAssertEqual(
            error(minimal, overrides: ["adapter.tt.pth=auto"]),
            "job.yaml: adapter.tt.pth: unknown key (expected one of factors, init, path)")
        XCTAssertEqual(
            error(minimal, overrides: ["batch.global=9"]),
            "job.yaml: batch.global: 9 is not a multiple of batch.micro 2")
        XCTAssertEqual(
            error(minimal, overrides: ["schedule.warmup_steps=11"]),
            "job.yaml: schedule.warmup_steps: must be in 0...total_steps (10), got 11")
        XCTAssertEqual(
            error(minimal, overrides: ["adapter.targets=[q_proj, qkv]"]),
            "job.yaml: adapter.targets: unknown target 'qkv' (expected one of q_proj, k_proj, v_proj, o_proj, "
                + "gate_proj, up_proj, down_proj)"
        )
        XCTAssertEqual(
            error(minimal, overrides: ["optimizer.lr"]), "job.yaml: --set optimizer.lr: expected key.path=value")
        XCTAssertTrue(error("name: [unclosed").hasPrefix("job.yaml: (file): not valid YAML"), error("name: [unclosed"))
    }

    func testAccumulationPerWorldSize() throws {
        let spec = try JobSpec.parse(minimal, file: "job.yaml")
        XCTAssertEqual(try spec.accumulation(worldSize: 1), 4)
        XCTAssertEqual(try spec.accumulation(worldSize: 2), 2)
        XCTAssertEqual(try spec.accumulation(worldSize: 4), 1)
        XCTAssertThrowsError(try spec.accumulation(worldSize: 3)) { error in
            XCTAssertTrue(
                "\(error)".contains(
                    "batch.global: 8 examples per step cannot be split over 3 ranks × batch.micro 2; use a multiple of "
                        + "6"
                ), "\(error)")
        }
    }

    func testShippedJobsResolveAgainstTheRealModelAndData() throws {
        _ = try Repository.realModel()
        _ = try Repository.sentimentDataset()
        let previous = FileManager.default.currentDirectoryPath
        _ = FileManager.default.changeCurrentDirectoryPath(Repository.root.path)
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        let jobs = try FileManager.default.contentsOfDirectory(atPath: "jobs").filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertGreaterThanOrEqual(jobs.count, 3)
        var kinds = Set<AdapterSpec.Kind>()
        for job in jobs {
            var spec = try JobSpec.load(path: "jobs/\(job)")
            if spec.isJSONLinesData {
                // ttl-train imports JSON Lines when a job starts (or is validated): here into a scratch output.
                let output = try TemporaryDirectory().path("run")
                let validated = try ChildProcess.run(
                    ChildProcess.ttlTrainPath, ["validate", "jobs/\(job)", "--set", "output=\(output)"])
                XCTAssertEqual(validated.status, 0, "\(job): \(validated.stderr)")
                XCTAssertEqual(validated.keyValues["train_examples"], "100", job)
                spec = try JobSpec.load(path: "jobs/\(job)", overrides: ["output=\(output)"])
                XCTAssertEqual(try spec.resolve(file: job).train.count, 100, job)
                kinds.insert(spec.adapter.kind)
                continue
            }
            let made = [spec.model] + (spec.compressionAware.map { [$0.teacherCheckpoint] } ?? [])
            if !made.allSatisfy(FileManager.default.fileExists) {
                // The CA-LoRA job's compressed model and teacher come from scripts/calora_results.sh, the scale
                // job's model from scripts/scale.sh; until then each names what is missing.
                XCTAssertThrowsError(try spec.resolve(file: job), job) {
                    XCTAssertTrue("\($0)".contains(": no such file '"), "\($0)")
                }
                continue
            }
            let resolved = try spec.resolve(file: job)
            let trainingExamples = [
                "assets/data/sentiment.h5": 8454, "assets/data/bbc.h5": 1781, "assets/data/chitchat.h5": 3151,
            ]
            XCTAssertEqual(resolved.train.count, trainingExamples[spec.dataPath], job)
            kinds.insert(spec.adapter.kind)
        }
        XCTAssertEqual(kinds, Set(AdapterSpec.Kind.allCases), "a shipped job for every adapter kind")
        let spec = try JobSpec.load(path: "jobs/sentiment-lora.yaml", overrides: ["batch.max_length=40"])
        XCTAssertThrowsError(try spec.resolve(file: "jobs/sentiment-lora.yaml")) { error in
            XCTAssertTrue(
                "\(error)".contains("batch.max_length: 40 must cover the longest example (88 tokens)"), "\(error)")
        }
    }
}
