import Adapters
import Foundation
import Llama
import TestSupport
import XCTest

/// Activation recomputation (`memory: {recompute: true}`): backward refills each layer's
/// activations from its saved input, and every gradient is bit for bit the stored-activation one,
/// in every family.
final class RecomputeTests: XCTestCase {
    func testRecomputedBackwardGivesTheStoredActivationsGradientsForEveryAdapterKind() throws {
        for config in LlamaConfig.tinyFamilies {
            try checkRecomputation(config)
        }
    }

    private func checkRecomputation(_ config: LlamaConfig) throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("tiny.h5")
        try ModelWriter.writeRandom(to: path, config: config, seed: 4, scale: 0.15)
        let weights = try LlamaWeights(file: try ModelFile(path: path))
        let batch = TokenBatch(sequences: [[5, 17, 200, 3, 99, 42, 7], [1, 250, 8, 8, 64]])
        let kinds: [(AdapterSpec.Kind, AdapterSpec.Recovery?)] = [(.lora, nil), (.ttLora, nil), (.sparseLora, nil),
                                                                 (.lora, AdapterSpec.Recovery(rank: 2, alpha: 1, activation: .gelu))]
        for (kind, recovery) in kinds {
            let spec = AdapterSpec(kind: kind, rank: 3, alpha: 2, targets: LinearSite.allCases, dropout: kind == .lora ? 0.2 : 0,
                                   tensorTrainInitialization: .random,
                                   sparsity: kind == .sparseLora ? SparsitySchedule(final: 0.5, startStep: 0, endStep: 4, every: 2) : nil,
                                   recovery: recovery)
            var results: [(adapter: [Float], input: [Float], loss: Double)] = []
            var activationBytes: [Int] = []
            for recompute in [false, true] {
                let model = LlamaModel(weights: weights, maxTokens: 16, maxSequenceLength: 8, trainable: true, recompute: recompute)
                let adapters = AdapterSet(layout: try AdapterLayout(spec: spec, config: config), maxRows: 8)
                adapters.initialize(seed: 5, model: model)
                for index in 0..<adapters.parameters.count where adapters.parameters.pointer[index] == 0 {
                    adapters.parameters.pointer[index] = Float(index % 7 - 3) * 0.01  // every B nonzero
                }
                if spec.sparsity != nil { adapters.prune(step: 4) }
                adapters.dropoutSeed = 11
                model.linearHook = adapters
                try model.forward(batch)
                let loss = try model.crossEntropy(batch.nextTokenTargets, gradientScale: 1)
                model.backward()
                results.append((adapters.gradients.array(), model.inputEmbeddingGradient(), loss))
                activationBytes.append(model.activationBytes)
            }
            let label = "\(config.label) \(kind)\(recovery == nil ? "" : " + recovery")"
            XCTAssertEqual(results[0].adapter.map(\.bitPattern), results[1].adapter.map(\.bitPattern), label)
            XCTAssertEqual(results[0].input.map(\.bitPattern), results[1].input.map(\.bitPattern), label)
            XCTAssertEqual(results[0].loss.bitPattern, results[1].loss.bitPattern, label)
            XCTAssertTrue(results[0].adapter.contains { $0 != 0 }, label)
            XCTAssertLessThan(activationBytes[1], activationBytes[0], label)
        }
    }
}
