import Foundation

/// The learning rate per optimizer step, as Hugging Face's schedulers define it (so a PEFT user's
/// numbers carry over): linear warm-up from 0 over `warmupSteps`, then constant, linear decay to 0
/// at `totalSteps`, or cosine decay to 0 at `totalSteps`.
public struct LearningRateSchedule: Sendable, Equatable {
    public enum Shape: String, Sendable, CaseIterable {
        case constant, linear, cosine
    }

    public var shape: Shape
    public var peak: Double
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(shape: Shape, peak: Double, warmupSteps: Int, totalSteps: Int) {
        self.shape = shape
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The rate for the update of step `step` (0-based).
    public func rate(at step: Int) -> Double {
        if step < warmupSteps { return peak * Double(step) / Double(max(1, warmupSteps)) }
        let decaySteps = Double(max(1, totalSteps - warmupSteps))
        let progress = Double(step - warmupSteps) / decaySteps
        switch shape {
        case .constant: return peak
        case .linear: return peak * max(0, 1 - progress)
        case .cosine: return peak * max(0, 0.5 * (1 + Foundation.cos(Double.pi * min(progress, 1))))
        }
    }
}
