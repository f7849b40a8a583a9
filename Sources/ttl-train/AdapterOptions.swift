import Adapters
import ArgumentParser
import Llama

/// The adapter settings shared by `adapters` and `bench` (a job spec says the same in YAML).
struct AdapterOptions: ParsableArguments {
    @Option(name: .customLong("adapter"), help: ArgumentHelp("Adapter kind.", valueName: "kind"))
    var kind: AdapterSpec.Kind?

    @Option(name: .long, help: "Rank r (LoRA) or TT rank (TT-LoRA).")
    var rank = 8

    @Option(name: .long, help: "Scale α: ΔW = (α/r)·B·A for LoRA, α·TT(cores) for TT-LoRA. (default: the kind's — 2·rank, 1 for TT-LoRA)")
    var alpha: Float?

    @Option(name: .long, help: "LoRA dropout on the adapter input while training (\(AdapterKinds.names { $0.takesDropout })).")
    var dropout: Float = 0

    @Option(name: .long, help: ArgumentHelp("Comma-separated PEFT target names.", valueName: "q_proj,v_proj,…"))
    var targets = "q_proj,v_proj"

    @Option(name: .long, help: ArgumentHelp("Comma-separated decoder layers to adapt (default: all).", valueName: "0,1,…"))
    var layers: String?

    @Option(name: .customLong("tt-factors"), help: ArgumentHelp("TT-LoRA factorisation overrides, e.g. 576=8x8x9,192=4x6x8.", valueName: "dim=AxBxC,…"))
    var tensorTrainFactors: String?

    @Option(name: .customLong("tt-init"), help: "TT-LoRA initialisation: zero-delta (ΔW = 0 at step 0) or random (the reference code's).")
    var tensorTrainInitialization = AdapterSpec.TensorTrainInitialization.zeroDelta

    @Option(name: .customLong("tt-path"), help: "TT-LoRA path (default: the cheaper by FLOP count, per call).")
    var tensorTrainPath: TensorTrain.Path?

    @Option(name: .long, help: "Sparse LoRA: final sparsity of A and B, in [0, 1).")
    var sparsity: Double?

    @Option(name: .customLong("sparsity-start"), help: "Sparse LoRA: step where pruning starts.")
    var sparsityStart = 0

    @Option(name: .customLong("sparsity-end"), help: "Sparse LoRA: step where the final sparsity is reached.")
    var sparsityEnd = 1000

    @Option(name: .customLong("sparsity-every"), help: "Sparse LoRA: re-prune every this many steps.")
    var sparsityEvery = 10

    /// The spec these options describe, or nil without `--adapter`; bad values name the option.
    func spec() throws -> AdapterSpec? {
        guard let kind else { return nil }
        return AdapterSpec(
            kind: kind, rank: rank, alpha: alpha ?? kind.defaultAlpha(rank: rank),
            targets: try AdapterSpec.targets(named: list(targets)), layers: try layers.map { try integers($0, option: "--layers") },
            dropout: dropout,
            tensorTrainFactors: try factorOverrides(), tensorTrainInitialization: tensorTrainInitialization, tensorTrainPath: tensorTrainPath,
            sparsity: sparsity.map { SparsitySchedule(final: $0, startStep: sparsityStart, endStep: sparsityEnd, every: sparsityEvery) })
    }

    private func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    private func integers(_ text: String, option: String) throws -> [Int] {
        try list(text).map { item in
            guard let value = Int(item) else { throw AdapterSpecError(setting: option, problem: "'\(item)' is not an integer") }
            return value
        }
    }

    private func factorOverrides() throws -> [Int: [Int]] {
        guard let tensorTrainFactors else { return [:] }
        var overrides: [Int: [Int]] = [:]
        for item in list(tensorTrainFactors) {
            let parts = item.split(separator: "=")
            guard parts.count == 2, let dimension = Int(parts[0]) else {
                throw AdapterSpecError(setting: "--tt-factors", problem: "'\(item)' is not dim=AxBxC")
            }
            overrides[dimension] = try parts[1].split(separator: "x").map { factor in
                guard let value = Int(factor) else { throw AdapterSpecError(setting: "--tt-factors", problem: "'\(item)' is not dim=AxBxC") }
                return value
            }
        }
        return overrides
    }
}

extension AdapterSpec.Kind: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(rawValue: argument)
    }

    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

extension AdapterSpec.TensorTrainInitialization: ExpressibleByArgument {}

extension TensorTrain.Path: ExpressibleByArgument {}
