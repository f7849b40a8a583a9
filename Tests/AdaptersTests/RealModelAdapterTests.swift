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
        adapters.initialize(seed: 7)
        model.linearHook = adapters
        XCTAssertTrue(try logits() == bare)
        adapters.parameters.pointer[adapters.layout.entries[0].tensor("B").offset] = 0.5
        XCTAssertTrue(try logits() != bare, "a nonzero B must change the logits")
    }
}
