import Kernels
import Llama
import TestSupport
import XCTest

/// `validate`'s memory estimate against what the model really allocates, in every family (biases,
/// q/k norms of an odd head_dim and their activations counted).
final class MemoryPlanTests: XCTestCase {
    func testThePlanIsWhatTheWeightsAndTheModelAllocate() throws {
        for config in LlamaConfig.tinyFamilies {
            try checkPlan(config)
        }
    }

    private func checkPlan(_ config: LlamaConfig) throws {
        let directory = try TemporaryDirectory()
        let dense = directory.path("dense.h5"), quantized = directory.path("q.h5")
        try ModelWriter.writeRandom(to: dense, config: config, seed: 2)
        _ = try ModelQuantizer.quantize(model: try ModelFile(path: dense), to: .q4_1, path: quantized)
        for path in [dense, quantized] {
            let file = try ModelFile(path: path)
            let plan = MemoryPlan(file: file, maxTokens: 24, maxSequenceLength: 12)
            let weights = try LlamaWeights(file: file)
            XCTAssertEqual(plan.weightBytes, weights.byteCount, "\(config.label) \(path)")
            let stored = LlamaModel(weights: weights, maxTokens: 24, maxSequenceLength: 12, trainable: true)
            let recomputed = LlamaModel(weights: weights, maxTokens: 24, maxSequenceLength: 12, trainable: true, recompute: true)
            XCTAssertEqual(plan.storedActivationBytes - plan.recomputedActivationBytes, stored.activationBytes - recomputed.activationBytes, path)
            XCTAssertGreaterThan(plan.recomputedActivationBytes, recomputed.activationBytes, "the plan adds the output head's buffers")
        }
        XCTAssertEqual(MemoryPlan(file: try ModelFile(path: dense), maxTokens: 24, maxSequenceLength: 12).dequantizationBytes, 0)
        XCTAssertEqual(MemoryPlan(file: try ModelFile(path: quantized), maxTokens: 24, maxSequenceLength: 12).dequantizationBytes,
                       256 * 64 * 4, "the largest tile: the 256-row embedding, whole")
    }
}
