import Foundation
import Kernels
import Llama

/// DoRA (Liu et al., ICML 2024, arXiv 2402.09353) as PEFT computes it: the adapted weight is
/// `W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖`, the norm per output row, `s = α/r`, a magnitude `m (out)`
/// that starts at the base's row norms, and LoRA's `A`, `B`. PEFT treats the norm as a constant in
/// backward (`weight_norm.detach()`, §4.3 of the paper), so the gradients here do too.
struct DoRAKind: AdapterKind {
    var name: String { "dora" }
    var summary: String { "DoRA: W' = m ⊙ (W + (α/r)·B·A) / ‖W + (α/r)·B·A‖ per output row" }

    /// PEFT re-runs the base layer on the dropped-out input when DoRA has dropout; we keep DoRA
    /// to the exact, dropout-free form.
    var takesDropout: Bool { false }
    var isMasked: Bool { false }
    var takesRecovery: Bool { false }

    func tensorShapes(rank: Int, inFeatures: Int, outFeatures: Int, attributes: [String: [Int]]) -> [(name: String, shape: [Int])] {
        LoRA.shapes(rank: rank, inFeatures: inFeatures, outFeatures: outFeatures) + [("magnitude", [outFeatures])]
    }

    func makeAdapter(entry: AdapterEntry, spec: AdapterSpec) -> Adapter {
        DoRAAdapter(entry: entry)
    }

    /// LoRA's tensors, `use_dora`, and the magnitude under the name PEFT saves it
    /// (`…q_proj.lora_magnitude_vector`, shape `(out,)`).
    func peftModule(_ adapter: StoredAdapter) throws -> PEFTModule {
        guard let magnitude = adapter.tensor("magnitude") else { throw AdapterKindError("\(adapter.target) has no magnitude") }
        var module = try LoRA.peftModule(adapter, useDora: true, method: "DoRA of rank \(adapter.rank) (PEFT `use_dora`)")
        module.tensors.append(("lora_magnitude_vector", magnitude.shape, magnitude.values))
        return module
    }
}

extension AdapterSpec.Kind {
    public static let dora = Self(DoRAKind())
}

/// One DoRA layer. With `c = m / ‖W + s·B·A‖` (per output row) the output is
/// `y = c ⊙ (x·Wᵀ + s·(x·Aᵀ)·Bᵀ)` — PEFT's `(c − 1) ⊙ base + c ⊙ s·lora` added to the base.
/// The norm comes from `‖W_o‖² + 2s·B_o·(A·W_oᵀ) + s²·B_o·(A·Aᵀ)·B_oᵀ`, which needs `W` only
/// through one product (`A·Wᵀ`) and its fixed row norms, whatever its storage.
struct DoRAAdapter: Adapter {
    let entry: AdapterEntry

    private var out: Int { entry.outFeatures }
    private var rank: Int { entry.rank }

    func scratchCount(rows: Int) -> Int {
        rank * out + 2 * out + 2 * rows * out + 2 * rows * rank
    }

    /// `A` as LoRA's, `B` zero, `m` the base's row norms: `c = 1`, so the model starts unchanged.
    func initialize(_ parameters: UnsafeMutablePointer<Float>, generator: inout SplitMix64, spec: AdapterSpec, base: FrozenLinear) {
        let bound = 1 / Float(entry.inFeatures).squareRoot()
        for index in 0..<entry.tensor("A").count { parameters[offset("A") + index] = generator.nextFloat(in: -bound..<bound) }
        for (row, squared) in base.rowSquaredNorms().enumerated() { parameters[offset("magnitude") + row] = Float(squared.squareRoot()) }
    }

