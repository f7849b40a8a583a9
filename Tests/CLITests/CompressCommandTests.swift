import Foundation
import Llama
import TestSupport
import XCTest

/// `ttl-train compress` as a user runs it: the report, the file other commands then read, and
/// one-line refusals of bad plans that leave nothing behind.
final class CompressCommandTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var model: String!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        model = directory.path("tiny.h5")
        try ModelWriter.writeRandom(to: model, config: .tiny, seed: 3)
    }

    private func plan(_ text: String) throws -> String {
        let path = directory.path("plan-\(UUID().uuidString).yaml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testCompressReportsSizesAndWritesAModelThatInfoAndPerplexityRead() throws {
        let out = directory.path("compressed.h5")
        // Through a symbolic link, as assets often are: the size reported is the model file's.
        let link = directory.path("linked-model.h5")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: model)
        let run = try ChildProcess.ttlTrain(["compress", "--model", link, "--plan",
                                             try plan("targets: [{matrices: [q_proj, v_proj], ranks: [2, 8, 16]}]"),
                                             "--out", out])
        XCTAssertEqual(run.status, 0, run.stderr)
        let values = run.keyValues
        XCTAssertEqual(values["factored_weights"], "4")
        // q_proj (64×64 as 4×16×64 at ranks 2, 8, 16) and v_proj (32×64 as 2×16×64, same ranks), 2 layers.
        let factored = (2 * 8 * 16 + 4 * 2 + 16 * 8 + 64 * 16) + (2 * 8 * 16 + 2 * 2 + 16 * 8 + 64 * 16)
        XCTAssertEqual(Int(values["parameters_before"]!)! - Int(values["parameters_after"]!)!, 2 * (64 * 64 + 32 * 64 - factored))
        XCTAssertNotNil(values["file_bytes_after"].flatMap { Int($0) })
        let modelBytes = (try FileManager.default.attributesOfItem(atPath: model)[.size] as? NSNumber)?.intValue
        XCTAssertEqual(values["file_bytes_before"].flatMap { Int($0) }, modelBytes)
        let info = try ChildProcess.ttlTrain(["info", "--model", out, "--verify"])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertEqual(info.keyValues["factored_weights"], "4")
        XCTAssertEqual(info.keyValues["compressed_from"], try ModelFile(path: model).fingerprint)
        XCTAssertEqual(info.keyValues["fingerprint_verified"], "true")
        let ids = directory.path("ids.txt")
        try "5 17 200 3 99 42 7 1 250 8".write(toFile: ids, atomically: true, encoding: .utf8)
        let perplexity = try ChildProcess.ttlTrain(["perplexity", "--model", out, "--ids", ids])
        XCTAssertEqual(perplexity.status, 0, perplexity.stderr)
        XCTAssertTrue(Double(perplexity.keyValues["perplexity"] ?? "")?.isFinite == true, perplexity.stdout)

        let again = try ChildProcess.ttlTrain(["compress", "--model", model, "--plan", try plan("targets: [{matrices: [q_proj], energy: 0.5}]"), "--out", out])
        XCTAssertNotEqual(again.status, 0)
        XCTAssertTrue(again.stderr.contains("--force"), again.stderr)
    }

    func testBadPlansFailWithOneLineBeforeWritingAnything() throws {
        let cases = [
            ("targets: [{matrices: [q_proj], ranks: [4, 16, 65]}]", "targets[0].ranks[2]: rank 65 exceeds 64"),
            ("targets: [{matrices: [q_proj], layers: [7], energy: 0.9}]", "targets[0].layers[0]: layer 7 does not exist"),
            ("targets: [{matrices: [down_proj], ranks: [0, 3]}]", "targets[0].ranks[0]: rank 0 must be at least 1"),
        ]
        for (text, expected) in cases {
            let out = directory.path("never.h5")
            let path = try plan(text)
            let run = try ChildProcess.ttlTrain(["compress", "--model", model, "--plan", path, "--out", out])
            XCTAssertNotEqual(run.status, 0)
            XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
            XCTAssertTrue(run.stderr.contains("\(path): \(expected)"), run.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".tmp"))
        }
    }
}
