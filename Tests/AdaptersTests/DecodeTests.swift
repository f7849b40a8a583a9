import Adapters
import Foundation
import Llama
import TestSupport
import XCTest

/// `LlamaModel.decode` with a key/value cache against the full forward: for a prompt and then
/// one token at a time, the last position's logits agree (to float rounding: the attention runs
/// over the cache in other shapes) and greedy decoding picks the same token at every step — on
/// a dense and a quantized base, bare and with LoRA and DoRA attached, in every family.
final class DecodeTests: XCTestCase {
    func testCachedDecodingFollowsTheFullForwardStepByStep() throws {
        for config in LlamaConfig.tinyFamilies {
            try checkCachedDecoding(config)
        }
    }

    private func checkCachedDecoding(_ config: LlamaConfig) throws {
        let directory = try TemporaryDirectory()
        let dense = directory.path("tiny.h5"), quantized = directory.path("tiny-q8_0.h5")
        try ModelWriter.writeRandom(to: dense, config: config, seed: 21, scale: 0.3)
        _ = try ModelQuantizer.quantize(model: try ModelFile(path: dense), to: .q8_0, path: quantized)
        for path in [dense, quantized] {
            for kind in [nil, AdapterSpec.Kind.lora, .dora] {
                let label = "\(config.label) \((path as NSString).lastPathComponent) \(kind?.rawValue ?? "bare")"
                let weights = try LlamaWeights(file: try ModelFile(path: path))
                let full = LlamaModel(weights: weights, maxTokens: 40, maxSequenceLength: 40, trainable: false)
                let cached = LlamaModel(weights: weights, maxTokens: 40, maxSequenceLength: 40, trainable: false)
                if let kind {
                    let adapters = AdapterSet(layout: try AdapterLayout(spec: AdapterSpec(kind: kind, rank: 4, alpha: 8, targets: LinearSite.allCases),
                                                                        config: config), maxRows: 40)
                    adapters.initialize(seed: 2, model: full)
                    var random = TestRandom(seed: 6)
                    for entry in adapters.layout.entries {
                        for index in entry.tensor("B").range { adapters.parameters.pointer[index] = 0.3 * random.next() }
                    }
                    full.linearHook = adapters
                    cached.linearHook = adapters
                }
                let cache = KeyValueCache(model: cached, capacity: 40, chunk: 5)
                var tokens: [Int32] = [3, 17, 200, 42, 9, 77, 150, 5, 61, 12, 99, 230]
                var logits = try cached.decode(tokens, cache: cache)
                for step in 0..<12 {
                    try full.forward(TokenBatch(sequences: [tokens]))
                    let expected = full.logits(row: tokens.count - 1)
                    let scale = expected.map(abs).max()!
                    let worst = zip(logits, expected).map { abs($0 - $1) }.max()!
                    XCTAssertLessThan(worst, 1e-4 * scale, "\(label) step \(step)")
                    let next = Int32(expected.indices.max { expected[$0] < expected[$1] }!)
                    XCTAssertEqual(Int32(logits.indices.max { logits[$0] < logits[$1] }!), next, "\(label) step \(step)")
                    tokens.append(next)
                    logits = try cached.decode([next], cache: cache)
                }
                XCTAssertEqual(cache.count, tokens.count)
            }
        }
    }

    func testACacheRefusesMoreThanItHolds() throws {
        let directory = try TemporaryDirectory()
        try ModelWriter.writeRandom(to: directory.path("tiny.h5"), config: .tiny, seed: 1)
        let model = LlamaModel(weights: try LlamaWeights(file: try ModelFile(path: directory.path("tiny.h5"))), maxTokens: 8,
                               maxSequenceLength: 8, trainable: false)
        let cache = KeyValueCache(model: model, capacity: 8)
        _ = try model.decode([1, 2, 3, 4, 5, 6], cache: cache)
        XCTAssertThrowsError(try model.decode([7, 8, 9], cache: cache)) { error in
            XCTAssertEqual(error as? ModelInputError, .sequenceTooLong(9, capacity: 8))
        }
        XCTAssertThrowsError(try model.decode([300], cache: cache))
        cache.reset()
        XCTAssertEqual(try model.decode([1, 2, 3], cache: cache).count, 256)
    }
}
