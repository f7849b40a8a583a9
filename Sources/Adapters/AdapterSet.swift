import Foundation
import Kernels
import Llama

/// All adapters of a model: parameters in one flat buffer, gradients in a twin buffer, and the
/// layout table. Attached to a `LlamaModel` as its `linearHook`, it adds each adapter's output
/// in forward and its input and parameter gradients in backward; the model never learns which
/// kind it is.
///
/// ```swift
/// let adapters = try AdapterSet(layout: AdapterLayout(spec: spec, config: model.config), maxRows: 128)
/// adapters.initialize(seed: 42)
/// model.linearHook = adapters
/// ```
public final class AdapterSet: LinearHook {
    public let layout: AdapterLayout
    /// All adapter parameters, laid out by `layout`.
    public let parameters: FloatBuffer
    /// dL/d(parameters), summed over every backward since the last `zeroGradients()`.
    public let gradients: FloatBuffer
    /// 1 where a parameter trains, 0 where sparse LoRA pruned it (all 1 for other kinds). Masks
    /// are identical on every rank, so the gradient reduction can skip the pruned entries.
    public let masks: FloatBuffer
    private let entryIndex: [Int: Int]
    private let scratch: FloatBuffer  // two (maxRows, rank) blocks

    /// An adapter set with zero parameters; `maxRows` bounds the rows of one linear call (the
    /// longest sequence).
    public init(layout: AdapterLayout, maxRows: Int) {
        self.layout = layout
        parameters = FloatBuffer(count: layout.parameterCount)
        gradients = FloatBuffer(count: layout.parameterCount)
        masks = FloatBuffer([Float](repeating: 1, count: layout.parameterCount))
        var index: [Int: Int] = [:]
        for (position, entry) in layout.entries.enumerated() { index[Self.key(entry.layer, entry.site)] = position }
        entryIndex = index
        let scratchCount = layout.entries.map { entry -> Int in
            switch entry.kind {
            case .lora, .sparseLora: return 2 * maxRows * entry.rank
            case .ttLora: return TensorTrain(shape: entry.tensorTrain!, scale: entry.scale).scratchCount(rows: maxRows)
            }
        }.max() ?? 0
        scratch = FloatBuffer(count: scratchCount)
    }

    private static func key(_ layer: Int, _ site: LinearSite) -> Int {
        layer * LinearSite.allCases.count + LinearSite.allCases.firstIndex(of: site)!
    }

    /// The entry adapting `layer`'s `site`, if any.
    public func entry(layer: Int, site: LinearSite) -> AdapterEntry? {
        entryIndex[Self.key(layer, site)].map { layout.entries[$0] }
    }

    /// Seeded initialisation, the same bits on every rank and machine.
    ///
    /// LoRA: `A` Kaiming-uniform as PEFT does (`kaiming_uniform_(a=√5)`, i.e. uniform in ±1/√in),
    /// `B` zero. TT-LoRA: cores uniform in ±1, scaled alike so ΔW's entries have std 1/√in (the
    /// Kaiming scale of a dense layer); with `.zeroDelta` the last core is then zeroed.
    public func initialize(seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        parameters.zero()
        masks.copy(from: [Float](repeating: 1, count: masks.count))
        for entry in layout.entries {
            switch entry.kind {
            case .lora, .sparseLora:
                let a = entry.tensor("A")
                let bound = 1 / Float(entry.inFeatures).squareRoot()
                for index in a.range { parameters.pointer[index] = generator.nextFloat(in: -bound..<bound) }
            case .ttLora:
                initializeTensorTrain(entry, generator: &generator)
            }
        }
    }

    private func initializeTensorTrain(_ entry: AdapterEntry, generator: inout SplitMix64) {
        let shape = entry.tensorTrain!
        let first = entry.tensors[0].offset
        let cores = parameters.at(first)
        for index in 0..<shape.parameterCount { cores[index] = generator.nextFloat(in: -1..<1) }
        var weight = [Float](repeating: 0, count: shape.inFeatures * shape.outFeatures)
        var partials = [Float](repeating: 0, count: TensorTrain(shape: shape, scale: 1).scratchCount(rows: 1))
        TensorTrain(shape: shape, scale: 1).reconstruct(cores: cores, into: &weight, partials: &partials)
        let meanSquare = weight.reduce(0.0) { $0 + Double($1 * $1) } / Double(weight.count)
        let target = 1 / Double(entry.inFeatures)
        let perCore = Float(Foundation.pow(target / max(meanSquare, 1e-30), 0.5 / Double(shape.modes.count)))
        for index in 0..<shape.parameterCount { cores[index] *= perCore }
        if layout.spec.tensorTrainInitialization == .zeroDelta {
            let last = entry.tensors.last!
            parameters.at(last.offset).update(repeating: 0, count: last.count)
        }
    }

