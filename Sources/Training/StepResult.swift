/// The outcome of a training step that did not diverge.
public struct StepResult: Sendable {
    /// Mean loss per supervised token over all ranks.
    public var loss: Double
    /// Global gradient norm before clipping.
    public var gradNorm: Double
    /// Supervised tokens over all ranks.
    public var tokens: Int
    /// Tokens run through the model over all ranks.
    public var processedTokens: Int
}

/// A step whose loss, gradient or update is NaN or infinite: the run stops with the checkpoints it
/// has (none of which holds a non-finite number: `Checkpoint.write` refuses them).
public struct DivergenceError: Error, CustomStringConvertible, Sendable {
    public var step: Int
    /// What was not finite.
    public var detail: String
    /// The likely cause and what to change, from where the non-finite number appeared.
    public var advice: String
    /// The newest checkpoint written before the step, if any.
    public var lastCheckpoint: String?

    public init(step: Int, detail: String, advice: String) {
        self.step = step
        self.detail = detail
        self.advice = advice
    }

    public var description: String {
        let kept = lastCheckpoint.map { "; the last good checkpoint, \($0), is kept" } ?? "; no checkpoint was written yet"
        return "step \(step): \(detail): training diverged (\(advice))" + kept
    }
}
