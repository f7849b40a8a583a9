import Kernels
import Llama

/// One adapted linear layer, behind the small interface `AdapterSet` dispatches to: the model sees
/// only `LinearHook`, the set sees only this, and each method lives in its own type.
///
/// `parameters`, `gradients` and `masks` point at the adapter's own slice of the flat buffers
/// (its tensors' offsets are relative to the first tensor).
protocol Adapter {
    var entry: AdapterEntry { get }

    /// Floats of scratch one call on `rows` rows needs.
    func scratchCount(rows: Int) -> Int

    /// Seeded initial values (the slice is zero on entry).
    func initialize(_ parameters: UnsafeMutablePointer<Float>, generator: inout SplitMix64, spec: AdapterSpec)

    /// `y (rows, out) += Δy` for input `x (rows, in)`.
    func forward(x: UnsafePointer<Float>, parameters: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                 rows: Int, scratch: UnsafeMutablePointer<Float>)

    /// Adds `dL/dx` into `dx` and the parameter gradients into `gradients`, for upstream `dy`.
    func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, parameters: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>, masks: UnsafePointer<Float>,
                  rows: Int, scratch: UnsafeMutablePointer<Float>)

    /// The update `ΔW (out, in)` the adapter adds to the base weight, scale included.
    func deltaWeight(_ parameters: UnsafePointer<Float>) -> [Float]
}

extension Adapter {
    /// Offset of `name` relative to the adapter's first tensor.
    func offset(_ name: String) -> Int {
        entry.tensor(name).offset - entry.tensors[0].offset
    }
}

extension AdapterEntry {
    /// The implementation of this entry's kind.
    func makeAdapter(path: TensorTrain.Path?) -> Adapter {
        switch kind {
        case .lora: return LoRAAdapter(entry: self, masked: false)
        case .sparseLora: return LoRAAdapter(entry: self, masked: true)
        case .ttLora: return TensorTrainAdapter(entry: self, train: TensorTrain(shape: tensorTrain!, scale: scale), path: path)
        }
    }
}

/// LoRA, and sparse LoRA when `masked`: the same product, with pruned gradients zeroed.
struct LoRAAdapter: Adapter {
    let entry: AdapterEntry
    let masked: Bool

    func scratchCount(rows: Int) -> Int {
        2 * rows * entry.rank
    }

    /// `A` Kaiming-uniform as PEFT does (`kaiming_uniform_(a=√5)`, i.e. uniform in ±1/√in), `B` zero.
    func initialize(_ parameters: UnsafeMutablePointer<Float>, generator: inout SplitMix64, spec: AdapterSpec) {
        let a = entry.tensor("A")
        let bound = 1 / Float(entry.inFeatures).squareRoot()
        for index in 0..<a.count { parameters[offset("A") + index] = generator.nextFloat(in: -bound..<bound) }
    }

    func forward(x: UnsafePointer<Float>, parameters: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                 rows: Int, scratch: UnsafeMutablePointer<Float>) {
        LoRA.forward(x: x, a: parameters + offset("A"), b: parameters + offset("B"), into: y, t: scratch, rows: rows,
                     inFeatures: entry.inFeatures, outFeatures: entry.outFeatures, rank: entry.rank, scale: entry.scale)
    }

    func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, parameters: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>, masks: UnsafePointer<Float>,
                  rows: Int, scratch: UnsafeMutablePointer<Float>) {
        LoRA.backward(dy: dy, x: x, a: parameters + offset("A"), b: parameters + offset("B"), dx: dx,
                      da: gradients + offset("A"), db: gradients + offset("B"), t: scratch, dt: scratch + rows * entry.rank,
                      rows: rows, inFeatures: entry.inFeatures, outFeatures: entry.outFeatures, rank: entry.rank, scale: entry.scale)
        if masked {
            for index in 0..<entry.parameterCount { gradients[index] *= masks[index] }
        }
    }

    func deltaWeight(_ parameters: UnsafePointer<Float>) -> [Float] {
        var delta = [Float](repeating: 0, count: entry.outFeatures * entry.inFeatures)
        Matmul.gemm(parameters + offset("B"), parameters + offset("A"), into: &delta, m: entry.outFeatures, n: entry.inFeatures,
                    k: entry.rank, transposeB: false, lda: entry.rank, ldb: entry.inFeatures, ldc: entry.inFeatures,
                    alpha: entry.scale, beta: 0)
        return delta
    }
}
