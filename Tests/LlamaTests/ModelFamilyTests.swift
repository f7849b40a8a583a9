import Foundation
import HDF5
import Llama
import TestSupport
import XCTest

/// The families' switches in the model file (format version 4) and what the model refuses:
/// every family round-trips its config, the combinations a family's Hugging Face class cannot
/// hold are refused naming the attribute, Llama 3's frequencies follow its published rule, and a
/// sequence beyond a sliding window is refused rather than computed as another model.
final class ModelFamilyTests: XCTestCase {
    func testEveryFamilyRoundTripsItsConfigAndStampsVersion4() throws {
        let directory = try TemporaryDirectory()
        for (index, config) in LlamaConfig.tinyFamilies.enumerated() {
            let path = directory.path("family-\(index).h5")
            try ModelWriter.writeRandom(to: path, config: config, seed: 3)
            let file = try ModelFile(path: path)
            XCTAssertEqual(file.config, config, config.label)
            XCTAssertEqual(try file.computeFingerprint(), file.fingerprint, config.label)
            let version = try HDF5File.open(path).root.attributes.value("format_version", as: Int64.self)
            XCTAssertEqual(version, config == .tiny ? 1 : 4, config.label)
            let extra = config.weightShapes.count - LlamaConfig.tiny.weightShapes.count
            XCTAssertEqual(
                extra, config.layerCount * (config.biasedSites.count + (config.queryKeyNorm ? 2 : 0)), config.label)
        }
    }

    func testCombinationsAFamilyCannotHoldAreRefusedNamingTheAttribute() throws {
        let directory = try TemporaryDirectory()
        let qwen3 = LlamaConfig.tinyFamilies.first { $0.family == .qwen3 }!
        let cases: [(String, (HDF5Attributes) throws -> Void, String)] = [
            ("qwen2 without biases", { try $0.set("architecture", "qwen2") }, "linear_bias"),
            ("llama with q/k norms", { try $0.set("architecture", "llama") }, "qk_norm"),
            ("q and k biased alone", { try $0.set("linear_bias", "q_proj,k_proj") }, "linear_bias"),
            ("a bias on no layer", { try $0.set("linear_bias", "q_proj,lm_head") }, "linear_bias"),
            ("yarn", { try $0.set("rope_type", "yarn") }, "rope_type"),
            ("llama3 without factors", { try $0.set("rope_type", "llama3") }, "rope_factor"),
            (
                "a factor below 1",
                {
                    try $0.set("rope_type", "linear")
                    try $0.set("rope_factor", 0.5)
                }, "rope_factor"
            ),
            ("a negative window", { try $0.set("sliding_window", Int64(-4)) }, "sliding_window"),
        ]
        for (index, (label, change, key)) in cases.enumerated() {
            let path = directory.path("bad-\(index).h5")
            try ModelWriter.writeRandom(to: path, config: qwen3, seed: 3)
            do {
                let file = try HDF5File.open(path, mode: .readWrite)
                try change(file.root.attributes)
                try file.close()
            }
            XCTAssertThrowsError(try ModelFile(path: path), label) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("'\(key)'"), "\(label): \(text)")
                XCTAssertFalse(text.contains("\n"), label)
            }
        }
        let mistral = directory.path("mistral-gpt.h5")
        try ModelWriter.writeRandom(to: mistral, config: .tiny, seed: 3)
        do {
            let file = try HDF5File.open(mistral, mode: .readWrite)
            try file.root.attributes.set("architecture", "gemma2")
            try file.close()
        }
        XCTAssertThrowsError(try ModelFile(path: mistral)) { error in
            XCTAssertEqual(
                "\(error)",
                "\(mistral): architecture 'gemma2' is not supported (supported: llama, qwen2, qwen3, mistral)")
        }
    }

    /// Llama 3.1's rule with its published numbers (factor 8, low 1, high 4, original context
    /// 8192, θ = 500000, head_dim 128): wavelengths under 2048 keep their frequency, those over
    /// 8192 are divided by 8, and those between lie between the two.
    func testLlama3FrequenciesFollowThePublishedRule() {
        let scaling = RopeScaling.llama3(
            factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 8192)
        let plain = RopeScaling.none.inverseFrequencies(headDim: 128, theta: 500_000)
        let scaled = scaling.inverseFrequencies(headDim: 128, theta: 500_000)
        var bands = (high: 0, middle: 0, low: 0)
        for (frequency, result) in zip(plain, scaled) {
            let wavelength = 2 * Double.pi / frequency
            if wavelength < 2048 {
                XCTAssertEqual(result, frequency)
                bands.high += 1
            } else if wavelength > 8192 {
                XCTAssertEqual(result, frequency / 8, accuracy: 1e-15)
                bands.low += 1
            } else {
                XCTAssertLessThan(result, frequency)
                XCTAssertGreaterThan(result, frequency / 8)
                bands.middle += 1
            }
        }
        XCTAssertEqual(bands.high + bands.middle + bands.low, 64)
        XCTAssertGreaterThan(bands.middle, 0)
        XCTAssertGreaterThan(bands.low, 0)
        XCTAssertGreaterThan(bands.high, 0)
        XCTAssertEqual(
            RopeScaling.linear(factor: 4).inverseFrequencies(headDim: 8, theta: 100),
            RopeScaling.none.inverseFrequencies(headDim: 8, theta: 100).map { $0 / 4 })
    }

    func testASequenceBeyondTheSlidingWindowIsRefusedInTrainingAndDecoding() throws {
        var config = LlamaConfig.tiny
        config.family = .mistral
        config.slidingWindow = 6
        let directory = try TemporaryDirectory()
        try ModelWriter.writeRandom(to: directory.path("m.h5"), config: config, seed: 1)
        let model = LlamaModel(
            weights: try LlamaWeights(file: try ModelFile(path: directory.path("m.h5"))), maxTokens: 16,
            maxSequenceLength: 8, trainable: true)
        try model.forward(TokenBatch(sequences: [[1, 2, 3, 4, 5, 6], [7, 8]]))
        XCTAssertThrowsError(try model.forward(TokenBatch(sequences: [[1, 2], [1, 2, 3, 4, 5, 6, 7]]))) { error in
            XCTAssertEqual(error as? ModelInputError, .beyondSlidingWindow(7, window: 6))
        }
        let cache = KeyValueCache(model: model, capacity: 8)
        _ = try model.decode([1, 2, 3, 4, 5], cache: cache)
        _ = try model.decode([6], cache: cache)
        XCTAssertThrowsError(try model.decode([7], cache: cache)) { error in
            XCTAssertEqual(error as? ModelInputError, .beyondSlidingWindow(7, window: 6))
        }
    }
}
