import CKernels

/// Fast `exp` and the reductions around it, for the softmaxes and SiLU, which otherwise spend
/// more time in scalar libm `expf` than in the matrix products around them.
///
/// `exp` is branch-free scalar code the compiler vectorises inside the loops below: Cody–Waite
/// range reduction `x = n·ln2 + r` (|r| ≤ ln2/2, `n` rounded with the 1.5·2²³ trick, so no
/// float-to-int conversion), a degree-6 polynomial for `e^r` (relative error < 5e-7, checked
/// against `Foundation.exp` in the tests), and `2^n` written into the exponent bits. Inputs below
/// −87.33 give 0 and above 88.72 +inf; between 88.37 and 88.72 it saturates at e^88.37 ≈ 2.6e38
/// (softmax and SiLU never get there).
public enum VectorMath {
    private static let roundingMagic: Float = 12_582_912  // 1.5·2²³: adding it rounds to an integer

    @inline(__always)
    public static func exp(_ x: Float) -> Float {
        let clamped = Swift.min(Swift.max(x, -87.33), 88.37)
        let shifted = clamped * 1.442_695_04 + roundingMagic
        let n = shifted - roundingMagic
        var r = clamped - n * 0.693_145_75
        r -= n * 1.428_606_8e-6
        var p: Float = 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let exponent = (shifted.bitPattern &- roundingMagic.bitPattern &+ 127) &<< 23
        let result = p * Float(bitPattern: exponent)
        return x < -87.33 ? 0 : (x > 88.72 ? .infinity : result)
    }

    /// `y[i] = exp(x[i] − shift)` for `count` elements (`y` may be `x`); returns their sum in
    /// Double, so long vocabulary rows keep full precision. 16 or 8 lanes at a time on the AVX-512
    /// or AVX2 path (`ttl_exp_shifted`, the same bits).
    @inline(__always)
    public static func expShifted(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Double {
        let vectorized = ttl_exp_shifted(x, y, count, shift)
        for index in vectorized..<count { y[index] = exp(x[index] - shift) }
        return sum(y, count: count)
    }

    /// `values[i] = scale · exp(values[i] − shift)` for `count` elements (a softmax's gradient).
    @inline(__always)
    public static func scaledExpShifted(_ values: UnsafeMutablePointer<Float>, count: Int, shift: Float, scale: Float) {
        let vectorized = ttl_exp_shifted_scaled(values, count, shift, scale)
        for index in vectorized..<count { values[index] = scale * exp(values[index] - shift) }
    }

    /// The sum of `count` elements, eight running partial sums (Float) folded into a Double.
    @inline(__always)
    public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Double {
        var partial = SIMD8<Float>()
        var index = 0
        while index + 8 <= count {
            partial += SIMD8(x[index], x[index + 1], x[index + 2], x[index + 3],
                             x[index + 4], x[index + 5], x[index + 6], x[index + 7])
            index += 8
        }
        var total = 0.0
        for lane in 0..<8 { total += Double(partial[lane]) }
        while index < count {
            total += Double(x[index])
            index += 1
        }
        return total
    }

    /// The largest of `count` elements.
    @inline(__always)
    public static func maximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = (-Float.infinity, -Float.infinity, -Float.infinity, -Float.infinity)
        var index = 0
        while index + 4 <= count {
            lanes.0 = Swift.max(lanes.0, x[index])
            lanes.1 = Swift.max(lanes.1, x[index + 1])
            lanes.2 = Swift.max(lanes.2, x[index + 2])
            lanes.3 = Swift.max(lanes.3, x[index + 3])
            index += 4
        }
        var best = Swift.max(Swift.max(lanes.0, lanes.1), Swift.max(lanes.2, lanes.3))
        while index < count {
            best = Swift.max(best, x[index])
            index += 1
        }
        return best
    }
}
