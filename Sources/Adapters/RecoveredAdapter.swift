import Kernels
import Llama

/// An adapter with CA-LoRA's recovery module beside it (Zhao et al., arXiv 2307.07705, §3.2):
/// `Δy = adapter(x) + (α/r)·f(x·A1ᵀ)·A2ᵀ`, `f` GELU or the identity. `A1` starts
/// Kaiming-uniform and `A2` zero, so adding the module leaves the model unchanged at step 0 —
/// a student that inherits its teacher's adapter starts exactly as compressed model + adapter.
struct RecoveredAdapter: Adapter {
    let inner: Adapter
    let recovery: AdapterSpec.Recovery

    var entry: AdapterEntry { inner.entry }

    /// The adapter and the module run one after the other, so they share the scratch.
    func scratchCount(rows: Int) -> Int {
        max(inner.scratchCount(rows: rows), 3 * rows * recovery.rank)
    }

    func initialize(_ parameters: UnsafeMutablePointer<Float>, generator: inout SplitMix64, spec: AdapterSpec, base: FrozenLinear) {
        inner.initialize(parameters, generator: &generator, spec: spec, base: base)
        let bound = 1 / Float(entry.inFeatures).squareRoot()
        for index in 0..<entry.tensor("recovery_A1").count {
            parameters[offset("recovery_A1") + index] = generator.nextFloat(in: -bound..<bound)
        }
    }

    func forward(x: UnsafePointer<Float>, parameters: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                 call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>, base: FrozenLinear) {
        inner.forward(x: x, parameters: parameters, into: y, call: call, dropoutSeed: dropoutSeed, scratch: scratch, base: base)
        let (rows, r) = (call.rows, recovery.rank)
        let hidden = scratch, activated = scratch + rows * r
        let a2 = parameters + offset("recovery_A2")
        activate(x, parameters + offset("recovery_A1"), rows: rows, hidden: hidden, activated: activated)
        Matmul.gemm(activated, a2, into: y, m: rows, n: entry.outFeatures, k: r, transposeB: true,
                    lda: r, ldb: r, ldc: entry.outFeatures, alpha: recovery.scale, beta: 1)
    }

    func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, parameters: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>, masks: UnsafePointer<Float>,
                  call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>, base: FrozenLinear) {
        inner.backward(dy: dy, x: x, parameters: parameters, dx: dx, gradients: gradients, masks: masks, call: call,
                       dropoutSeed: dropoutSeed, scratch: scratch, base: base)
        let (rows, r, inFeatures, outFeatures) = (call.rows, recovery.rank, entry.inFeatures, entry.outFeatures)
        let hidden = scratch, activated = scratch + rows * r, hiddenGradient = scratch + 2 * rows * r
        let (a1, a2) = (parameters + offset("recovery_A1"), parameters + offset("recovery_A2"))
        activate(x, a1, rows: rows, hidden: hidden, activated: activated)
        // dA2 += scale·dyᵀ·f(h); d f(h) = scale·dy·A2; dh = d f(h) ⊙ f'(h); dA1 += dhᵀ·x; dx += dh·A1.
        Matmul.gemm(dy, activated, into: gradients + offset("recovery_A2"), m: outFeatures, n: r, k: rows, transposeA: true,
                    transposeB: false, lda: outFeatures, ldb: r, ldc: r, alpha: recovery.scale, beta: 1)
        Matmul.gemm(dy, a2, into: hiddenGradient, m: rows, n: r, k: outFeatures, transposeB: false,
                    lda: outFeatures, ldb: r, ldc: r, alpha: recovery.scale, beta: 0)
        if recovery.activation == .gelu { GELU.backward(hiddenGradient, x: hidden, count: rows * r) }
        Matmul.gemm(hiddenGradient, x, into: gradients + offset("recovery_A1"), m: r, n: inFeatures, k: rows, transposeA: true,
                    transposeB: false, lda: r, ldb: inFeatures, ldc: inFeatures, beta: 1)
        Matmul.gemm(hiddenGradient, a1, into: dx, m: rows, n: inFeatures, k: r, transposeB: false,
                    lda: r, ldb: inFeatures, ldc: inFeatures, beta: 1)
    }

    /// `h = x·A1ᵀ (rows, r)` and `f(h)`.
    private func activate(_ x: UnsafePointer<Float>, _ a1: UnsafePointer<Float>, rows: Int,
                          hidden: UnsafeMutablePointer<Float>, activated: UnsafeMutablePointer<Float>) {
        Matmul.linear(x, a1, into: hidden, rows: rows, inFeatures: entry.inFeatures, outFeatures: recovery.rank)
        switch recovery.activation {
        case .gelu: GELU.forward(hidden, into: activated, count: rows * recovery.rank)
        case .linear: activated.update(from: hidden, count: rows * recovery.rank)
        }
    }

    /// The adapter's merged weight plus the module's `(α/r)·A2·A1` when it is linear; a GELU
    /// module is not a matrix, and exporters refuse it before asking.
    func merge(_ parameters: UnsafePointer<Float>, into weight: inout [Float]) {
        precondition(recovery.activation == .linear, "a GELU recovery module cannot be folded into a weight")
        inner.merge(parameters, into: &weight)
        Matmul.gemm(parameters + offset("recovery_A2"), parameters + offset("recovery_A1"), into: &weight, m: entry.outFeatures,
                    n: entry.inFeatures, k: recovery.rank, transposeB: false, lda: recovery.rank, ldb: entry.inFeatures,
                    ldc: entry.inFeatures, alpha: recovery.scale, beta: 1)
    }
}
