/// Vectorised `exp` for the softmaxes and SiLU, which otherwise spend more time in scalar libm
/// `expf` than in all the small matrix products around them.
///
/// Cody–Waite range reduction `x = n·ln2 + r`, |r| ≤ ln2/2, a degree-6 polynomial for `e^r`
/// (relative error < 5e-7, checked against `Foundation.exp` in the tests), and `2^n` assembled in
/// the exponent bits. Inputs below −87.33 give 0 and above 88.72 +inf; the sliver in between
/// 88.37 and 88.72 saturates at e^88.37 ≈ 2.6e38 (softmax and SiLU never get there).
public enum VectorMath {
    public typealias Vector = SIMD16<Float>

    @inline(__always)
    public static func exp(_ x: Vector) -> Vector {
        let clamped = x.clamped(lowerBound: Vector(repeating: -87.33), upperBound: Vector(repeating: 88.37))
        let n = (clamped * 1.442_695_04).rounded(.toNearestOrEven)
        var r = clamped - n * 0.693_145_75
        r = r - n * 1.428_606_8e-6
        var p = Vector(repeating: 1.0 / 720)
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let exponent = (SIMD16<Int32>(n, rounding: .towardZero) &+ 127) &<< 23
        let scale = unsafeBitCast(exponent, to: Vector.self)
        var result = p * scale
        result.replace(with: 0, where: x .< -87.33)
        result.replace(with: Float.infinity, where: x .> 88.72)
        return result
    }

    /// `y[i] = exp(x[i] - shift)` for `count` elements; returns their sum (in Double, so long
    /// vocabulary rows keep full precision).
    @inline(__always)
    public static func expShifted(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Double {
        var index = 0
        var sum = Vector()
        var total = 0.0
        let raw = UnsafeRawPointer(x)
        let out = UnsafeMutableRawPointer(y)
        while index + 16 <= count {
            let value = exp(raw.loadUnaligned(fromByteOffset: index * 4, as: Vector.self) - shift)
            out.storeBytes(of: value, toByteOffset: index * 4, as: Vector.self)
            sum += value
            index += 16
            if index % 1024 == 0 {
                total += Double(sum.sum())
                sum = Vector()
            }
        }
        total += Double(sum.sum())
        while index < count {
            var lane = Vector(repeating: x[index] - shift)
            lane = exp(lane)
            y[index] = lane[0]
            total += Double(lane[0])
            index += 1
        }
        return total
    }

    /// The largest of `count` elements.
    @inline(__always)
    public static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var best = -Float.infinity
        var index = 0
        var lanes = Vector(repeating: -.infinity)
        let raw = UnsafeRawPointer(x)
        while index + 16 <= count {
            lanes = pointwiseMax(lanes, raw.loadUnaligned(fromByteOffset: index * 4, as: Vector.self))
            index += 16
        }
        best = lanes.max()
        while index < count {
            best = Swift.max(best, x[index])
            index += 1
        }
        return best
    }
}
