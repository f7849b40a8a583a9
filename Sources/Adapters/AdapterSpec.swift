import Llama

/// Which adapter to attach where, as a job spec states it.
public struct AdapterSpec: Sendable, Equatable {
    /// An adapter kind by name: one of `AdapterKinds.all` (so a spec can only name a kind this
    /// ttl-train implements). Each kind's file adds its constant (`.lora`, `.dora`, …).
    public struct Kind: Sendable, Hashable, RawRepresentable, CustomStringConvertible {
        public let rawValue: String

        /// The registered kind named `rawValue`, or nil.
        public init?(rawValue: String) {
            guard AdapterKinds.named(rawValue) != nil else { return nil }
            self.rawValue = rawValue
        }

        init(_ kind: any AdapterKind) {
            rawValue = kind.name
        }

        public static var allCases: [Kind] { AdapterKinds.all.map(Kind.init) }

        /// The implementation: what this kind's tensors, scale, settings and exports are.
        public var method: any AdapterKind { AdapterKinds.named(rawValue)! }

        /// α when the spec or the command line gives none — the one source for both.
        public func defaultAlpha(rank: Int) -> Float { method.defaultAlpha(rank: rank) }

        public var description: String { rawValue }
    }

    /// How TT-LoRA's cores start.
    public enum TensorTrainInitialization: String, Sendable, CaseIterable {
        /// Random cores with the last one zero: ΔW = 0 at step 0, like LoRA's zero `B`. The
        /// default: on the sentiment task it reached 0.73 validation accuracy after 12 steps where
        /// `.random` reached 0.46 (README).
        case zeroDelta = "zero-delta"
        /// The reference code's: all cores random, normalised so ΔW has entries of std 1/√in.
        case random
    }

    /// CA-LoRA's recovery module (arXiv 2307.07705), added to every adapted layer next to the
    /// adapter: `Δy = (α/r)·f(x·A1ᵀ)·A2ᵀ`, `f` GELU or the identity, `A1 (r, in)`, `A2 (out, r)`.
    /// It restores what compression removed that the adapter alone cannot express.
    public struct Recovery: Sendable, Equatable, CustomStringConvertible {
        public enum Activation: String, Sendable, CaseIterable {
            case gelu, linear
        }

        public var rank: Int
        public var alpha: Float
        public var activation: Activation
        /// The decoder layers that get one (of the adapted ones); nil means all — e.g. only the
        /// layers a compression plan changed.
        public var layers: [Int]?

        public init(rank: Int, alpha: Float, activation: Activation, layers: [Int]? = nil) {
            self.rank = rank
            self.alpha = alpha
            self.activation = activation
            self.layers = layers
        }

        /// Whether adapted layer `layer` gets a recovery module.
        public func covers(_ layer: Int) -> Bool {
            layers?.contains(layer) ?? true
        }

        public var scale: Float { alpha / Float(rank) }

        /// `gelu rank 8 alpha 8.0`.
        public var description: String { "\(activation.rawValue) rank \(rank) alpha \(Double(alpha))" }
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
    /// LoRA dropout on the adapter's input (PEFT's `lora_dropout`), active only while
    /// `AdapterSet.dropoutSeed` is set (training).
    public var dropout: Float
    /// TT-LoRA: factorisation of a dimension, overriding `TensorTrainShape.factorize`
    /// (e.g. `[576: [8, 8, 9]]`).
    public var tensorTrainFactors: [Int: [Int]]
    public var tensorTrainInitialization: TensorTrainInitialization
    /// TT-LoRA: force a path; nil picks the cheaper one per call by FLOP count.
    public var tensorTrainPath: TensorTrain.Path?
    /// Sparse LoRA: how sparsity grows.
    public var sparsity: SparsitySchedule?
    /// A recovery module per adapted target in `Recovery.layers` (CA-LoRA), or none.
    public var recovery: Recovery?

