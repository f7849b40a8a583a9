import HDF5
import Llama
import TestSupport
import Training
import XCTest

final class TokenDatasetTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    /// A two-class dataset of three examples in the prepare_data.py layout; `change` may break it.
    private func dataset(_ change: (HDF5File) throws -> Void = { _ in }) throws -> String {
        let path = directory.path("data-\(UUID().uuidString).h5")
        let file = try createClassificationDataset(at: path, labelNames: ["negative", "positive"], labelTokenIDs: [7, 9],
                                                   tokenizerFingerprint: "sha256:test")
        try file.root.write("train/tokens", [Int32(1), 5, 6, 9, 1, 4, 7, 1, 2, 3, 9])
        try file.root.write("train/offsets", [Int64(0), 4, 7, 11])
        try file.root.write("train/loss_mask", [UInt8(0), 0, 0, 1, 0, 0, 1, 0, 0, 0, 1])
        try file.root.write("train/labels", [Int32(1), 0, 1])
        try change(file)
        try file.close()
        return path
    }

    private func error(_ path: String) -> String {
        do {
            _ = try TokenDataset(path: path, vocabulary: 16)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    func testReadsExamplesTargetsAndLabels() throws {
        let data = try TokenDataset(path: try dataset(), vocabulary: 16)
        XCTAssertEqual(data.task, "classification")
        XCTAssertEqual(data.labelTokenIDs, [7, 9])
        let train = try data.split("train")
        XCTAssertEqual(train.count, 3)
        XCTAssertEqual(train.tokens(of: 1), [1, 4, 7])
        XCTAssertEqual(train.supervisedPositions(of: 2), [3])
        XCTAssertEqual(train.labels, [1, 0, 1])
        XCTAssertEqual(train.longestExample, 4)
    }

    func testBadFilesNameTheObjectAndTheProblem() throws {
        let path = try dataset()
        XCTAssertThrowsError(try TokenDataset(path: path, vocabulary: 16).split("validation")) { error in
            XCTAssertEqual("\(error)", "\(path):/validation: no such split (the file has train)")
        }
        let future = try dataset { try $0.root.attributes.set("format_version", Int64(2)) }
        XCTAssertEqual(error(future), "\(future): dataset format version 2 is not supported (this ttl-train reads version 1)")
        let offsets = try dataset { file in
            try file.root.remove("train/offsets")
            try file.root.write("train/offsets", [Int64(0), 7, 4, 11])
        }
        XCTAssertEqual(error(offsets), "\(offsets):/train/offsets: must rise strictly from 0 to the token count 11")
        XCTAssertEqual(error(try dataset()), "accepted")
        let token = try dataset { file in
            try file.root.remove("train/tokens")
            try file.root.write("train/tokens", [Int32(1), 5, 6, 9, 1, 4, 7, 1, 2, 16, 9])
        }
        XCTAssertEqual(error(token), "\(token):/train/tokens: token 9 has id 16, outside the vocabulary 0..<16")
        let label = try dataset { try $0.root.attributes.set("label_token_ids", [Int64(7), Int64(99)]) }
        XCTAssertEqual(error(label), "\(label): label token id 99 is outside the vocabulary 0..<16")
        let labels = try dataset { file in
            try file.root.remove("train/labels")
            try file.root.write("train/labels", [Int32(1), 2, 0])
        }
        XCTAssertEqual(error(labels), "\(labels):/train/labels: label 2 of example 1 is not one of the 2 classes")
        let first = try dataset { file in
            try file.root.remove("train/loss_mask")
            try file.root.write("train/loss_mask", [UInt8(0), 0, 0, 1, 1, 0, 1, 0, 0, 0, 1])
        }
        XCTAssertEqual(error(first), "\(first):/train/loss_mask: example 1 supervises its first token, which nothing predicts")
        let foreign = directory.path("foreign.h5")
        try HDF5File.create(foreign).close()
        XCTAssertEqual(error(foreign), "\(foreign): not a ttl-train dataset (format '(none)'; make one with scripts/prepare_data.py)")
    }

    func testTheRealSentimentDataset() throws {
        let data = try TokenDataset(path: try Repository.sentimentDataset(), vocabulary: 49152)
        XCTAssertEqual(data.labelNames, ["negative", "positive"])
        XCTAssertEqual(try data.split("train").count + data.split("validation").count + data.split("test").count, 10_568)
        let train = try data.split("train")
        for example in [0, 100, train.count - 1] {
            let tokens = train.tokens(of: example)
            XCTAssertEqual(train.supervisedPositions(of: example), [tokens.count - 1])
            XCTAssertEqual(tokens.last, data.labelTokenIDs[Int(train.labels[example])])
        }
    }
}

final class ExampleSamplerTests: XCTestCase {
    func testEpochsArePermutationsThatDiffer() {
        let sampler = ExampleSampler(exampleCount: 50, seed: 3)
        XCTAssertEqual(sampler.permutation(epoch: 0).sorted(), Array(0..<50))
        XCTAssertNotEqual(sampler.permutation(epoch: 0), sampler.permutation(epoch: 1))
        XCTAssertEqual(sampler.permutation(epoch: 1), ExampleSampler(exampleCount: 50, seed: 3).permutation(epoch: 1))
        XCTAssertNotEqual(sampler.permutation(epoch: 0), ExampleSampler(exampleCount: 50, seed: 4).permutation(epoch: 0))
    }

    func testAStepHasTheSameExamplesHoweverItIsSplit() {
        let sampler = ExampleSampler(exampleCount: 21, seed: 9)
        for step in 0..<12 {
            let whole = sampler.microBatch(step: step, index: 0, globalBatch: 8, microBatch: 8)
            let halves = (0..<2).flatMap { sampler.microBatch(step: step, index: $0, globalBatch: 8, microBatch: 4) }
            let quarters = (0..<4).flatMap { sampler.microBatch(step: step, index: $0, globalBatch: 8, microBatch: 2) }
            XCTAssertEqual(halves, whole)
            XCTAssertEqual(quarters, whole)
        }
    }

    func testEveryExampleOnceAnEpochAcrossSteps() {
        let sampler = ExampleSampler(exampleCount: 24, seed: 1)
        let firstEpoch = (0..<3).flatMap { sampler.microBatch(step: $0, index: 0, globalBatch: 8, microBatch: 8) }
        XCTAssertEqual(firstEpoch.sorted(), Array(0..<24))
        XCTAssertEqual(sampler.epoch(atStep: 3, globalBatch: 8), 1)
    }
}
