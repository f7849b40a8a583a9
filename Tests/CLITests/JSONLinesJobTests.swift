import Foundation
import TestSupport
import XCTest

/// A job whose `data.path` is a folder of JSON Lines, as a user brings it: `train` imports it
/// once into `OUTPUT/data.h5`, a resume reuses that file, and a resume after the data changed is
/// refused in one line (the run trained on what was imported, not on the new data).
final class JSONLinesJobTests: XCTestCase {
    func testTrainImportsOnceReusesOnResumeAndRefusesChangedData() throws {
        let model = try Repository.realModel()
        let directory = try TemporaryDirectory()
        let data = directory.path("data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let conversation = { (n: Int) in
            #"{"messages": [{"role": "user", "content": "What is \#(n) plus \#(n)?"}, {"role": "assistant", "#
                + #""content": "\#(n) plus \#(n) is \#(2 * n)."}]}"#
        }
        try (1...12).map(conversation).joined(separator: "\n").write(
            toFile: "\(data)/train.jsonl", atomically: true, encoding: .utf8)
        try (20...23).map(conversation).joined(separator: "\n").write(
            toFile: "\(data)/valid.jsonl", atomically: true, encoding: .utf8)
        let output = directory.path("run")
        let job = directory.path("job.yaml")
        try """
        name: jsonl
        model: \(model)
        data: {path: \(data)}
        task: lm
        adapter: {kind: lora, rank: 2, targets: [q_proj]}
        optimizer: {lr: 1.0e-3}
        schedule: {total_steps: 4}
        batch: {global: 4, micro: 2, max_length: 64, packing: true}
        eval: {every: 2, examples: 4}
        checkpoint: {every: 2, keep: 3}
        output: \(output)

        """.write(toFile: job, atomically: true, encoding: .utf8)

        let first = try ChildProcess.ttlTrain(["train", job, "--threads", "1", "--set", "schedule.total_steps=2"])
        XCTAssertEqual(first.status, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("data imported \(data) -> \(output)/data.h5: 16 examples"), first.stdout)
        XCTAssertTrue(first.stdout.contains("data train: 12 examples"), first.stdout)
        let imported = try FileManager.default.attributesOfItem(atPath: "\(output)/data.h5")[.modificationDate] as? Date

        let resumed = try ChildProcess.ttlTrain(["train", job, "--threads", "1", "--resume", "auto", "--allow-changes"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(
            resumed.stdout.contains(
                "data \(data): JSON Lines imported before into \(output)/data.h5 (sources unchanged)"), resumed.stdout)
        XCTAssertTrue(resumed.stdout.contains("done: 4 steps"), resumed.stdout)
        XCTAssertEqual(
            try FileManager.default.attributesOfItem(atPath: "\(output)/data.h5")[.modificationDate] as? Date, imported)

        try (1...13).map(conversation).joined(separator: "\n").write(
            toFile: "\(data)/train.jsonl", atomically: true, encoding: .utf8)
        let changed = try ChildProcess.ttlTrain([
            "train", job, "--threads", "1", "--resume", "auto", "--set", "schedule.total_steps=6", "--allow-changes",
        ])
        XCTAssertEqual(changed.status, 1)
        XCTAssertEqual(changed.stderr.split(separator: "\n").count, 1, changed.stderr)
        XCTAssertTrue(
            changed.stderr.hasPrefix(
                "Error: \(job): data.path: \(data): changed since \(output)/data.h5 was imported from it (train.jsonl "
                    + "sha256:"
            ), changed.stderr)
        XCTAssertTrue(
            changed.stderr.hasSuffix("remove \(output)/data.h5 to import it again, or train into another output\n"),
            changed.stderr)
    }
}