    /// Writes `c` and `‖W + s·B·A‖` per output row to `factors` and `norms`; `product` is scratch
    /// of `r·out`.
    private func scaleFactors(_ parameters: UnsafePointer<Float>, base: FrozenLinear, product: UnsafeMutablePointer<Float>,
                              factors: UnsafeMutablePointer<Float>, norms: UnsafeMutablePointer<Float>) {
        let (a, b, m) = (parameters + offset("A"), parameters + offset("B"), parameters + offset("magnitude"))
        let (inFeatures, s) = (entry.inFeatures, Double(entry.scale))
        base.product(a, rows: rank, into: product)
        var gram = [Double](repeating: 0, count: rank * rank)
        for k in 0..<rank {
            for l in k..<rank {
                var sum = 0.0
                for i in 0..<inFeatures { sum += Double(a[k * inFeatures + i]) * Double(a[l * inFeatures + i]) }
                (gram[k * rank + l], gram[l * rank + k]) = (sum, sum)
            }
        }
        let squared = base.rowSquaredNorms()
        for o in 0..<out {
            var cross = 0.0, quadratic = 0.0
            for k in 0..<rank {
                let bk = Double(b[o * rank + k])
                guard bk != 0 else { continue }
                cross += bk * Double(product[k * out + o])
                for l in 0..<rank { quadratic += bk * gram[k * rank + l] * Double(b[o * rank + l]) }
            }
            let norm = Float((squared[o] + 2 * s * cross + s * s * quadratic).squareRoot())
            norms[o] = norm
            factors[o] = m[o] / norm
        }
    }

    func forward(x: UnsafePointer<Float>, parameters: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                 call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>, base: FrozenLinear) {
        let factors = scratch + rank * out, norms = factors + out, t = norms + out
        scaleFactors(parameters, base: base, product: scratch, factors: factors, norms: norms)
        LoRA.forward(x: x, a: parameters + offset("A"), b: parameters + offset("B"), into: y, t: t, rows: call.rows,
                     inFeatures: entry.inFeatures, outFeatures: out, rank: rank, scale: entry.scale)
        for row in 0..<call.rows {
            for o in 0..<out { y[row * out + o] *= factors[o] }
        }
    }

    /// With `c` constant: `dm_o += Σ_rows dy·(x·Wᵀ + s·lora)_o / ‖·‖_o`, `dx += ((c − 1) ⊙ dy)·W`
    /// (the model added `dy·W`), and LoRA's gradients for the upstream `c ⊙ dy`.
    func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, parameters: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>, masks: UnsafePointer<Float>,
                  call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>, base: FrozenLinear) {
        let rows = call.rows
        let factors = scratch + rank * out, norms = factors + out
        let unscaled = norms + out, upstream = unscaled + rows * out, t = upstream + rows * out, dt = t + rows * rank
        let (a, b) = (parameters + offset("A"), parameters + offset("B"))
        scaleFactors(parameters, base: base, product: scratch, factors: factors, norms: norms)
        base.product(x, rows: rows, into: unscaled)
        LoRA.forward(x: x, a: a, b: b, into: unscaled, t: t, rows: rows, inFeatures: entry.inFeatures, outFeatures: out,
                     rank: rank, scale: entry.scale)
        let magnitudeGradient = gradients + offset("magnitude")
        for o in 0..<out {
            var sum: Float = 0
            for row in 0..<rows { sum += dy[row * out + o] * unscaled[row * out + o] }
            magnitudeGradient[o] += sum / norms[o]
        }
        for row in 0..<rows {
            for o in 0..<out { upstream[row * out + o] = (factors[o] - 1) * dy[row * out + o] }
        }
        base.productBackward(upstream, rows: rows, into: dx, accumulate: true)
        for row in 0..<rows {
            for o in 0..<out { upstream[row * out + o] = factors[o] * dy[row * out + o] }
        }
        LoRA.backward(dy: upstream, x: x, a: a, b: b, dx: dx, da: gradients + offset("A"), db: gradients + offset("B"), t: t, dt: dt,
                      rows: rows, inFeatures: entry.inFeatures, outFeatures: out, rank: rank, scale: entry.scale)
    }

    /// `W'_o = m_o · (W_o + s·(B·A)_o) / ‖W_o + s·(B·A)_o‖`, the norm taken of the merged row itself.
    func merge(_ parameters: UnsafePointer<Float>, into weight: inout [Float]) {
        add(LoRA.product(parameters + offset("B"), parameters + offset("A"), entry: entry), into: &weight)
        let (inFeatures, m) = (entry.inFeatures, parameters + offset("magnitude"))
        for o in 0..<out {
            let row = (o * inFeatures)..<((o + 1) * inFeatures)
            let norm = Float(weight[row].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot())
            for index in row { weight[index] *= m[o] / norm }
        }
    }
}
