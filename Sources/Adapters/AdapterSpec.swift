import Llama

/// Which adapter to attach where, as a job spec states it.
public struct AdapterSpec: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case lora
    }

    public var kind: Kind
    /// LoRA rank r.
    public var rank: Int
    /// LoRA scale numerator: ΔW = (α/r)·B·A, as in PEFT.
    public var alpha: Float
    /// Linear layers to adapt, by PEFT name (`q_proj`, `v_proj`, …).
    public var targets: [LinearSite]
    /// Decoder layers to adapt; nil means all.
    public var layers: [Int]?

    public init(kind: Kind, rank: Int, alpha: Float, targets: [LinearSite], layers: [Int]? = nil) {
        self.kind = kind
        self.rank = rank
        self.alpha = alpha
        self.targets = targets
        self.layers = layers
    }

    /// Parses PEFT-style target names (`q_proj,v_proj`), naming an unknown one.
    public static func targets(named names: [String]) throws -> [LinearSite] {
        try names.map { name in
            guard let site = LinearSite(rawValue: name) else {
                throw AdapterSpecError(setting: "adapter.targets",
                                       problem: "unknown target '\(name)' (expected one of \(LinearSite.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return site
        }
    }

    /// Checks the settings against a model, naming the first bad one.
    public func validate(for config: LlamaConfig) throws {
        guard rank >= 1 else { throw AdapterSpecError(setting: "adapter.rank", problem: "must be at least 1, got \(rank)") }
        guard alpha.isFinite, alpha > 0 else { throw AdapterSpecError(setting: "adapter.alpha", problem: "must be a positive number, got \(alpha)") }
        guard !targets.isEmpty else { throw AdapterSpecError(setting: "adapter.targets", problem: "names no linear layer") }
        guard Set(targets).count == targets.count else { throw AdapterSpecError(setting: "adapter.targets", problem: "names a layer twice") }
        if let layers {
            guard !layers.isEmpty else { throw AdapterSpecError(setting: "adapter.layers", problem: "is empty") }
            if let bad = layers.first(where: { $0 < 0 || $0 >= config.layerCount }) {
                throw AdapterSpecError(setting: "adapter.layers", problem: "layer \(bad) does not exist (the model has 0..<\(config.layerCount))")
            }
        }
    }
}

/// A bad adapter setting: which one and why.
public struct AdapterSpecError: Error, Equatable, CustomStringConvertible, Sendable {
    public let setting: String
    public let problem: String

    public init(setting: String, problem: String) {
        self.setting = setting
        self.problem = problem
    }

    public var description: String { "\(setting): \(problem)" }
}
