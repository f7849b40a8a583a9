import Foundation
import Kernels
import Llama

/// TT-LoRA as an adapter: `Δy = α·x·ΔW` with ΔW the tensor train of the entry's cores, by the
/// path the spec forces or, per call, the cheaper one by FLOP count.
struct TensorTrainAdapter: Adapter {
    let entry: AdapterEntry
    let train: TensorTrain
    let path: TensorTrain.Path?

    func scratchCount(rows: Int) -> Int {
        train.scratchCount(rows: rows)
    }

    /// Cores uniform in ±1, scaled alike so ΔW's entries have std 1/√in (the Kaiming scale of a
    /// dense layer); with `.zeroDelta` the last core is then zeroed so ΔW = 0 at step 0.
    func initialize(_ parameters: UnsafeMutablePointer<Float>, generator: inout SplitMix64, spec: AdapterSpec) {
        let count = train.shape.parameterCount
        for index in 0..<count { parameters[index] = generator.nextFloat(in: -1..<1) }
        let weight = reconstruction(parameters)
        let meanSquare = weight.reduce(0.0) { $0 + Double($1 * $1) } / Double(weight.count)
        let perCore = Float(Foundation.pow(1 / Double(entry.inFeatures) / max(meanSquare, 1e-30), 0.5 / Double(train.shape.modes.count)))
        for index in 0..<count { parameters[index] *= perCore }
        if spec.tensorTrainInitialization == .zeroDelta {
            let last = entry.tensor("core_\(train.shape.modes.count - 1)")
            (parameters + offset(last.name)).update(repeating: 0, count: last.count)
        }
    }

    func forward(x: UnsafePointer<Float>, parameters: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                 call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>) {
        train.forward(x: x, cores: parameters, into: y, rows: call.rows, path: path ?? train.cheaperPath(rows: call.rows), scratch: scratch)
    }

    func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, parameters: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>, masks: UnsafePointer<Float>,
                  call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>) {
        train.backward(dy: dy, x: x, cores: parameters, dx: dx, coreGradients: gradients, rows: call.rows,
                       path: path ?? train.cheaperPath(rows: call.rows), scratch: scratch)
    }

    /// ΔW is `(in, out)`; the base weight is `(out, in)`: the transpose, scaled.
    func deltaWeight(_ parameters: UnsafePointer<Float>) -> [Float] {
        let weight = reconstruction(parameters)
        var delta = [Float](repeating: 0, count: entry.outFeatures * entry.inFeatures)
        for row in 0..<entry.outFeatures {
            for column in 0..<entry.inFeatures { delta[row * entry.inFeatures + column] = entry.scale * weight[column * entry.outFeatures + row] }
        }
        return delta
    }

    /// The unscaled `(in, out)` reconstruction.
    private func reconstruction(_ parameters: UnsafePointer<Float>) -> [Float] {
        var weight = [Float](repeating: 0, count: entry.inFeatures * entry.outFeatures)
        var partials = [Float](repeating: 0, count: train.scratchCount(rows: 1))
        train.reconstruct(cores: parameters, into: &weight, partials: &partials)
        return weight
    }
}
