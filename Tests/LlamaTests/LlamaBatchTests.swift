import Foundation
import Llama
import TestSupport
import XCTest

final class LlamaBatchTests: XCTestCase {
    private var weights: LlamaWeights!

    override func setUpWithError() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("tiny.h5")
        try ModelWriter.writeRandom(to: path, config: .tiny, seed: 5)
        weights = try LlamaWeights(file: try ModelFile(path: path))
    }

    /// Logits of every row of `sequence` when it runs inside `batch`.
    private func logits(of sequence: Int, in batch: TokenBatch, trainable: Bool = false) throws -> [[Float]] {
        let model = LlamaModel(weights: weights, maxTokens: 64, maxSequenceLength: 32, trainable: trainable)
        try model.forward(batch)
        return (0..<batch.length(of: sequence)).map { model.logits(row: batch.row(sequence: sequence, position: $0)) }
    }

    func testASequenceGivesTheSameBitsAloneOrPackedWithOthers() throws {
        let a: [Int32] = [3, 14, 15, 92, 65, 35, 89, 79, 32]
        let b: [Int32] = [27, 18, 28]
        let c: [Int32] = Array(repeating: 200, count: 20)
        let alone = try logits(of: 0, in: TokenBatch(sequences: [a]))
        XCTAssertEqual(try logits(of: 1, in: TokenBatch(sequences: [b, a, c])), alone)
        XCTAssertEqual(try logits(of: 0, in: TokenBatch(sequences: [a, c])), alone)
        XCTAssertEqual(try logits(of: 2, in: TokenBatch(sequences: [c, b, a]), trainable: true), alone)
        XCTAssertNotEqual(try logits(of: 0, in: TokenBatch(sequences: [Array(a.dropFirst())])).last, alone.last)
    }

    func testCrossEntropyEqualsLogSoftmaxOfTheLogits() throws {
        let model = LlamaModel(weights: weights, maxTokens: 16, maxSequenceLength: 16, trainable: false)
        let batch = TokenBatch(sequences: [[1, 2, 3, 4], [9, 8]])
        try model.forward(batch)
        let targets = batch.nextTokenTargets
        XCTAssertEqual(targets, [LossTarget(row: 0, token: 2), LossTarget(row: 1, token: 3), LossTarget(row: 2, token: 4), LossTarget(row: 4, token: 8)])
        var expected = 0.0
        for target in targets {
            let row = model.logits(row: target.row).map(Double.init)
            let peak = row.max()!
            expected += peak + log(row.map { exp($0 - peak) }.reduce(0, +)) - row[Int(target.token)]
        }
        XCTAssertEqual(try model.crossEntropy(targets), expected, accuracy: 1e-4)
    }

    func testBadBatchesAreRefusedWithTheReason() throws {
        let model = LlamaModel(weights: weights, maxTokens: 8, maxSequenceLength: 4, trainable: false)
        XCTAssertThrowsError(try model.forward(TokenBatch(sequences: [[1, 256]]))) { error in
            XCTAssertEqual(error as? ModelInputError, .tokenOutOfRange(256, position: 1, vocabulary: 256))
        }
        XCTAssertThrowsError(try model.forward(TokenBatch(sequences: [[1, -1]]))) { error in
            XCTAssertEqual(error as? ModelInputError, .tokenOutOfRange(-1, position: 1, vocabulary: 256))
        }
        XCTAssertThrowsError(try model.forward(TokenBatch(sequences: [[1, 2, 3, 4, 5]]))) { error in
            XCTAssertEqual(error as? ModelInputError, .sequenceTooLong(5, capacity: 4))
        }
        XCTAssertThrowsError(try model.forward(TokenBatch(sequences: [[1, 2, 3], [1, 2, 3], [1, 2, 3]]))) { error in
            XCTAssertEqual(error as? ModelInputError, .tooManyTokens(9, capacity: 8))
        }
        XCTAssertThrowsError(try model.forward(TokenBatch(sequences: [[]]))) { error in
            XCTAssertEqual(error as? ModelInputError, .emptyBatch)
        }
    }
}
