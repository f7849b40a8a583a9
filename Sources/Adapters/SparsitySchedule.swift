/// Sparse LoRA's pruning schedule: the cubic ramp of Zhu & Gupta (2017), as the seed "SALOR"
/// method uses it — sparsity `s_t = s_f + (s_i − s_f)·(1 − (t − t₀)/(t₁ − t₀))³` from step `t₀` to
/// `t₁`, re-pruning every `every` steps (and at `t₁`).
public struct SparsitySchedule: Sendable, Equatable {
    public var initial: Double
    public var final: Double
    public var startStep: Int
    public var endStep: Int
    public var every: Int

    public init(initial: Double = 0, final: Double, startStep: Int, endStep: Int, every: Int) {
        self.initial = initial
        self.final = final
        self.startStep = startStep
        self.endStep = endStep
        self.every = every
    }

    /// Target sparsity at `step`.
    public func sparsity(at step: Int) -> Double {
        if step <= startStep { return initial }
        if step >= endStep { return final }
        let progress = Double(step - startStep) / Double(endStep - startStep)
        let remaining = 1 - progress
        return final + (initial - final) * remaining * remaining * remaining
    }

    /// Whether masks are recomputed at `step`.
    public func prunes(at step: Int) -> Bool {
        guard step >= startStep, step <= endStep else { return false }
        return step == endStep || (step - startStep) % every == 0
    }

    /// Entries a tensor of `count` keeps (nonzero) at sparsity `sparsity`.
    public static func kept(count: Int, sparsity: Double) -> Int {
        count - Int((sparsity * Double(count)).rounded())
    }

    func validate() throws {
        func fraction(_ value: Double, _ name: String) throws {
            guard value >= 0, value < 1 else {
                throw AdapterSpecError(setting: "adapter.sparsity.\(name)", problem: "must be in [0, 1), got \(value)")
            }
        }
        try fraction(initial, "initial")
        try fraction(final, "final")
        guard final >= initial else { throw AdapterSpecError(setting: "adapter.sparsity.final", problem: "must be at least the initial sparsity \(initial)") }
        guard startStep >= 0, endStep > startStep else {
            throw AdapterSpecError(setting: "adapter.sparsity.end_step", problem: "must come after start_step \(startStep), got \(endStep)")
        }
        guard every >= 1 else { throw AdapterSpecError(setting: "adapter.sparsity.every", problem: "must be at least 1, got \(every)") }
    }
}
