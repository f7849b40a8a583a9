import Foundation
import Kernels

/// AdamW (Loshchilov & Hutter 2019) over the flat adapter buffer, step for step as PyTorch's
/// `torch.optim.AdamW`: decoupled weight decay `p ← p·(1 − lr·λ)`, then
/// `p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)`.
///
/// The moments are two flat buffers beside the parameters (what the checkpoint stores). Entries
/// whose mask is 0 — sparse LoRA's pruned weights — are skipped and their moments kept at zero,
/// so a pruned weight stays exactly zero.
public final class AdamW {
    public struct Settings: Sendable, Equatable {
        public var beta1: Float
        public var beta2: Float
        public var epsilon: Float
        public var weightDecay: Float

        public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
        }
    }

    public let settings: Settings
    /// First and second moments, one entry per parameter.
    public let firstMoment: FloatBuffer
    public let secondMoment: FloatBuffer
    /// Updates taken so far (t in the bias corrections).
    public var steps: Int = 0

    public init(count: Int, settings: Settings) {
        self.settings = settings
        firstMoment = FloatBuffer(count: count)
        secondMoment = FloatBuffer(count: count)
    }

    /// One update of `parameters` from `gradients` at learning rate `rate`.
    public func step(parameters: FloatBuffer, gradients: FloatBuffer, masks: FloatBuffer, rate: Double) {
        precondition(parameters.count == firstMoment.count && gradients.count == parameters.count && masks.count == parameters.count)
        steps += 1
        let (beta1, beta2, epsilon) = (settings.beta1, settings.beta2, settings.epsilon)
        let lr = Float(rate)
        let decay = 1 - lr * settings.weightDecay
        // The bias corrections in Double, as PyTorch computes them in Python floats.
        let bias1 = 1 - Foundation.pow(Double(beta1), Double(steps))
        let bias2Root = Float((1 - Foundation.pow(Double(beta2), Double(steps))).squareRoot())
        let stepSize = Float(rate / bias1)
        let (p, g, mask, m, v) = (parameters.pointer, gradients.pointer, masks.pointer, firstMoment.pointer, secondMoment.pointer)
        for index in 0..<parameters.count where mask[index] != 0 {
            p[index] *= decay
            m[index] = beta1 * m[index] + (1 - beta1) * g[index]
            v[index] = beta2 * v[index] + (1 - beta2) * g[index] * g[index]
            p[index] -= stepSize * m[index] / (v[index].squareRoot() / bias2Root + epsilon)
        }
        for index in 0..<parameters.count where mask[index] == 0 {
            m[index] = 0
            v[index] = 0
        }
    }
}

/// Clipping by global norm, as `torch.nn.utils.clip_grad_norm_`: if ‖g‖ > `maxNorm`, scale `g` by
/// `maxNorm / (‖g‖ + 1e-6)`. Returns ‖g‖ before clipping (the metric logged as grad_norm).
@discardableResult
public func clipGradientNorm(_ gradients: FloatBuffer, maxNorm: Double) -> Double {
    var sum = 0.0
    for index in 0..<gradients.count { sum += Double(gradients.pointer[index]) * Double(gradients.pointer[index]) }
    let norm = sum.squareRoot()
    if maxNorm > 0, norm > maxNorm {
        let factor = Float(maxNorm / (norm + 1e-6))
        for index in 0..<gradients.count { gradients.pointer[index] *= factor }
    }
    return norm
}
