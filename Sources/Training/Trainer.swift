import Adapters
import Distributed
import Foundation
import Kernels
import Llama

/// The data-parallel training loop: every rank holds the frozen base model and the same adapters;
/// per step each rank runs its share of the micro-batches, one reduction sums the gradients, and
/// every rank takes the same AdamW step. See docs/DESIGN.md, "One training step".
public final class Trainer {
    public let spec: JobSpec
    public let communicator: Communicator
    public let model: LlamaModel
    public let adapters: AdapterSet
    public let optimizer: AdamW
    public let resolved: JobSpec.Resolved
    /// CA-LoRA's teacher, when the job is compression-aware.
    let teacher: DistillationTeacher?
    private let reducer: GradientReducer
    private let sampler: ExampleSampler
    private let accumulation: Int

    /// Loads the model and data named by `spec` (`file` names the spec in errors) and initialises
    /// the adapters on rank 0, broadcasting them so every rank starts from the same bits.
    /// `weights` replaces the spec's model weights with a variant of the same model (the
    /// compression sweep's in-memory decompositions); checkpoints still name the spec's model.
    public init(spec: JobSpec, file: String, communicator: Communicator, weights: LlamaWeights? = nil) throws {
        self.spec = spec
        self.communicator = communicator
        communicator.timeout = spec.comm.startupTimeout
        communicator.activity = "starting"
        accumulation = try spec.accumulation(worldSize: communicator.size)
        let resolved = try spec.resolve(file: file)
        self.resolved = resolved
        precondition(weights.map { $0.config == resolved.model.config } ?? true, "weights of another architecture")
        // The frozen weights: one copy per node, shared by its ranks (private for a single process).
        let memory = try communicator.nodeWeightMemory()
        model = LlamaModel(
            weights: try weights ?? LlamaWeights(file: resolved.model, memory: memory),
            maxTokens: spec.batch.micro * spec.batch.maxLength,
            maxSequenceLength: spec.batch.maxLength, trainable: true, recompute: spec.recompute)
        optimizer = AdamW(count: resolved.layout.parameterCount, settings: spec.optimizer.adam)
        // Packed, a step has at most one micro-batch per example, plus an empty one on each rank
        // left without any (world ≤ global): 2·global bounds both for any world size.
        let microBatchesPerStep = spec.batch.packing ? 2 * spec.batch.global : spec.batch.global / spec.batch.micro
        reducer = GradientReducer(
            communicator: communicator, microBatchesPerStep: microBatchesPerStep, mode: spec.reduction)
        sampler = ExampleSampler(exampleCount: resolved.train.count, seed: spec.seed)
        teacher = try resolved.teacher.map {
            try DistillationTeacher(
                $0, weight: spec.compressionAware!.distillWeight, klWeight: spec.compressionAware!.klWeight,
                maxTokens: spec.batch.micro * spec.batch.maxLength,
                maxSequenceLength: spec.batch.maxLength, memory: memory)
        }
        // Rank 0's starting adapters, broadcast below; the others' are overwritten.
        adapters =
            communicator.isRoot
            ? .starting(resolved.layout, spec: spec, model: model, teacher: teacher?.adapters)
            : AdapterSet(layout: resolved.layout, maxRows: spec.batch.maxLength)
        model.linearHook = adapters
        try broadcastParameters()
    }

    /// Rank 0's parameters on every rank, checked by an all-gather of a checksum.
    private func broadcastParameters() throws {
        var values = adapters.parameters.array()
        try communicator.broadcast(&values, root: 0)
        adapters.parameters.copy(from: values)
        let checksum = values.reduce(UInt64(0)) { $0 &* 31 &+ UInt64($1.bitPattern) }
        let all = try communicator.allgather([Int64(bitPattern: checksum)])
        guard Set(all.map { $0[0] }).count == 1 else {
            throw TrainerError(problem: "ranks disagree on the initial adapters after the broadcast")
        }
    }

    /// This rank's micro-batches of step `step`, by their index in the step: `micro` examples
    /// each, the rank's consecutive share; packed, every rank-th of the step's token-budgeted
    /// micro-batches.
    func microBatches(step: Int) -> [(index: Int, examples: [Int])] {
        guard spec.batch.packing else {
            return (0..<accumulation).map { local in
                let index = communicator.rank * accumulation + local
                let examples = sampler.microBatch(
                    step: step, index: index, globalBatch: spec.batch.global, microBatch: spec.batch.micro)
                return (index, examples)
            }
        }
        let train = resolved.train
        let budget = spec.batch.micro * spec.batch.maxLength
        let groups = sampler.packedMicroBatches(step: step, globalBatch: spec.batch.global, tokenBudget: budget) {
            train.offsets[$0 + 1] - train.offsets[$0]
        }
        return groups.enumerated()
            .filter { $0.offset % communicator.size == communicator.rank }
            .map { ($0.offset, $0.element) }
    }

