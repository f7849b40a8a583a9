import Foundation
import Llama
import TestSupport
import XCTest

/// The imported SmolLM2-135M-Instruct (scripts/setup.sh makes it).
final class RealModelTests: XCTestCase {
    func testConfigAndParameterCount() throws {
        let model = try ModelFile(path: try Repository.realModel())
        XCTAssertEqual(model.config, LlamaConfig(
            vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, layerCount: 30, attentionHeads: 9,
            keyValueHeads: 3, headDim: 64, contextLength: 8192, ropeTheta: 100_000,
            rmsNormEpsilon: Double(Float(1e-5)), tiedEmbeddings: true))
        // The tied output projection is the embedding and is counted once.
        XCTAssertEqual(model.config.parameterCount, 134_515_008)
        XCTAssertEqual(model.fingerprint.count, "sha256:".count + 64)
    }
}