    public init(
        kind: Kind, rank: Int, alpha: Float, targets: [LinearSite], layers: [Int]? = nil, dropout: Float = 0,
        tensorTrainFactors: [Int: [Int]] = [:], tensorTrainInitialization: TensorTrainInitialization = .zeroDelta,
        tensorTrainPath: TensorTrain.Path? = nil, sparsity: SparsitySchedule? = nil, recovery: Recovery? = nil
    ) {
        self.kind = kind
        self.rank = rank
        self.alpha = alpha
        self.targets = targets
        self.layers = layers
        self.dropout = dropout
        self.tensorTrainFactors = tensorTrainFactors
        self.tensorTrainInitialization = tensorTrainInitialization
        self.tensorTrainPath = tensorTrainPath
        self.sparsity = sparsity
        self.recovery = recovery
    }

    /// The same adapter without its recovery modules: what a CA-LoRA student inherits from.
    public var withoutRecovery: AdapterSpec {
        var spec = self
        spec.recovery = nil
        return spec
    }

    /// The factors of `dimension` for TT-LoRA: the override if given, else automatic.
    public func factors(of dimension: Int) -> [Int] {
        tensorTrainFactors[dimension] ?? TensorTrainShape.factorize(dimension)
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

    /// The largest rank (LoRA, TT or recovery) a spec may ask for: beyond any useful adapter, and
    /// small enough that no tensor-train core size can overflow.
    public static let maxRank = 4096

    /// Checks the settings against a model, naming the first bad one.
    public func validate(for config: LlamaConfig) throws {
        guard (1...Self.maxRank).contains(rank) else { throw AdapterSpecError(setting: "adapter.rank", problem: "must be in 1...\(Self.maxRank), got \(rank)") }
        guard alpha.isFinite, alpha > 0 else { throw AdapterSpecError(setting: "adapter.alpha", problem: "must be a positive number, got \(alpha)") }
        guard dropout >= 0, dropout < 1 else { throw AdapterSpecError(setting: "adapter.dropout", problem: "must be in [0, 1), got \(dropout)") }
        if dropout > 0 && !kind.method.takesDropout {
            throw AdapterSpecError(setting: "adapter.dropout", problem: "applies to \(AdapterKinds.names { $0.takesDropout }) only")
        }
        guard !targets.isEmpty else { throw AdapterSpecError(setting: "adapter.targets", problem: "names no linear layer") }
        guard Set(targets).count == targets.count else { throw AdapterSpecError(setting: "adapter.targets", problem: "names a layer twice") }
        if kind.method.isMasked {
            guard let sparsity else { throw AdapterSpecError(setting: "adapter.sparsity", problem: "\(kind) needs a sparsity schedule") }
            try sparsity.validate()
        } else if sparsity != nil {
            throw AdapterSpecError(setting: "adapter.sparsity", problem: "applies to \(AdapterKinds.names { $0.isMasked }) only (this adapter is \(kind))")
        }
        try kind.method.validate(self)
        if let recovery {
            guard kind.method.takesRecovery else {
                throw AdapterSpecError(setting: "adapter.recovery", problem: "applies to \(AdapterKinds.names { $0.takesRecovery }) only")
            }
            guard (1...Self.maxRank).contains(recovery.rank) else {
                throw AdapterSpecError(setting: "adapter.recovery.rank", problem: "must be in 1...\(Self.maxRank), got \(recovery.rank)")
            }
            guard recovery.alpha.isFinite, recovery.alpha > 0 else {
                throw AdapterSpecError(setting: "adapter.recovery.alpha", problem: "must be a positive number, got \(recovery.alpha)")
            }
            if let chosen = recovery.layers {
                let adapted = layers ?? Array(0..<config.layerCount)
                guard !chosen.isEmpty else { throw AdapterSpecError(setting: "adapter.recovery.layers", problem: "is empty") }
                if let bad = chosen.first(where: { !adapted.contains($0) }) {
                    throw AdapterSpecError(setting: "adapter.recovery.layers", problem: "layer \(bad) is not an adapted layer")
                }
            }
        }
        for (dimension, factors) in tensorTrainFactors.sorted(by: { $0.key < $1.key }) {
            let product = TensorTrainShape.product(of: factors)
            guard !factors.isEmpty, product == dimension else {
                let result = product.map { "multiply to \($0)" } ?? "are not positive factors with a product that fits an integer"
                throw AdapterSpecError(setting: "adapter.tt.factors.\(dimension)", problem: "\(factors) \(result), not \(dimension)")
            }
        }
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