    static func batch(of examples: [Int], in split: TokenDataset.Split) -> (TokenBatch, [LossTarget]) {
        let sequences = examples.map { split.tokens(of: $0) }
        let batch = TokenBatch(sequences: sequences)
        var targets: [LossTarget] = []
        for (sequence, example) in examples.enumerated() {
            for position in split.supervisedPositions(of: example) {
                targets.append(
                    LossTarget(
                        row: batch.row(sequence: sequence, position: position - 1), token: sequences[sequence][position]
                    ))
            }
        }
        return (batch, targets)
    }

    /// One optimizer step: this rank's micro-batches, the reduction, clipping, AdamW, pruning.
    /// Every rank sees the same reduced loss and gradient, so a NaN or infinity stops all of them
    /// alike, before the update touches the adapters.
    public func step(_ step: Int) throws -> StepResult {
        let mine = microBatches(step: step)
        if mine.isEmpty {
            // Packed steps can have fewer micro-batches than ranks: this one adds zeros, so the
            // reduction still sees a gradient of the step's size from every rank.
            adapters.zeroGradients()
            reducer.add(gradient: adapters.packedGradients(), lossSum: 0, tokens: 0)
        }
        for (index, examples) in mine {
            let (batch, targets) = Self.batch(of: examples, in: resolved.train)
            adapters.zeroGradients()
            adapters.dropoutSeed = spec.seed ^ (UInt64(step) << 24) ^ UInt64(index)
            let loss = try lossAndGradients(batch, targets)
            reducer.add(
                gradient: adapters.packedGradients(), lossSum: loss, tokens: targets.count, processedTokens: batch.count
            )
        }
        adapters.dropoutSeed = nil
        let reduced: GradientReducer.Step
        do {
            reduced = try communicator.during("step \(step + 1): gradient reduction") { try reducer.reduce() }
        } catch GradientReducerError.nonFinite {
            throw DivergenceError(
                step: step + 1, detail: "a loss or gradient is NaN or infinite", advice: lossAdvice(step))
        }
        let tokens = max(reduced.tokens, 1)
        adapters.unpackGradients(reduced.gradient.map { $0 / Float(tokens) })
        let loss = reduced.lossSum / Double(tokens)
        let norm = clipGradientNorm(adapters.gradients, maxNorm: spec.optimizer.maxGradNorm)
        guard loss.isFinite, norm.isFinite else {
            throw DivergenceError(
                step: step + 1, detail: "loss \(loss), gradient norm \(norm)", advice: lossAdvice(step))
        }
        optimizer.step(
            parameters: adapters.parameters, gradients: adapters.gradients, masks: adapters.masks,
            rate: spec.schedule.rate(at: step))
        if let bad = adapters.parameters.firstNonFinite() {
            throw DivergenceError(
                step: step + 1,
                detail:
                    "the AdamW update made \(adapters.layout.tensorName(at: bad)) \(adapters.parameters.pointer[bad])",
                advice:
                    "check optimizer.eps, betas and weight_decay; the adapters in memory are lost, the checkpoints are "
                        + "not"
            )
        }
        adapters.prune(step: step + 1)
        return StepResult(loss: loss, gradNorm: norm, tokens: reduced.tokens, processedTokens: reduced.processedTokens)
    }
}

extension Trainer {
    /// What a non-finite loss or gradient at `step` most likely means: before the adapters moved
    /// (a fresh run's first step) it comes from the model or the data; later, from the updates.
    func lossAdvice(_ step: Int) -> String {
        step == 0 ? "before any update: check the model and the data" : "try a lower optimizer.lr"
    }

    /// One micro-batch: forward, the summed loss over its supervised tokens (cross-entropy, plus
    /// the distillation term of a compression-aware job), and backward, adding the parameter
    /// gradients of that sum to the adapters' gradient buffer.
    public func lossAndGradients(_ batch: TokenBatch, _ targets: [LossTarget]) throws -> Double {
        try model.forward(batch)
        var loss = try model.crossEntropy(targets, gradientScale: 1)
        if let teacher { loss += try teacher.distill(into: model, batch: batch, rows: targets.map(\.row)) }
        model.backward()
        return loss
    }
}

/// A training failure that is not about a file or a setting.
public struct TrainerError: Error, CustomStringConvertible, Sendable {
    public let problem: String

    public init(problem: String) {
        self.problem = problem
    }

    public var description: String { problem }
}
