import Foundation

/// What a run tells its user on rank 0: a line per step, which a terminal rewrites in place, and
/// notes (evaluations, checkpoints, resume decisions) that stay.
public enum TrainingProgress: CustomStringConvertible, Sendable {
    case step(StepProgress)
    case note(String)

    public var description: String {
        switch self {
        case .step(let step): step.description
        case .note(let text): text
        }
    }
}

/// One finished optimizer step as the progress line shows it.
public struct StepProgress: CustomStringConvertible, Sendable {
    public var step: Int
    public var totalSteps: Int
    public var loss: Double
    public var learningRate: Double
    public var gradNorm: Double
    public var tokensPerSecond: Double
    /// Time left at this run's average pace so far (evaluations and checkpoints included).
    public var secondsLeft: Double

    public var description: String {
        String(format: "step %d/%d  loss %.4f  lr %.2e  grad_norm %.3f  %.0f tok/s", step, totalSteps, loss, learningRate,
               gradNorm, tokensPerSecond) + "  ETA " + Self.duration(secondsLeft)
    }

    /// `42s`, `3m05s`, `2h07m`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let whole = Int(seconds.rounded())
        if whole < 60 { return "\(whole)s" }
        if whole < 3600 { return String(format: "%dm%02ds", whole / 60, whole % 60) }
        return String(format: "%dh%02dm", whole / 3600, whole / 60 % 60)
    }
}
