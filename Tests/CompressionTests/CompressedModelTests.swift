import Compression
import Llama
import TestSupport
import XCTest

/// A Tucker-compressed tiny llama end to end: the plan, the file, and the factored forward and
/// backward against the dense model with the reconstructed weights.
final class CompressedModelTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var densePath: String!
    private let batch = TokenBatch(sequences: [[5, 17, 200, 3, 99, 42, 7], [1, 250, 8, 8, 64]])

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        densePath = directory.path("dense.h5")
        try ModelWriter.writeRandom(to: densePath, config: .tiny, seed: 31, scale: 0.15)
    }

    private func compress(_ plan: String, name: String) throws -> (ModelFile, ModelCompressor.Report) {
        let dense = try ModelFile(path: densePath)
        let path = directory.path(name)
        let report = try ModelCompressor.compress(model: dense, plan: try CompressionPlan.parse(plan, file: "plan.yaml", config: dense.config), to: path)
        return (try ModelFile(path: path), report)
    }

    /// The dense model whose weights are the compressed model's reconstructions.
    private func reconstructedDense(of compressed: ModelFile) throws -> ModelFile {
        let dense = try ModelFile(path: densePath)
        let factored = try compressed.readFactoredWeights()
        let path = directory.path("reconstructed-\(UUID().uuidString).h5")
        try ModelWriter.write(to: path, config: dense.config, source: "test") { name, _ in
            try factored[name]?.reconstructed() ?? dense.read(name)
        }
        return try ModelFile(path: path)
    }

    /// Logits at every row and the input-embedding gradient of the next-token loss.
    private func run(_ file: ModelFile) throws -> (logits: [Float], gradient: [Float]) {
        let model = LlamaModel(weights: try LlamaWeights(file: file), maxTokens: 16, maxSequenceLength: 8, trainable: true)
        try model.forward(batch)
        let logits = (0..<batch.count).flatMap { model.logits(row: $0) }
        _ = try model.crossEntropy(batch.nextTokenTargets, gradientScale: 1)
        model.backward()
        return (logits, model.inputEmbeddingGradient())
    }

    private func assertClose(_ a: [Float], _ b: [Float], tolerance: Float, _ message: String) {
        XCTAssertEqual(a.count, b.count)
        let scale = max(b.map(abs).max() ?? 1, 1e-6)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, tolerance * scale, "\(message): max difference \(worst) at scale \(scale)")
    }

    func testFullRankPlanReproducesTheDenseLogits() throws {
        let (compressed, report) = try compress("""
            targets:
              - {matrices: [q_proj], ranks: [4, 16, 64]}
              - {matrices: [k_proj, v_proj], layers: [0, 1], ranks: [2, 16, 32]}
              - {matrices: [o_proj], view: heads, ranks: [64, 4, 16]}
              - {matrices: [gate_proj, up_proj], ranks: [64, 64]}
              - {matrices: [down_proj], view: matrix, ranks: [64, 64]}
            """, name: "full.h5")
        XCTAssertEqual(compressed.factoredWeights.count, 2 * 7)
        XCTAssertTrue(report.weights.allSatisfy { $0.relativeError < 1e-5 }, "\(report.weights.map(\.relativeError))")
        let dense = try run(try ModelFile(path: densePath))
        let factored = try run(compressed)
        assertClose(factored.logits, dense.logits, tolerance: 1e-4, "logits")
        assertClose(factored.gradient, dense.gradient, tolerance: 1e-4, "input gradient")
    }

    func testFactoredForwardAndBackwardEqualTheReconstructedDenseModel() throws {
        let (compressed, report) = try compress("""
            refinements: 1
            targets:
              - {matrices: [q_proj], layers: [0, 1], ranks: [3, 8, 20]}
              - {matrices: [o_proj], layers: [1], ranks: [24, 4, 8]}
              - {matrices: [v_proj], layers: [0], view: matrix, ranks: [12, 12]}
              - {matrices: [up_proj, down_proj], energy: 0.8}
            """, name: "low.h5")
        XCTAssertEqual(compressed.factoredWeights.count, 2 + 1 + 1 + 4)
        XCTAssertLessThan(report.parametersAfter, report.parametersBefore)
        XCTAssertTrue(report.weights.allSatisfy { $0.relativeError > 0.01 && $0.factoredParameters < $0.denseParameters })
        let reference = try run(try reconstructedDense(of: compressed))
        let factored = try run(compressed)
        assertClose(factored.logits, reference.logits, tolerance: 1e-4, "logits")
        assertClose(factored.gradient, reference.gradient, tolerance: 1e-4, "input gradient")
        let dense = try run(try ModelFile(path: densePath))
        XCTAssertGreaterThan(zip(factored.logits, dense.logits).map { abs($0 - $1) }.max()!, 1e-3, "the compression changed the model")
    }

    /// Generation on a factored base: cached decoding (one token at a time through the stages)
    /// follows the full forward's logits and greedy choices.
    func testCachedDecodingOnAFactoredBaseFollowsTheFullForward() throws {
        let (compressed, _) = try compress("""
            targets:
              - {matrices: [q_proj], ranks: [3, 8, 20]}
              - {matrices: [o_proj], view: heads, ranks: [24, 4, 8]}
              - {matrices: [down_proj], view: matrix, ranks: [32, 32]}
            """, name: "decode.h5")
        let weights = try LlamaWeights(file: compressed)
        let full = LlamaModel(weights: weights, maxTokens: 32, maxSequenceLength: 32, trainable: false)
        let cached = LlamaModel(weights: weights, maxTokens: 32, maxSequenceLength: 32, trainable: false)
        let cache = KeyValueCache(model: cached, capacity: 32)
        var tokens: [Int32] = [5, 17, 200, 3, 99]
        var logits = try cached.decode(tokens, cache: cache)
        for step in 0..<10 {
            try full.forward(TokenBatch(sequences: [tokens]))
            let expected = full.logits(row: tokens.count - 1)
            assertClose(logits, expected, tolerance: 1e-4, "step \(step)")
            let next = Int32(expected.indices.max { expected[$0] < expected[$1] }!)
            XCTAssertEqual(Int32(logits.indices.max { logits[$0] < logits[$1] }!), next, "step \(step)")
            tokens.append(next)
            logits = try cached.decode([next], cache: cache)
        }
    }

    func testCompressedFileDescribesItselfAndVerifies() throws {
        let dense = try ModelFile(path: densePath)
        let (compressed, report) = try compress("targets: [{matrices: [gate_proj], ranks: [10, 10]}]", name: "c.h5")
        XCTAssertEqual(compressed.compressedFrom, dense.fingerprint)
        XCTAssertEqual(try compressed.computeFingerprint(), compressed.fingerprint)
        XCTAssertNotEqual(compressed.fingerprint, dense.fingerprint)
        let saved = 2 * (160 * 64 - (10 * 10 + 160 * 10 + 64 * 10))
        XCTAssertEqual(report.parametersBefore - report.parametersAfter, saved)
        XCTAssertEqual(compressed.storedParameterCount, dense.storedParameterCount - saved)
        XCTAssertLessThan(report.bytesAfter, report.bytesBefore)
        XCTAssertEqual(compressed.storage["model.layers.1.mlp.gate_proj.weight"], .tucker(tensorShape: [160, 64], outputModes: 1, ranks: [10, 10]))
        // Compute falls with the factors: gate_proj (160×64) at ranks 10, 10 runs x·U₁ (64→10) then ·(U₀·core)ᵀ (10→160).
        let denseWeights = try LlamaWeights(file: dense)
        let denseMultiplyAdds = LlamaConfig.tiny.layerCount * [64 * 64, 32 * 64, 32 * 64, 64 * 64, 160 * 64, 160 * 64, 64 * 160].reduce(0, +)
        XCTAssertEqual(denseWeights.linearMultiplyAddsPerToken, denseMultiplyAdds)
        XCTAssertEqual(try LlamaWeights(file: compressed).linearMultiplyAddsPerToken, denseMultiplyAdds - 2 * (160 * 64 - (64 * 10 + 10 * 160)))
        XCTAssertThrowsError(try ModelCompressor.compress(model: compressed, plan: try CompressionPlan.parse(
            "targets: [{matrices: [up_proj], energy: 0.5}]", file: "p", config: compressed.config), to: directory.path("again.h5"))) {
            XCTAssertTrue("\($0)".contains("already Tucker-compressed"), "\($0)")
        }
    }

    func testBadPlansAreRefusedWithTheKeyPathBeforeAnyWork() throws {
        let config = LlamaConfig.tiny
        let cases: [(String, String)] = [
            ("targets: [{matrices: [q_proj], ranks: [5, 16, 64]}]", "targets[0].ranks[0]: rank 5 exceeds 4"),
            ("targets: [{matrices: [q_proj], ranks: [4, 0, 64]}]", "targets[0].ranks[1]: rank 0 must be at least 1"),
            ("targets: [{matrices: [q_proj], layers: [2], ranks: [4, 16, 64]}]", "targets[0].layers[0]: layer 2 does not exist (the model has 2 layers, 0…1)"),
            ("targets: [{matrices: [qproj], energy: 0.5}]", "targets[0].matrices[0]: unknown matrix 'qproj'"),
            ("targets: [{matrices: [up_proj], view: heads, energy: 0.5}]", "targets[0].view: up_proj has no heads to split"),
            ("targets: [{matrices: [q_proj], layers: [], ranks: [4, 16, 64]}]", "targets[0].layers: names no layer"),
            ("targets: [{matrices: [q_proj], ranks: [4, 16]}]", "targets[0].ranks: 2 ranks for the 3 modes"),
            ("targets: [{matrices: [q_proj], ranks: [4, 16, 64], energy: 0.5}]", "targets[0]: give either ranks"),
            ("targets: [{matrices: [q_proj], energy: 1.5}]", "targets[0].energy: must be in (0, 1], got 1.5"),
            ("targets: [{matrices: [q_proj], ranks: [1, 2, 64]}]", "no rank may exceed the product of the others"),
            ("targets: [{matrices: [v_proj], energy: 0.5}, {matrices: [v_proj], layers: [1], energy: 0.9}]", "v_proj of layer 1 is named by more than one target"),
            ("targets: [{matrices: [v_proj], rank: [1, 2, 3]}]", "targets[0].rank: unknown key"),
            ("targets: []", "targets: is required"),
            ("", "(file): is empty"),
        ]
        for (plan, expected) in cases {
            XCTAssertThrowsError(try CompressionPlan.parse(plan, file: "plan.yaml", config: config), plan) { error in
                XCTAssertTrue("\(error)".hasPrefix("plan.yaml: "), "\(error)")
                XCTAssertTrue("\(error)".contains(expected), "\(plan): \(error)")
            }
        }
    }
}
