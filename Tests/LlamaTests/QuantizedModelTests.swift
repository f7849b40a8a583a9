import CKernels
import Foundation
import HDF5
import Kernels
import Llama
import TestSupport
import XCTest

/// GGUF block formats in the model file and the model: blocks decode as documented, quantization
/// stays within a step, and a quantized model computes bit for bit what the float32 model of its
/// decoded values computes — forward, loss, logits and backward, with the output head tiled.
final class QuantizedModelTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    func testBlocksDecodeAsDocumented() {
        // q8_0: d = 0.5 (half 0x3800), q = i − 16.
        let q8 = [0x00, 0x38] + (0..<32).map { UInt8(bitPattern: Int8($0 - 16)) }
        XCTAssertEqual(QuantizationFormat.q8_0.dequantize(q8), (0..<32).map { Float($0 - 16) * 0.5 })
        // q4_0: d = 0.25 (0x3400); byte i = 0x3C: value i = (12 − 8)·d, value i + 16 = (3 − 8)·d.
        let q40: [UInt8] = [0x00, 0x34] + [UInt8](repeating: 0x3C, count: 16)
        XCTAssertEqual(QuantizationFormat.q4_0.dequantize(q40), [Float](repeating: 1, count: 16) + [Float](repeating: -1.25, count: 16))
        // q4_1: d = 0.5, m = −1 (0xBC00): 12·0.5 − 1 and 3·0.5 − 1.
        let q41: [UInt8] = [0x00, 0x38, 0x00, 0xBC] + [UInt8](repeating: 0x3C, count: 16)
        XCTAssertEqual(QuantizationFormat.q4_1.dequantize(q41), [Float](repeating: 5, count: 16) + [Float](repeating: 0.5, count: 16))
        XCTAssertEqual(QuantizationFormat.allCases.map { $0.byteCount(values: 64) }, [68, 36, 40])
    }

    func testQuantizationStaysWithinOneStepOfEveryBlock() {
        var random = TestRandom(seed: 5)
        for scale: Float in [0.01, 1, 500] {  // scales a half represents well (a block below ~1e-5 decodes to 0)
            let values = random.array(32 * 64, scale: scale)
            for format in QuantizationFormat.allCases {
                let decoded = format.dequantize(format.quantize(values))
                for block in 0..<64 {
                    let slice = values[(block * 32)..<(block * 32 + 32)]
                    let (low, high) = (slice.min()!, slice.max()!)
                    let amax = max(-low, high)
                    let step = format == .q8_0 ? amax / 127 : format == .q4_0 ? amax / 8 : (high - low) / 15
                    for index in slice.indices {
                        XCTAssertLessThanOrEqual(abs(decoded[index] - values[index]), step * 1.01, "\(format) block \(block), scale \(scale)")
                    }
                }
            }
        }
    }

    /// Each storage a layer weight can have, over the sites.
    private static func format(of name: String) -> QuantizationFormat? {
        if name.hasSuffix("embed_tokens.weight") || name.hasPrefix("lm_head") { return .q8_0 }
        if name.contains("self_attn") { return .q4_1 }
        if name.contains("gate_proj") || name.contains("down_proj") { return .q4_0 }
        return nil  // up_proj and the norms stay float32
    }

    /// A quantized model and the float32 model of its decoded values, from one random model.
    private func pair(tied: Bool) throws -> (quantized: ModelFile, dense: ModelFile) {
        // 40,000 × 64 embedding values exceed one dequantization tile: the head runs in 3 tiles.
        var config = LlamaConfig.tiny
        config = LlamaConfig(vocabSize: 40_000, hiddenSize: config.hiddenSize, intermediateSize: config.intermediateSize,
                             layerCount: config.layerCount, attentionHeads: config.attentionHeads, keyValueHeads: config.keyValueHeads,
                             headDim: config.headDim, contextLength: config.contextLength, ropeTheta: config.ropeTheta,
                             rmsNormEpsilon: config.rmsNormEpsilon, tiedEmbeddings: tied)
        let source = directory.path("source-\(tied).h5"), quantizedPath = directory.path("q-\(tied).h5"), densePath = directory.path("f-\(tied).h5")
        try ModelWriter.writeRandom(to: source, config: config, seed: 9, scale: 0.2)
        let original = try ModelFile(path: source)
        try ModelWriter.write(to: quantizedPath, config: config, source: "test") { name, _ in
            let values = try original.read(name)
            guard let format = Self.format(of: name) else { return .values(values) }
            return .blocks(format, format.quantize(values))
        }
        let quantized = try ModelFile(path: quantizedPath)
        try ModelWriter.write(to: densePath, config: config, source: "test") { name, _ in try quantized.read(name) }
        return (quantized, try ModelFile(path: densePath))
    }

    /// One token's product straight from the blocks (`QuantizedMatrix.matrixVector`, generation)
    /// against the dequantized matrix times x in Double, on every kernel path.
    func testMatrixVectorFromBlocksEqualsTheDecodedProduct() {
        var random = TestRandom(seed: 12)
        let (rows, columns) = (300, 96)
        let x = random.array(columns)
        KernelPaths.each { path in
            for format in QuantizationFormat.allCases {
                let blocks = format.quantize(random.array(rows * columns))
                let decoded = format.dequantize(blocks)
                let storage = ByteBuffer(blocks)
                let matrix = QuantizedMatrix(format: format, offset: 0, rows: rows, columns: columns)
                var y = [Float](repeating: .nan, count: rows)
                x.withUnsafeBufferPointer { input in
                    y.withUnsafeMutableBufferPointer { matrix.matrixVector(input.baseAddress!, from: storage, into: $0.baseAddress!) }
                }
                for row in 0..<rows {
                    let expected = (0..<columns).reduce(0.0) { $0 + Double(decoded[row * columns + $1]) * Double(x[$1]) }
                    XCTAssertEqual(Double(y[row]), expected, accuracy: 1e-5 * max(1, abs(expected)), "\(format) row \(row), \(path)")
                }
            }
        }
    }

    func testAQuantizedModelComputesTheBitsOfItsDecodedValues() throws {
        for tied in [true, false] {
            let (quantizedFile, denseFile) = try pair(tied: tied)
            XCTAssertEqual(quantizedFile.fingerprint, denseFile.fingerprint, "the fingerprint covers the decoded values")
            XCTAssertEqual(quantizedFile.storageCounts.map(\.storage), tied ? ["f32", "q8_0", "q4_0", "q4_1"] : ["f32", "q8_0", "q4_0", "q4_1"])
            let quantizedWeights = try LlamaWeights(file: quantizedFile), denseWeights = try LlamaWeights(file: denseFile)
            XCTAssertLessThan(quantizedWeights.byteCount * 3, denseWeights.byteCount)
            let batch = TokenBatch(sequences: [[5, 39_999, 200, 3, 17_000, 42, 7], [1, 25_000, 8, 8, 64]])
            var results: [([Float], [Float], Double, [Float], [Float])] = []
            for weights in [quantizedWeights, denseWeights] {
                let model = LlamaModel(weights: weights, maxTokens: 16, maxSequenceLength: 8, trainable: true)
                try model.forward(batch)
                let loss = try model.crossEntropy(batch.nextTokenTargets, gradientScale: 0.5)
                model.addLogitGradient((0..<40_000).map { Float($0 % 7) * 1e-4 }, rows: [3])
                model.backward()
                results.append((model.logits(rows: 0..<batch.count), model.logits(row: 4, tokens: [0, 39_999, 12_345]), loss,
                                model.inputEmbeddingGradient(), model.finalHidden(rows: [0, 11])))
            }
            let (q, f) = (results[0], results[1])
            XCTAssertEqual(q.0.map(\.bitPattern), f.0.map(\.bitPattern), "logits, tied \(tied)")
            XCTAssertEqual(q.1.map(\.bitPattern), f.1.map(\.bitPattern), "answer-token logits, tied \(tied)")
            XCTAssertEqual(q.2.bitPattern, f.2.bitPattern, "loss, tied \(tied)")
            XCTAssertEqual(q.3.map(\.bitPattern), f.3.map(\.bitPattern), "input gradient, tied \(tied)")
            XCTAssertEqual(q.4.map(\.bitPattern), f.4.map(\.bitPattern), "hidden states, tied \(tied)")
            XCTAssertTrue(q.3.contains { $0 != 0 })
        }
    }

    func testBrokenQuantizedWeightsAreRefusedWithTheReason() throws {
        let (quantizedFile, _) = try pair(tied: true)
        let name = "model.layers.0.self_attn.q_proj.weight", path = "/model/layers/0/self_attn/q_proj/weight"
        func altered(_ label: String, _ change: (HDF5Group) throws -> Void) throws -> String {
            let copy = directory.path("\(label).h5")
            try FileManager.default.copyItem(atPath: quantizedFile.path, toPath: copy)
            let file = try HDF5File.open(copy, mode: .readWrite)
            try change(file.root)
            try file.close()
            return copy
        }
        func reason(_ path: String) -> String {
            do {
                _ = try ModelFile(path: path)
                return "opened"
            } catch {
                return "\(error)"
            }
        }
        let unknown = try altered("unknown") { try $0.openDataset(path).attributes.set("quantization", "q5_k") }
        XCTAssertEqual(reason(unknown), "\(unknown): the quantized weight '\(name)': format 'q5_k' is not one of q8_0, q4_0, q4_1")
        let reshaped = try altered("reshaped") { try $0.openDataset(path).attributes.set("shape", [Int64(64), 96]) }
        XCTAssertEqual(reason(reshaped), "\(reshaped): weight '\(name)' has shape [64, 96], the config implies [64, 64]")
        let retyped = try altered("retyped") { try $0.openDataset(path).attributes.set("quantization", "q8_0") }
        XCTAssertEqual(reason(retyped), "\(retyped): the quantized weight '\(name)': q8_0 blocks of [64, 64] are uint8 [64, 68], found uint8 [64, 40]")
        let shapeless = try altered("shapeless") { try $0.openDataset(path).attributes.remove("shape") }
        XCTAssertEqual(reason(shapeless), "\(shapeless): the quantized weight '\(name)': attribute 'shape' is missing")
        let old = try altered("old") { try $0.attributes.set("format_version", Int64(2)) }
        XCTAssertEqual(reason(old), "\(old): weight 'model.embed_tokens.weight' has shape [40000, 68], the config implies [40000, 64]")
        let norm = try altered("norm") { root in
            try root.openDataset("/model/norm/weight").attributes.set("quantization", "q8_0")
            try root.openDataset("/model/norm/weight").attributes.set("shape", [Int64(64)])
        }
        XCTAssertEqual(reason(norm), "\(norm): the quantized weight 'model.norm.weight': only matrices with whole blocks of 32 values per row can be quantized, not [64]")
    }
}
