import Foundation

/// Finite-difference checks of the kernels' backward passes.
///
/// The kernels compute in Float, so the probe loss `L = Σ cᵢ·yᵢ` (fixed random `c`) is summed in
/// Double and central differences use a step of 1e-2 on inputs of order 1: the truncation error is
/// O(h²) ≈ 1e-4 relative and Float rounding contributes ~1e-7/h ≈ 1e-5, well inside the 1e-3 bar.
enum GradientCheck {
    static let step: Float = 1e-2

    /// Relative error ‖fd − analytic‖ / ‖analytic‖ over `indices` of `input`.
    static func relativeError(
        input: inout [Float], indices: [Int], analytic: [Float], loss: ([Float]) -> Double
    ) -> Double {
        var difference = 0.0
        var norm = 0.0
        for index in indices {
            let original = input[index]
            input[index] = original + step
            let plus = loss(input)
            input[index] = original - step
            let minus = loss(input)
            input[index] = original
            let numeric = (plus - minus) / (2 * Double(step))
            difference += (numeric - Double(analytic[index])) * (numeric - Double(analytic[index]))
            norm += Double(analytic[index]) * Double(analytic[index])
        }
        return (difference / max(norm, 1e-30)).squareRoot()
    }

    /// `L = Σ cᵢ·yᵢ` in Double.
    static func probe(_ output: [Float], _ coefficients: [Float]) -> Double {
        zip(output, coefficients).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }
}

/// Deterministic test data (SplitMix64), so failures reproduce.
struct TestRandom {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> Float {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Float(z >> 40) / Float(1 << 24) * 2 - 1
    }

    mutating func array(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in next() * scale }
    }

    mutating func indices(_ count: Int, below bound: Int) -> [Int] {
        (0..<count).map { _ in Int((next() + 1) / 2 * Float(bound)) % bound }
    }
}
