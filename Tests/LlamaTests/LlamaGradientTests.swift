import Foundation
import Llama
import TestSupport
import XCTest

/// The model's backward against finite differences on a tiny random llama (2 layers, hidden 64,
/// 4 query heads over 2 KV heads) in every family (`LlamaConfig.tinyFamilies`: scaled RoPE,
/// biases, q/k norms), through the whole network: loss → input embeddings, and loss → an additive
/// perturbation at each kind of linear layer's output.
///
/// The model computes in Float. Checking one coordinate at a time would drown the difference in
/// Float rounding, so each check is a directional derivative `(L(x + h·u) − L(x − h·u)) / 2h`
/// against `⟨∇L, u⟩`, along `u = ∇L/rms(∇L) + r` with `r` uniform in ±1: the gradient part makes
/// the derivative large (≈ n·rms(∇L)) so the Float rounding of the loss (~5e-6 absolute, ÷2h) is
/// far below 1e-3 of it, and the random part keeps the check sensitive to errors orthogonal to
/// the computed gradient. With h = 1e-4 the step moves the perturbed tensor by ~0.1 % of its
/// norm, so the O(h²) truncation error stays ~1e-5 relative.
final class LlamaGradientTests: XCTestCase {
    static let step: Float = 1e-4
    private var model: LlamaModel!
    private let batch = TokenBatch(sequences: [[5, 17, 200, 3, 99, 42, 7], [1, 250, 8, 8, 64]])

    private func makeModel(_ config: LlamaConfig) throws -> LlamaModel {
        let directory = try TemporaryDirectory()
        let path = directory.path("tiny.h5")
        try ModelWriter.writeRandom(to: path, config: config, seed: 21, scale: 0.15)
        return LlamaModel(
            weights: try LlamaWeights(file: try ModelFile(path: path)), maxTokens: 16, maxSequenceLength: 8,
            trainable: true)
    }

    private func loss(inputEmbeddings: [Float]? = nil) throws -> Double {
        try model.forward(batch, inputEmbeddings: inputEmbeddings)
        return try model.crossEntropy(batch.nextTokenTargets)
    }

    func testInputEmbeddingGradientMatchesFiniteDifferences() throws {
        for config in LlamaConfig.tinyFamilies {
            model = try makeModel(config)
            try checkInputEmbeddingGradient(config.label)
        }
    }

    func testLinearOutputGradientsMatchFiniteDifferencesAtEverySite() throws {
        for config in LlamaConfig.tinyFamilies {
            model = try makeModel(config)
            try checkLinearOutputGradients(config.label)
        }
    }

    private func checkInputEmbeddingGradient(_ label: String) throws {
        let h = model.config.hiddenSize
        guard case .dense = model.weights.embedding else { return XCTFail("the tiny model is dense") }
        var embeddings = [Float](repeating: 0, count: batch.count * h)
        for (row, token) in batch.tokens.enumerated() {
            embeddings.withUnsafeMutableBufferPointer {
                model.weights.copyRow(Int(token), of: model.weights.embedding, into: $0.baseAddress! + row * h)
            }
        }
        try model.forward(batch)
        _ = try model.crossEntropy(batch.nextTokenTargets, gradientScale: 1)
        model.backward()
        let gradient = model.inputEmbeddingGradient()
        for seed in 1...3 {
            let u = FiniteDifferences.direction(along: gradient, seed: UInt64(seed))
            let plus = try loss(inputEmbeddings: zip(embeddings, u).map { $0 + Self.step * $1 })
            let minus = try loss(inputEmbeddings: zip(embeddings, u).map { $0 - Self.step * $1 })
            let numeric = (plus - minus) / (2 * Double(Self.step))
            let analytic = zip(gradient, u).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(numeric, analytic, accuracy: 1e-3 * abs(analytic), "\(label) direction \(seed)")
        }
    }

    private func checkLinearOutputGradients(_ label: String) throws {
        let probe = OutputPerturbation(config: model.config)
        model.linearHook = probe
        let sites: [(Int, LinearSite)] = [
            (1, .qProj), (0, .kProj), (1, .vProj), (0, .oProj), (1, .gateProj), (0, .upProj), (1, .downProj),
        ]
        for (index, (layer, site)) in sites.enumerated() {
            probe.layer = layer
            probe.site = site
            probe.scale = 0
            probe.recordedGradient = [Float](repeating: .nan, count: batch.count * probe.width(of: site))
            try model.forward(batch)
            _ = try model.crossEntropy(batch.nextTokenTargets, gradientScale: 1)
            model.backward()
            let gradient = probe.recordedGradient
            XCTAssertFalse(gradient.contains { $0.isNaN }, "\(site) did not see every row in backward")
            probe.direction = FiniteDifferences.direction(along: gradient, seed: 100 + UInt64(index))
            probe.scale = Self.step
            let plus = try loss()
            probe.scale = -Self.step
            let minus = try loss()
            let numeric = (plus - minus) / (2 * Double(Self.step))
            let analytic = zip(gradient, probe.direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(
                numeric, analytic, accuracy: 1e-3 * abs(analytic), "\(label) layer \(layer) \(site.rawValue)")
        }
    }
}

/// A hook that adds `scale · direction` to one linear layer's output and records `dL/dy` there.
private final class OutputPerturbation: LinearHook {
    var layer = 0
    var site = LinearSite.qProj
    var scale: Float = 0
    var direction: [Float] = []
    var recordedGradient: [Float] = []
    let config: LlamaConfig

    init(config: LlamaConfig) {
        self.config = config
    }

    /// Output features of `site`.
    func width(of site: LinearSite) -> Int {
        config.linearShape(site).1
    }

    func forward(
        _ call: LinearCall, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, base: FrozenLinear
    ) {
        guard call.layer == layer, call.site == site, scale != 0 else { return }
        let first = call.firstRow * call.outFeatures
        for index in 0..<(call.rows * call.outFeatures) { output[index] += scale * direction[first + index] }
    }

    func backward(
        _ call: LinearCall, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>, base: FrozenLinear
    ) {
        guard call.layer == layer, call.site == site else { return }
        let first = call.firstRow * call.outFeatures
        for index in 0..<(call.rows * call.outFeatures) { recordedGradient[first + index] = outputGradient[index] }
    }
}
