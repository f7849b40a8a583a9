import CKernels

/// llama's gated MLP activation (Shazeer 2020): `a = SiLU(g) ⊙ u`, `SiLU(g) = g · σ(g)`, elementwise
/// over `ComputeThreads`.
public enum SwiGLU {
    /// `a = SiLU(gate) ⊙ up` over `count` elements: the same arithmetic 16 or 8 lanes at a time on
    /// the AVX-512 or AVX2 path (`ttl_swiglu_forward`, the same bits), the remainder here.
    public static func forward(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into a: UnsafeMutablePointer<Float>, count: Int) {
        ComputeThreads.forEachRange(count, grain: 1 << 14) { _, range in
            let vectorized = ttl_swiglu_forward(gate + range.lowerBound, up + range.lowerBound, a + range.lowerBound, range.count)
            for index in (range.lowerBound + vectorized)..<range.upperBound {
                let g = gate[index]
                a[index] = g / (1 + VectorMath.exp(-g)) * up[index]
            }
        }
    }

    /// Writes `dgate` and `dup` for upstream `da`:
    /// `dup = da · SiLU(g)`, `dgate = da · u · σ(g)(1 + g(1 − σ(g)))` (vector lanes as in `forward`).
    public static func backward(
        _ da: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
        gateGradient: UnsafeMutablePointer<Float>, upGradient: UnsafeMutablePointer<Float>, count: Int
    ) {
        ComputeThreads.forEachRange(count, grain: 1 << 14) { _, range in
            let start = range.lowerBound
            let vectorized = ttl_swiglu_backward(da + start, gate + start, up + start, gateGradient + start, upGradient + start, range.count)
            for index in (start + vectorized)..<range.upperBound {
                let g = gate[index]
                let sigmoid = 1 / (1 + VectorMath.exp(-g))
                upGradient[index] = da[index] * g * sigmoid
                gateGradient[index] = da[index] * up[index] * sigmoid * (1 + g * (1 - sigmoid))
            }
        }
    }
}
