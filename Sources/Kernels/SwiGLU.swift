/// llama's gated MLP activation (Shazeer 2020): `a = SiLU(g) ⊙ u`, `SiLU(g) = g · σ(g)`.
public enum SwiGLU {
    public typealias Vector = VectorMath.Vector

    /// `a = SiLU(gate) ⊙ up` over `count` elements.
    public static func forward(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, into a: UnsafeMutablePointer<Float>, count: Int) {
        var index = 0
        let g = UnsafeRawPointer(gate)
        let u = UnsafeRawPointer(up)
        let out = UnsafeMutableRawPointer(a)
        while index + 16 <= count {
            let gates = g.loadUnaligned(fromByteOffset: index * 4, as: Vector.self)
            let ups = u.loadUnaligned(fromByteOffset: index * 4, as: Vector.self)
            let sigmoid = 1 / (1 + VectorMath.exp(-gates))
            out.storeBytes(of: gates * sigmoid * ups, toByteOffset: index * 4, as: Vector.self)
            index += 16
        }
        while index < count {
            let sigmoid = 1 / (1 + VectorMath.exp(Vector(repeating: -gate[index]))[0])
            a[index] = gate[index] * sigmoid * up[index]
            index += 1
        }
    }

    /// Writes `dgate` and `dup` for upstream `da`:
    /// `dup = da · SiLU(g)`, `dgate = da · u · σ(g)(1 + g(1 − σ(g)))`.
    public static func backward(
        _ da: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
        gateGradient: UnsafeMutablePointer<Float>, upGradient: UnsafeMutablePointer<Float>, count: Int
    ) {
        var index = 0
        let d = UnsafeRawPointer(da)
        let g = UnsafeRawPointer(gate)
        let u = UnsafeRawPointer(up)
        let dg = UnsafeMutableRawPointer(gateGradient)
        let du = UnsafeMutableRawPointer(upGradient)
        while index + 16 <= count {
            let upstream = d.loadUnaligned(fromByteOffset: index * 4, as: Vector.self)
            let gates = g.loadUnaligned(fromByteOffset: index * 4, as: Vector.self)
            let ups = u.loadUnaligned(fromByteOffset: index * 4, as: Vector.self)
            let sigmoid = 1 / (1 + VectorMath.exp(-gates))
            du.storeBytes(of: upstream * gates * sigmoid, toByteOffset: index * 4, as: Vector.self)
            dg.storeBytes(of: upstream * ups * sigmoid * (1 + gates * (1 - sigmoid)), toByteOffset: index * 4, as: Vector.self)
            index += 16
        }
        while index < count {
            let sigmoid = 1 / (1 + VectorMath.exp(Vector(repeating: -gate[index]))[0])
            upGradient[index] = da[index] * gate[index] * sigmoid
            gateGradient[index] = da[index] * up[index] * sigmoid * (1 + gate[index] * (1 - sigmoid))
            index += 1
        }
    }
}
