import Foundation
import Llama
import XCTest

/// The imported SmolLM2-135M-Instruct (scripts/setup.sh makes it). scripts/test.sh sets
/// TTL_REQUIRE_ASSETS=1 so that a missing model fails there instead of being skipped.
final class RealModelTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    private func realModel() throws -> ModelFile {
        let path = Self.repository.appendingPathComponent("assets/smollm2-135m-instruct.h5").path
        guard FileManager.default.fileExists(atPath: path) else {
            if ProcessInfo.processInfo.environment["TTL_REQUIRE_ASSETS"] == "1" { XCTFail("\(path) is missing") }
            throw XCTSkip("\(path) is missing: run scripts/setup.sh")
        }
        return try ModelFile(path: path)
    }

    func testConfigAndParameterCount() throws {
        let model = try realModel()
        XCTAssertEqual(model.config, LlamaConfig(
            vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, layerCount: 30, attentionHeads: 9,
            keyValueHeads: 3, headDim: 64, contextLength: 8192, ropeTheta: 100_000,
            rmsNormEpsilon: Double(Float(1e-5)), tiedEmbeddings: true))
        // The tied output projection is the embedding and is counted once.
        XCTAssertEqual(model.config.parameterCount, 134_515_008)
        XCTAssertEqual(model.fingerprint.count, "sha256:".count + 64)
    }
}
