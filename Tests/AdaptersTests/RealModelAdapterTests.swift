import Adapters
import Llama
import TestSupport
import XCTest

/// Adapters on the real SmolLM2-135M-Instruct.
final class RealModelAdapterTests: XCTestCase {
    func testLoRAWithZeroBLeavesTheRealModelsLogitsBitForBitUnchanged() throws {
        let file = try ModelFile(path: try Repository.realModel())
        let model = LlamaModel(weights: try LlamaWeights(file: file), maxTokens: 16, maxSequenceLength: 16, trainable: false)
        let batch = TokenBatch(sequences: [[1, 504, 3603, 9225, 198, 2, 7268], [1, 8113, 30]])
        func logits() throws -> [[Float]] {
            try model.forward(batch)
            return (0..<batch.count).map { model.logits(row: $0) }
        }
        let bare = try logits()
        let adapters = AdapterSet(layout: try AdapterLayout(spec: AdapterSpec(kind: .lora, rank: 8, alpha: 16, targets: [.qProj, .vProj]),
                                                            config: file.config), maxRows: 16)
        adapters.initialize(seed: 7, model: model)
        model.linearHook = adapters
        XCTAssertTrue(try logits() == bare)
        adapters.parameters.pointer[adapters.layout.entries[0].tensor("B").offset] = 0.5
        XCTAssertTrue(try logits() != bare, "a nonzero B must change the logits")
    }

    /// The import that keeps the GGUF's Q4_1/Q8_0 blocks computes, bit for bit, what the float32
    /// import of the same file computes: logits, loss, adapter and input gradients — so every
    /// parity and world-size result of the float32 base holds for the quantized one.
    func testTheQuantizedImportTrainsWithTheFloat32ImportsBits() throws {
        let batch = TokenBatch(sequences: [[1, 504, 3603, 9225, 198, 2, 7268], [1, 8113, 30, 42, 17]])
        var results: [(logits: [Float], loss: Double, gradients: [Float], input: [Float])] = []
        var weightBytes: [Int] = []
        for path in [try Repository.realModel(), try Repository.realQuantizedModel()] {
            let file = try ModelFile(path: path)
            let weights = try LlamaWeights(file: file)
            weightBytes.append(weights.byteCount)
            let model = LlamaModel(weights: weights, maxTokens: 16, maxSequenceLength: 16, trainable: true)
            let spec = AdapterSpec(kind: .lora, rank: 4, alpha: 8, targets: [.qProj, .vProj, .downProj])
            let adapters = AdapterSet(layout: try AdapterLayout(spec: spec, config: file.config), maxRows: 16)
            adapters.initialize(seed: 3, model: model)
            for entry in adapters.layout.entries {  // a nonzero B, so every tensor gets a gradient
                let b = entry.tensor("B")
                for index in 0..<b.count { adapters.parameters.pointer[b.offset + index] = Float(index % 5) * 0.01 }
            }
            model.linearHook = adapters
            try model.forward(batch)
            let loss = try model.crossEntropy(batch.nextTokenTargets, gradientScale: 1)
            adapters.zeroGradients()
            model.backward()
            results.append((model.logits(rows: 0..<batch.count), loss, adapters.gradients.array(), model.inputEmbeddingGradient()))
        }
        let (dense, quantized) = (results[0], results[1])
        XCTAssertEqual(dense.logits.map(\.bitPattern), quantized.logits.map(\.bitPattern))
        XCTAssertEqual(dense.loss.bitPattern, quantized.loss.bitPattern)
        XCTAssertEqual(dense.gradients.map(\.bitPattern), quantized.gradients.map(\.bitPattern))
        XCTAssertEqual(dense.input.map(\.bitPattern), quantized.input.map(\.bitPattern))
        XCTAssertTrue(dense.gradients.contains { $0 != 0 })
        XCTAssertLessThanOrEqual(weightBytes[1], 100_000_000, "the quantized base's weights take at most 100 MB")
        XCTAssertGreaterThan(weightBytes[0], 5 * weightBytes[1])
    }
}
