import Adapters
import Foundation
import Kernels
import Llama
import TestSupport
import XCTest

/// Every adapter kind attached to a tiny random llama: no change at initialisation where the
/// method promises it, equality with merging into the base weights, and parameter gradients
/// through the whole model against finite differences.
final class AdapterModelTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var modelPath: String!
    private let batch = TokenBatch(sequences: [[5, 17, 200, 3, 99, 42, 7], [1, 250, 8, 8, 64]])

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        modelPath = directory.path("tiny.h5")
        try ModelWriter.writeRandom(to: modelPath, config: .tiny, seed: 21, scale: 0.15)
    }

    private func model() throws -> LlamaModel {
        LlamaModel(weights: try LlamaWeights(file: try ModelFile(path: modelPath)), maxTokens: 16, maxSequenceLength: 8, trainable: true)
    }

    /// Adapters of `kind` on every linear layer; `active` makes ΔW ≠ 0 (LoRA: random `B`;
    /// TT-LoRA: the reference's all-random initialisation).
    private func adapters(_ kind: AdapterSpec.Kind, active: Bool, path: TensorTrain.Path? = nil, dropout: Float = 0,
                          recovery: AdapterSpec.Recovery? = nil) throws -> AdapterSet {
        let spec = AdapterSpec(kind: kind, rank: 3, alpha: kind == .lora ? 6 : 0.5, targets: LinearSite.allCases, dropout: dropout,
                               tensorTrainInitialization: active ? .random : .zeroDelta, tensorTrainPath: path,
                               sparsity: kind == .sparseLora ? SparsitySchedule(final: 0.5, startStep: 0, endStep: 10, every: 5) : nil,
                               recovery: recovery)
        let set = AdapterSet(layout: try AdapterLayout(spec: spec, config: .tiny), maxRows: 8)
        set.initialize(seed: 3, model: try model())
        if active {
            randomize(set) { _ in (kind == .ttLora ? [] : ["B"]) + (recovery == nil ? [] : ["recovery_A2"]) }
        }
        return set
    }

    /// Sets the tensors `names(entry)` names, which start at zero, uniform in ±0.1.
    private func randomize(_ set: AdapterSet, _ names: (AdapterEntry) -> [String]) {
        var generator = SplitMix64(seed: 9)
        for entry in set.layout.entries {
            for name in names(entry) {
                for index in entry.tensor(name).range { set.parameters.pointer[index] = generator.nextFloat(in: -0.1..<0.1) }
            }
        }
    }

    private static let geluRecovery = AdapterSpec.Recovery(rank: 2, alpha: 4, activation: .gelu)

    private func allLogits(_ model: LlamaModel) throws -> [[Float]] {
        try model.forward(batch)
        return (0..<batch.count).map { model.logits(row: $0) }
    }

    func testZeroDeltaInitialisationLeavesTheModelBitForBitUnchanged() throws {
        let bare = try allLogits(try model())
        for kind in AdapterSpec.Kind.allCases {
            let adapted = try model()
            adapted.linearHook = try adapters(kind, active: false)
            XCTAssertTrue(try allLogits(adapted) == bare, "\(kind)")
        }
        for kind in [AdapterSpec.Kind.lora, .ttLora] {
            let adapted = try model()
            adapted.linearHook = try adapters(kind, active: false, recovery: Self.geluRecovery)
            XCTAssertTrue(try allLogits(adapted) == bare, "\(kind) with a recovery module (A2 = 0)")
        }
    }

    func testAdaptedModelEqualsMergingTheAdapterIntoTheBaseWeights() throws {
        for (kind, path) in [(AdapterSpec.Kind.lora, nil), (.sparseLora, nil), (.ttLora, TensorTrain.Path.contract), (.ttLora, .reconstruct),
                             (.dora, nil)] {
            let set = try adapters(kind, active: true, path: path)
            set.prune(step: 10)
            try checkMerge(set)
        }
        for kind in [AdapterSpec.Kind.lora, .ttLora] {
            try checkMerge(try adapters(kind, active: true, recovery: AdapterSpec.Recovery(rank: 2, alpha: 4, activation: .linear)))
        }
    }

    private func checkMerge(_ set: AdapterSet) throws {
        let adapted = try model()
        adapted.linearHook = set
        let file = try ModelFile(path: modelPath)
        let mergedWeights = try LlamaWeights(config: .tiny) { name in
            let base = try file.read(name)
            guard let entry = set.layout.entries.first(where: { "model.\($0.target).weight" == name }) else { return base }
            return set.merged(entry, into: base)
        }
        let merged = LlamaModel(weights: mergedWeights, maxTokens: 16, maxSequenceLength: 8, trainable: false)
        let expected = try allLogits(merged)
        let actual = try allLogits(adapted)
        var worst: Float = 0
        for (row, values) in expected.enumerated() {
            for (column, value) in values.enumerated() { worst = max(worst, abs(actual[row][column] - value)) }
        }
        XCTAssertLessThan(worst, 1e-5, "\(set.layout.spec.kind)")
        XCTAssertTrue(try allLogits(try model()) != actual, "the adapter must change the logits")
    }

    /// Directional derivative of the loss along `u = g/rms(g) + r` in parameter space, as in
    /// LlamaGradientTests (which explains the step and tolerance).
    func testParameterGradientsMatchFiniteDifferencesThroughTheWholeModel() throws {
        for (kind, path) in [(AdapterSpec.Kind.lora, nil), (.ttLora, TensorTrain.Path.contract), (.ttLora, .reconstruct)] {
            try checkGradients(try adapters(kind, active: true, path: path))
        }
        let dropping = try adapters(.lora, active: true, dropout: 0.3)
        dropping.dropoutSeed = 17
        try checkGradients(dropping)
        try checkGradients(try adapters(.lora, active: true, recovery: Self.geluRecovery))
        // DoRA's norm is a constant in backward (as in PEFT), so only the magnitude's gradient is
        // the loss's true derivative; DoRATests checks A and B against that formula.
        try checkGradients(try adapters(.dora, active: true), tensors: ["magnitude"])
        // TT-LoRA from its zero-delta start with a small last core: the reference's all-random
        // cores make ΔW as large as the weight, and GELU's curvature then puts the h = 1e-4
        // difference quotient's own error at the tolerance.
        let recovered = try adapters(.ttLora, active: false, path: .contract, recovery: Self.geluRecovery)
        randomize(recovered) { entry in [entry.tensors.last { $0.name.hasPrefix("core_") }!.name, "recovery_A2"] }
        try checkGradients(recovered)
    }

    func testRecoveryModuleIsGELUOfTheProjectionScaledByAlphaOverRank() throws {
        let set = try adapters(.lora, active: true, recovery: Self.geluRecovery)
        let entry = set.layout.entries[0]
        let (inFeatures, outFeatures) = (entry.inFeatures, entry.outFeatures)
        XCTAssertEqual(entry.tensors.map(\.name), ["A", "B", "recovery_A1", "recovery_A2"])
        XCTAssertEqual(entry.tensor("recovery_A1").shape, [2, inFeatures])
        XCTAssertEqual(entry.tensor("recovery_A2").shape, [outFeatures, 2])
        var random = TestRandom(seed: 4)
        let x = random.array(3 * inFeatures)
        let p = set.parameters.array()
        // Reference in Double: LoRA's (α/r)·x·Aᵀ·Bᵀ plus (α_rec/r_rec)·GELU(x·A1ᵀ)·A2ᵀ, GELU(u) = u·Φ(u).
        func value(_ name: String, _ row: Int, _ column: Int, columns: Int) -> Double { Double(p[entry.tensor(name).offset + row * columns + column]) }
        var expected = [Double](repeating: 0, count: 3 * outFeatures)
        for row in 0..<3 {
            let t = (0..<3).map { k in (0..<inFeatures).reduce(0.0) { $0 + Double(x[row * inFeatures + $1]) * value("A", k, $1, columns: inFeatures) } }
            let h = (0..<2).map { k in (0..<inFeatures).reduce(0.0) { $0 + Double(x[row * inFeatures + $1]) * value("recovery_A1", k, $1, columns: inFeatures) } }
            let g = h.map { $0 * 0.5 * (1 + erf($0 / 2.0.squareRoot())) }
            for o in 0..<outFeatures {
                expected[row * outFeatures + o] = 2 * (0..<3).reduce(0.0) { $0 + t[$1] * value("B", o, $1, columns: 3) }
                    + 2 * (0..<2).reduce(0.0) { $0 + g[$1] * value("recovery_A2", o, $1, columns: 2) }
            }
        }
        var y = [Float](repeating: 0, count: 3 * outFeatures)
        let base = try model().frozenLinear(layer: entry.layer, site: entry.site)
        x.withUnsafeBufferPointer { input in
            y.withUnsafeMutableBufferPointer { output in
                set.forward(LinearCall(layer: entry.layer, site: entry.site, firstRow: 0, rows: 3, inFeatures: inFeatures, outFeatures: outFeatures),
                            input: input.baseAddress!, output: output.baseAddress!, base: base)
            }
        }
        for (actual, reference) in zip(y, expected) { XCTAssertEqual(Double(actual), reference, accuracy: 1e-5) }
    }

    func testDropoutIsReproducibleAndOffWithoutASeed() throws {
        let plain = try adapters(.lora, active: true)
        let dropping = try adapters(.lora, active: true, dropout: 0.3)
        let model = try model()
        model.linearHook = plain
        let reference = try allLogits(model)
        model.linearHook = dropping
        XCTAssertTrue(try allLogits(model) == reference, "no seed: no dropout")
        dropping.dropoutSeed = 5
        let first = try allLogits(model)
        XCTAssertTrue(try allLogits(model) == first, "the same seed gives the same bits")
        XCTAssertTrue(first != reference)
        dropping.dropoutSeed = 6
        XCTAssertTrue(try allLogits(model) != first)
    }

    private func checkGradients(_ set: AdapterSet, tensors: Set<String>? = nil) throws {
        let label = "\(set.layout.spec.kind) \(set.layout.spec.tensorTrainPath.map { "\($0)" } ?? "")"
        try assertParameterGradientsMatchFiniteDifferences(set, model: try model(), batch: batch, label: label, tensors: tensors)
        let gradient = set.gradients.array()
        XCTAssertTrue(set.layout.entries.allSatisfy { entry in
            entry.tensors.allSatisfy { tensor in gradient[tensor.range].contains { $0 != 0 } }
        }, "every adapter tensor must receive a gradient (\(label))")
    }

    func testRecoveryModulesOnlyWhereAsked() throws {
        let spec = AdapterSpec(kind: .lora, rank: 2, alpha: 4, targets: [.qProj, .vProj],
                               recovery: .init(rank: 3, alpha: 3, activation: .gelu, layers: [1]))
        let layout = try AdapterLayout(spec: spec, config: .tiny)
        XCTAssertEqual(layout.entries.map { $0.recovery != nil }, [false, false, true, true])
        XCTAssertEqual(layout.entries[2].tensors.map(\.name), ["A", "B", "recovery_A1", "recovery_A2"])
        // LoRA q (2·64 + 64·2) and v (2·64 + 32·2) per layer, recovery q (3·64 + 64·3) and v (3·64 + 32·3) in layer 1.
        XCTAssertEqual(layout.parameterCount, 2 * (256 + 192) + 384 + 288)
        var outside = spec
        outside.layers = [0]
        XCTAssertThrowsError(try AdapterLayout(spec: outside, config: .tiny)) {
            XCTAssertEqual("\($0)", "adapter.recovery.layers: layer 1 is not an adapted layer")
        }
    }

    func testLayoutIsContiguousAndNamedLikePEFT() throws {
        let layout = try AdapterLayout(spec: AdapterSpec(kind: .lora, rank: 2, alpha: 4, targets: [.qProj, .downProj], layers: [1]), config: .tiny)
        XCTAssertEqual(layout.entries.map(\.target), ["layers.1.self_attn.q_proj", "layers.1.mlp.down_proj"])
        XCTAssertEqual(layout.entries[0].tensors.map(\.shape), [[2, 64], [64, 2]])
        XCTAssertEqual(layout.entries[1].tensors.map(\.offset), [256, 256 + 2 * 160])
        XCTAssertEqual(layout.parameterCount, 2 * (64 + 64) + 2 * (160 + 64))
    }

    func testSmolLM2QueryValueRank8CountsLikePEFT() throws {
        let smol = LlamaConfig.smolLM2
        let layout = try AdapterLayout(spec: AdapterSpec(kind: .lora, rank: 8, alpha: 16, targets: [.qProj, .vProj]), config: smol)
        // q: 8·(576 + 576), v: 8·(576 + 192), over 30 layers.
        XCTAssertEqual(layout.parameterCount, 460_800)
    }

    func testBadSettingsNameTheSetting() {
        func error(_ spec: AdapterSpec) -> String {
            do {
                _ = try AdapterLayout(spec: spec, config: .tiny)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(error(AdapterSpec(kind: .lora, rank: 0, alpha: 8, targets: [.qProj])), "adapter.rank: must be in 1...4096, got 0")
        XCTAssertEqual(error(AdapterSpec(kind: .lora, rank: 2, alpha: 8, targets: [.qProj], layers: [2])),
                       "adapter.layers: layer 2 does not exist (the model has 0..<2)")
        XCTAssertEqual(error(AdapterSpec(kind: .lora, rank: 2, alpha: 0, targets: [.qProj])), "adapter.alpha: must be a positive number, got 0.0")
        XCTAssertEqual(error(AdapterSpec(kind: .lora, rank: 2, alpha: 4, targets: [.qProj], recovery: .init(rank: 0, alpha: 1, activation: .gelu))),
                       "adapter.recovery.rank: must be in 1...4096, got 0")
        XCTAssertEqual(error(AdapterSpec(kind: .sparseLora, rank: 2, alpha: 4, targets: [.qProj], sparsity: SparsitySchedule(final: 0.5, startStep: 0, endStep: 4, every: 2),
                                         recovery: .init(rank: 2, alpha: 1, activation: .gelu))),
                       "adapter.recovery: applies to lora and tt-lora only")
        XCTAssertThrowsError(try AdapterSpec.targets(named: ["q_proj", "x_proj"])) { error in
            XCTAssertEqual("\(error)", "adapter.targets: unknown target 'x_proj' (expected one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)")
        }
    }
}
