import Foundation
import Llama

/// Finite-difference checks of backward passes, shared by the test targets.
///
/// Everything computes in Float, so losses are summed in Double and two kinds of check are used:
/// per coordinate (`coordinateError`) for small kernels with inputs of order 1, and along one
/// direction (`directionalDerivative`) through a whole model, where a single coordinate's change
/// would drown in Float rounding.
public enum FiniteDifferences {
    /// Relative error ‖fd − analytic‖ / ‖analytic‖ over `indices` of `input`, by central
    /// differences of `step` (1e-2 suits inputs of order 1: truncation O(h²) ≈ 1e-4 relative,
    /// Float rounding ~1e-7/h ≈ 1e-5).
    public static func coordinateError(
        input: inout [Float], indices: [Int], analytic: [Float], step: Float = 1e-2, loss: ([Float]) -> Double
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

    /// `L = Σ cᵢ·yᵢ` in Double: a loss whose gradient with respect to `y` is `c`.
    public static func probe(_ output: [Float], _ coefficients: [Float]) -> Double {
        zip(output, coefficients).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// `u = g/rms(g) + r` with `r` uniform in ±1 (times `mask` where given): the gradient part
    /// makes the directional derivative large (≈ n·rms(g)) so Float rounding of the loss is far
    /// below 1e-3 of it; the random part keeps the check sensitive to errors orthogonal to `g`.
    public static func direction(along gradient: [Float], seed: UInt64, mask: [Float]? = nil) -> [Float] {
        var random = TestRandom(seed: seed)
        let rms = (gradient.reduce(0) { $0 + $1 * $1 } / Float(gradient.count)).squareRoot()
        return gradient.indices.map { (gradient[$0] / rms + random.next()) * (mask?[$0] ?? 1) }
    }

    /// `(L(x + h·u) − L(x − h·u)) / 2h` and `⟨g, u⟩`, where `loss(sign)` evaluates at `x + sign·h·u`.
    public static func directionalDerivative(
        gradient: [Float], direction: [Float], step: Float, loss: (Float) throws -> Double
    ) rethrows -> (numeric: Double, analytic: Double) {
        let numeric = (try loss(1) - loss(-1)) / (2 * Double(step))
        let analytic = zip(gradient, direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        return (numeric, analytic)
    }
}

/// Deterministic test data (the project's SplitMix64), so failures reproduce.
public struct TestRandom {
    private var generator: SplitMix64

    public init(seed: UInt64) {
        generator = SplitMix64(seed: seed)
    }

    /// Uniform in [-1, 1).
    public mutating func next() -> Float {
        generator.nextFloat(in: -1..<1)
    }

    public mutating func array(_ count: Int, scale: Float = 1) -> [Float] {
        (0..<count).map { _ in next() * scale }
    }
}
