import Foundation
import HDF5
import Kernels
import Llama
import TestSupport
import XCTest

final class ModelFileTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    private func tinyModel(_ name: String = "tiny.h5", seed: UInt64 = 1) throws -> String {
        let path = directory.path(name)
        try ModelWriter.writeRandom(to: path, config: .tiny, seed: seed)
        return path
    }

    private func modelError(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> ModelFileError? {
        do {
            _ = try ModelFile(path: path)
            XCTFail("expected the model file to be refused", file: file, line: line)
        } catch let error as ModelFileError {
            return error
        } catch {
            XCTFail("expected a ModelFileError, got \(error)", file: file, line: line)
        }
        return nil
    }

    func testTinyRandomModelRoundTrips() throws {
        let path = try tinyModel()
        let model = try ModelFile(path: path)
        XCTAssertEqual(model.config, .tiny)
        XCTAssertEqual(model.source, "random (seed 1)")
        XCTAssertTrue(model.fingerprint.hasPrefix("sha256:"))
        XCTAssertEqual(try model.computeFingerprint(), model.fingerprint)
        // 256·64 embedding (tied) + 2 layers of (q 64·64, k/v 2·32·64, o 64·64, 3 MLP 160·64, 2 norms) + final norm
        XCTAssertEqual(LlamaConfig.tiny.parameterCount, 256 * 64 + 2 * (2 * 4096 + 2 * 2048 + 3 * 10240 + 128) + 64)
        XCTAssertEqual(try model.weight("model.layers.1.self_attn.k_proj.weight").shape(), [32, 64])
        let norm = try model.read("model.norm.weight")
        XCTAssertTrue(norm.allSatisfy { $0 >= 0.9 && $0 < 1.1 })
    }

    func testSameSeedSameFingerprintOtherSeedOther() throws {
        let first = try ModelFile(path: try tinyModel("a.h5", seed: 7)).fingerprint
        let again = try ModelFile(path: try tinyModel("b.h5", seed: 7)).fingerprint
        let other = try ModelFile(path: try tinyModel("c.h5", seed: 8)).fingerprint
        XCTAssertEqual(first, again)
        XCTAssertNotEqual(first, other)
    }

    func testAlteredWeightsNoLongerMatchTheFingerprint() throws {
        let path = try tinyModel()
        do {
            let file = try HDF5File.open(path, mode: .readWrite)
            let norm = try file.root.openDataset("/model/norm/weight")
            var values = try norm.read(as: Float.self)
            values[3] += 1
            try norm.write(values)
        }
        let model = try ModelFile(path: path)
        XCTAssertNotEqual(try model.computeFingerprint(), model.fingerprint)
    }

    func testForeignFormatVersionArchitectureAndShapesAreRefused() throws {
        let foreign = directory.path("foreign.h5")
        do { try HDF5File.create(foreign).root.write("x", [Float(1)]) }
        XCTAssertEqual(modelError(foreign), .wrongFormat(file: foreign, found: "(none)"))

        func altered(_ name: String, _ change: (HDF5File) throws -> Void) throws -> String {
            let path = try tinyModel(name)
            let file = try HDF5File.open(path, mode: .readWrite)
            try change(file)
            try file.close()
            return path
        }
        let future = try altered("future.h5") { try $0.root.attributes.set("format_version", Int64(5)) }
        XCTAssertEqual(modelError(future), .unsupportedVersion(file: future, found: 5))
        let gpt = try altered("gpt.h5") { try $0.root.attributes.set("architecture", "gpt2") }
        XCTAssertEqual(modelError(gpt), .unsupportedArchitecture(file: gpt, found: "gpt2"))
        let noHeads = try altered("noheads.h5") { try $0.root.attributes.remove("num_key_value_heads") }
        XCTAssertEqual(modelError(noHeads), .missingConfig(file: noHeads, key: "num_key_value_heads"))
        let badHeads = try altered("badheads.h5") { try $0.root.attributes.set("num_key_value_heads", Int64(3)) }
        guard case .invalidConfig(_, "num_key_value_heads", _) = modelError(badHeads) else { return XCTFail() }
        let missing = try altered("missing.h5") { try $0.root.remove("/model/layers/1/mlp/up_proj/weight") }
        XCTAssertEqual(modelError(missing), .missingTensor(file: missing, name: "model.layers.1.mlp.up_proj.weight"))
        let reshaped = try altered("reshaped.h5") { file in
            try file.root.remove("/model/norm/weight")
            try file.root.write("/model/norm/weight", [Float](repeating: 1, count: 65))
        }
        XCTAssertEqual(
            modelError(reshaped),
            .wrongTensorShape(file: reshaped, name: "model.norm.weight", expected: [64], found: [65]))
        for error in [modelError(future), modelError(missing)] {
            XCTAssertFalse(error.map { "\($0)" }?.contains("\n") ?? true)
        }
    }

    /// A NaN or infinity in a dense weight, or a non-finite half scale or minimum in one block of
    /// a quantized weight, is refused where it is read, naming the weight — never a quiet
    /// `perplexity=nan` or an empty generation.
    func testNonFiniteWeightsAreRefusedWhereTheyAreRead() throws {
        let config = LlamaConfig.tiny
        for (format, damaged, field) in [
            (nil, Float.nan, ""), (nil, Float.infinity, ""), (QuantizationFormat.q8_0, 0, "scale d"),
            (.q4_0, 0, "scale d"), (.q4_1, 0, "minimum m"),
        ] as [(QuantizationFormat?, Float, String)] {
            let path = directory.path("damaged-\(format?.rawValue ?? "f32")-\(damaged).h5")
            let weight = "model.layers.1.self_attn.v_proj.weight"
            let source = try ModelFile(path: try tinyModel())
            try ModelWriter.write(to: path, config: config, source: "test") { name, _ in
                var values = try source.read(name)
                guard name == weight else { return .values(values) }
                guard let format else {
                    values[5] = damaged
                    return .values(values)
                }
                var blocks = format.quantize(values)
                // Block 3's half: d at bytes 0-1, q4_1's m at bytes 2-3; 0x7E00 is a half NaN.
                let at = 3 * format.blockBytes + (field == "minimum m" ? 2 : 0)
                (blocks[at], blocks[at + 1]) = (0x00, 0x7E)
                return .blocks(format, blocks)
            }
            let model = try ModelFile(path: path)
            XCTAssertThrowsError(try model.read(weight)) { error in
                let detail = format == nil ? "value 5 is \(damaged)" : "block 3's \(field) is not a finite half"
                XCTAssertEqual(
                    "\(error)",
                    "\(path): weight '\(weight)' holds a NaN or infinity (\(detail)); re-import or re-quantize the "
                        + "model"
                )
            }
            XCTAssertThrowsError(try LlamaWeights(file: model), format?.rawValue ?? "f32")
        }
    }
}
