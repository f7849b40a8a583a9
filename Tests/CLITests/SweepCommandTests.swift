import Foundation
import HDF5
import Llama
import TestSupport
import XCTest

/// `ttl-train sweep` on a tiny model: the same results on one rank and spread over two under
/// mpirun, and each row equal to what `compress`, `perplexity` and `eval` measure for that plan.
final class SweepCommandTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var job: TinyJob!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        job = try TinyJob(directory: directory)
    }

    private func values(_ run: ChildProcess, line: UInt = #line) -> [String: String] {
        XCTAssertEqual(run.status, 0, run.stderr, line: line)
        return run.keyValues
    }

    func testSweepRowsMatchTheCommandsAndDoNotDependOnTheRanks() throws {
        let mpirun = try MPIRun.requireLauncher()
        let jobPath = directory.path("job.yaml")
        try job.yaml(steps: 4, output: directory.path("run")).write(toFile: jobPath, atomically: true, encoding: .utf8)
        _ = values(try ChildProcess.ttlTrain(["train", jobPath, "--threads", "1"]))
        let checkpoint = directory.path("run/checkpoints/step-000004.h5")
        let plans = directory.path("plans")
        try FileManager.default.createDirectory(atPath: plans, withIntermediateDirectories: true)
        let planTexts = ["a-attention.yaml": "targets: [{matrices: [q_proj], ranks: [4, 8, 32]}]",
                         "b-mlp.yaml": "targets: [{matrices: [gate_proj, up_proj, down_proj], layers: [1], energy: 0.7}]",
                         "c-both.yaml": "refinements: 1\ntargets: [{matrices: [v_proj], ranks: [2, 6, 12]}, {matrices: [down_proj], ranks: [20, 20]}]"]
        for (name, text) in planTexts { try text.write(toFile: "\(plans)/\(name)", atomically: true, encoding: .utf8) }
        let ids = directory.path("ids.txt")
        try (0..<40).map { "\(($0 * 37 + 11) % 256)" }.joined(separator: " ").write(toFile: ids, atomically: true, encoding: .utf8)
        let arguments = ["sweep", "--model", job.modelPath, "--job", jobPath, "--plans", plans, "--ids", ids, "--checkpoint", checkpoint,
                         "--examples", "8", "--ctx", "16", "--threads", "1"]

        let single = values(try ChildProcess.ttlTrain(arguments + ["--out", directory.path("one.h5")]))
        XCTAssertEqual(single["plans"], "4")
        let spread = try ChildProcess.run(mpirun, MPIRun.arguments(ranks: 2) + [ChildProcess.ttlTrainPath] + arguments + ["--out", directory.path("two.h5")],
                                          environment: MPIRun.cleanEnvironment, timeout: 300)
        XCTAssertEqual(spread.status, 0, spread.stderr)
        let one = try HDF5File.open(directory.path("one.h5")).root
        let two = try HDF5File.open(directory.path("two.h5")).root
        XCTAssertEqual(try one.openDataset("plan").readStrings(), ["dense", "a-attention", "b-mlp", "c-both"])
        XCTAssertEqual(try one.read("parameters", as: Int64.self), try two.read("parameters", as: Int64.self))
        for column in ["perplexity", "zero_shot_accuracy", "adapter_accuracy"] {
            XCTAssertEqual(try one.read(column, as: Double.self), try two.read(column, as: Double.self), column)
        }

        let perplexity = try one.read("perplexity", as: Double.self)
        let zeroShot = try one.read("zero_shot_accuracy", as: Double.self)
        let parameters = try one.read("parameters", as: Int64.self)
        let dense = values(try ChildProcess.ttlTrain(["perplexity", "--model", job.modelPath, "--ids", ids, "--ctx", "16"]))
        XCTAssertEqual(perplexity[0], Double(dense["perplexity"]!)!, accuracy: 1e-5 * perplexity[0])
        let adapted = values(try ChildProcess.ttlTrain(["eval", jobPath, "--checkpoint", checkpoint, "--examples", "8", "--threads", "1"]))
        XCTAssertEqual(try one.read("adapter_accuracy", as: Double.self)[0], Double(adapted["accuracy"]!)!)
        for (row, name) in ["a-attention", "b-mlp", "c-both"].enumerated().map({ ($0.offset + 1, $0.element) }) {
            let compressed = directory.path("\(name).h5")
            _ = values(try ChildProcess.ttlTrain(["compress", "--model", job.modelPath, "--plan", "\(plans)/\(name).yaml", "--out", compressed]))
            XCTAssertEqual(values(try ChildProcess.ttlTrain(["info", "--model", compressed]))["parameters"], "\(parameters[row])", name)
            let measured = values(try ChildProcess.ttlTrain(["perplexity", "--model", compressed, "--ids", ids, "--ctx", "16"]))
            XCTAssertEqual(perplexity[row], Double(measured["perplexity"]!)!, accuracy: 1e-5 * perplexity[row], name)
            let zero = values(try ChildProcess.ttlTrain(["eval", jobPath, "--zero-shot", "--set", "model=\(compressed)", "--examples", "8", "--threads", "1"]))
            XCTAssertEqual(zeroShot[row], Double(zero["accuracy"]!)!, name)
            XCTAssertNotEqual(perplexity[row], perplexity[0], "\(name) changed the model")
        }
    }

    /// `ttl-train sweep` of the tiny job over one plan (its YAML text), 4 held-out ids, into `results`.
    private func sweep(plan text: String, into results: String, _ extra: [String] = []) throws -> ChildProcess {
        let jobPath = directory.path("job.yaml")
        try job.yaml(output: directory.path("run")).write(toFile: jobPath, atomically: true, encoding: .utf8)
        let plan = directory.path("plan.yaml")
        try text.write(toFile: plan, atomically: true, encoding: .utf8)
        let ids = directory.path("ids.txt")
        try "1 2 3 4".write(toFile: ids, atomically: true, encoding: .utf8)
        return try ChildProcess.ttlTrain(["sweep", "--model", job.modelPath, "--job", jobPath, "--plans", plan, "--ids", ids, "--out", results,
                                          "--examples", "4"] + extra)
    }

    func testABadPlanFailsBeforeAnyRankMeasures() throws {
        let run = try sweep(plan: "targets: [{matrices: [q_proj], ranks: [4, 16, 0]}]", into: directory.path("r.h5"))
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
        XCTAssertTrue(run.stderr.contains("\(directory.path("plan.yaml")): targets[0].ranks[2]: rank 0 must be at least 1"), run.stderr)
        XCTAssertEqual(run.stdout, "")
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.path("r.h5")))
    }

    /// Results written by an earlier sweep are not replaced at the end of the next: refused before
    /// any rank measures, unless --force.
    func testAnExistingResultsFileIsRefusedBeforeAnyWork() throws {
        let results = directory.path("r.h5")
        try "an earlier sweep's results".write(toFile: results, atomically: true, encoding: .utf8)
        let plan = "targets: [{matrices: [q_proj], ranks: [2, 4, 8]}]"
        let run = try sweep(plan: plan, into: results)
        XCTAssertNotEqual(run.status, 0)
        XCTAssertEqual(run.stderr, "Error: \(results) exists; choose another --out or pass --force to overwrite it\n")
        XCTAssertEqual(run.stdout, "")
        XCTAssertEqual(try String(contentsOfFile: results, encoding: .utf8), "an earlier sweep's results")
        let forced = try sweep(plan: plan, into: results, ["--force"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertEqual(try HDF5File.open(results).root.openDataset("plan").readStrings(), ["dense", "plan"])
    }
}