    public func zeroGradients() {
        gradients.zero()
    }

    /// The TT-LoRA path for a call of `rows` rows: the spec's, or the cheaper by FLOP count.
    private func path(_ train: TensorTrain, rows: Int) -> TensorTrain.Path {
        layout.spec.tensorTrainPath ?? train.cheaperPath(rows: rows)
    }

    public func forward(_ call: LinearCall, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        guard let entry = entry(layer: call.layer, site: call.site) else { return }
        switch entry.kind {
        case .lora, .sparseLora:
            LoRA.forward(x: input, a: parameters.at(entry.tensor("A").offset), b: parameters.at(entry.tensor("B").offset),
                         into: output, t: scratch.pointer, rows: call.rows, inFeatures: entry.inFeatures,
                         outFeatures: entry.outFeatures, rank: entry.rank, scale: entry.scale)
        case .ttLora:
            let train = TensorTrain(shape: entry.tensorTrain!, scale: entry.scale)
            train.forward(x: input, cores: parameters.at(entry.tensors[0].offset), into: output, rows: call.rows,
                          path: path(train, rows: call.rows), scratch: scratch.pointer)
        }
    }

    public func backward(
        _ call: LinearCall, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>
    ) {
        guard let entry = entry(layer: call.layer, site: call.site) else { return }
        switch entry.kind {
        case .lora, .sparseLora:
            let (a, b) = (entry.tensor("A"), entry.tensor("B"))
            LoRA.backward(dy: outputGradient, x: input, a: parameters.at(a.offset), b: parameters.at(b.offset),
                          dx: inputGradient, da: gradients.at(a.offset), db: gradients.at(b.offset),
                          t: scratch.pointer, dt: scratch.at(scratch.count / 2), rows: call.rows,
                          inFeatures: entry.inFeatures, outFeatures: entry.outFeatures, rank: entry.rank, scale: entry.scale)
            if entry.kind == .sparseLora {
                for tensor in [a, b] {
                    for index in tensor.range { gradients.pointer[index] *= masks.pointer[index] }
                }
            }
        case .ttLora:
            let train = TensorTrain(shape: entry.tensorTrain!, scale: entry.scale)
            let first = entry.tensors[0].offset
            train.backward(dy: outputGradient, x: input, cores: parameters.at(first), dx: inputGradient,
                           coreGradients: gradients.at(first), rows: call.rows, path: path(train, rows: call.rows),
                           scratch: scratch.pointer)
        }
    }
}

extension AdapterSet {
    /// The base weight `(out, in)` of `entry`'s layer with the adapter folded in:
    /// `W + (α/r)·B·A`. Export uses it, and a test checks that the merged model equals base +
    /// adapter.
    public func merged(_ entry: AdapterEntry, into weight: [Float]) -> [Float] {
        precondition(weight.count == entry.outFeatures * entry.inFeatures, "weight of \(entry.target) has the wrong size")
        var result = weight
        switch entry.kind {
        case .lora, .sparseLora:
            Matmul.gemm(parameters.at(entry.tensor("B").offset), parameters.at(entry.tensor("A").offset), into: &result,
                        m: entry.outFeatures, n: entry.inFeatures, k: entry.rank, transposeB: false,
                        lda: entry.rank, ldb: entry.inFeatures, ldc: entry.inFeatures, alpha: entry.scale, beta: 1)
        case .ttLora:
            // ΔW is (in, out); the base weight is (out, in): add scale·ΔWᵀ.
            let shape = entry.tensorTrain!
            let train = TensorTrain(shape: shape, scale: entry.scale)
            var delta = [Float](repeating: 0, count: shape.inFeatures * shape.outFeatures)
            var partials = [Float](repeating: 0, count: train.scratchCount(rows: 1))
            train.reconstruct(cores: parameters.at(entry.tensors[0].offset), into: &delta, partials: &partials)
            for row in 0..<entry.outFeatures {
                for column in 0..<entry.inFeatures {
                    result[row * entry.inFeatures + column] += entry.scale * delta[column * entry.outFeatures + row]
                }
            }
        }
        return result
    }
}
