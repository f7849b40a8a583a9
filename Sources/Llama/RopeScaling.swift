import Foundation

/// How a model rescales RoPE's frequencies to reach past the context it was pre-trained on
/// (transformers' `rope_parameters` / `rope_scaling`). Only the frequencies change; the rotation
/// itself is `RotaryEmbedding`'s.
public enum RopeScaling: Equatable, Sendable {
    /// `θ^(−2i/d)` as they are.
    case none
    /// Every frequency divided by `factor` (position interpolation, `rope_type: linear`).
    case linear(factor: Double)
    /// Llama 3.1's rule (`rope_type: llama3`): wavelengths shorter than
    /// `originalContext / highFrequencyFactor` keep their frequency, those longer than
    /// `originalContext / lowFrequencyFactor` are divided by `factor`, and the band between
    /// blends the two linearly in `originalContext / wavelength`.
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalContext: Int)

    /// transformers' name for the scaling (`rope_type`).
    public var typeName: String {
        switch self {
        case .none: return "default"
        case .linear: return "linear"
        case .llama3: return "llama3"
        }
    }

    /// The `headDim / 2` angular frequencies of RoPE with base `theta` under this scaling.
    public func inverseFrequencies(headDim: Int, theta: Double) -> [Double] {
        let base = (0..<(headDim / 2)).map { Foundation.pow(theta, -2 * Double($0) / Double(headDim)) }
        switch self {
        case .none:
            return base
        case .linear(let factor):
            return base.map { $0 / factor }
        case .llama3(let factor, let low, let high, let original):
            let context = Double(original)
            return base.map { frequency in
                let wavelength = 2 * Double.pi / frequency
                if wavelength < context / high { return frequency }
                if wavelength > context / low { return frequency / factor }
                let smooth = (context / wavelength - low) / (high - low)
                return (1 - smooth) * frequency / factor + smooth * frequency
            }
        }
    }

    /// Checks the parameters, naming the first bad one as its model-file attribute.
    func validate(file: String) throws {
        func bad(_ key: String, _ reason: String) -> ModelFileError {
            .invalidConfig(file: file, key: key, reason: reason)
        }
        switch self {
        case .none:
            return
        case .linear(let factor):
            guard factor >= 1, factor <= 1e6 else { throw bad("rope_factor", "is \(factor), not in 1…1e6") }
        case .llama3(let factor, let low, let high, let original):
            guard factor >= 1, factor <= 1e6 else { throw bad("rope_factor", "is \(factor), not in 1…1e6") }
            guard low > 0, low.isFinite else { throw bad("rope_low_freq_factor", "is \(low), not positive") }
            guard high > low, high.isFinite else {
                throw bad("rope_high_freq_factor", "is \(high), not above rope_low_freq_factor \(low)")
            }
            guard original >= 1 else {
                throw bad("rope_original_max_position_embeddings", "is \(original), not positive")
            }
        }
    }
}
