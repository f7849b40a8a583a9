import Adapters
import Compression
import Distributed
import Foundation
import Llama
import SpecFiles
import Training

/// The design-space sweep of arXiv 2405.06626 on our model: for each plan, the base model
/// decomposed in memory, then its size, its perplexity on held-out text, its zero-shot accuracy on
/// a classification job's eval split, and the accuracy with an adapter trained on the
/// uncompressed model (no retraining) — all without writing a model file per plan.
public struct CompressionSweep {
    /// What one plan measured; `plan` is nil for the dense baseline.
    public struct Measurement: Sendable, Equatable {
        public var parameters: Int
        public var perplexity: Double
        public var zeroShotAccuracy: Double
        /// NaN without an adapter checkpoint.
        public var adapterAccuracy: Double
        public var seconds: Double
    }

    public let model: ModelFile
    public let job: JobSpec
    public let heldOut: [Int32]
    public let window: Int
    public let examples: Int
    /// The job's data, read once for every plan.
    private let evaluation: Evaluation
    /// The adapters of the checkpoint (trained on the dense model), read once, or nil.
    private let adapters: AdapterSet?

    public init(model: ModelFile, job: JobSpec, jobFile: String, checkpoint: String?, heldOut: [Int32], window: Int, examples: Int) throws {
        guard job.task == .classification else {
            throw SpecError(file: jobFile, keyPath: "task", problem: "the sweep measures accuracy: use a classification job")
        }
        self.model = model
        self.job = job
        self.heldOut = heldOut
        self.window = min(window, heldOut.count)
        self.examples = examples
        evaluation = Evaluation(dataset: try job.resolve(file: jobFile).dataset, task: job.task, communicator: SingleProcessCommunicator())
        adapters = try checkpoint.map {
            try Checkpoint.adapters(of: $0, config: model.config, modelFingerprint: model.fingerprint, maxRows: job.batch.maxLength)
        }
    }

    /// Decomposes by `plan` (the dense model when nil) and measures.
    public func measure(_ plan: CompressionPlan?) throws -> Measurement {
        let started = DispatchTime.now().uptimeNanoseconds
        let (factored, decomposed) = try plan.map { try ModelCompressor.decompose(model: model, plan: $0) } ?? ([:], [])
        let weights = try LlamaWeights(config: model.config, factored: factored, quantized: model.quantizedWeights.filter { factored[$0.key] == nil },
                                       values: { try model.read($0) }, blocks: { try model.readBlocks($0) })
        let parameters = ModelCompressor.storedParameters(of: model, after: decomposed)
        let language = LlamaModel(weights: weights, maxTokens: window, maxSequenceLength: window, trainable: false)
        let (nats, predicted) = try language.windowedLoss(of: heldOut, window: window)
        let inference = InferenceModel(weights: weights, fingerprint: model.fingerprint, maxTokens: job.batch.micro * job.batch.maxLength,
                                       maxSequenceLength: job.batch.maxLength)
        let zeroShot = try evaluation.run(inference.model, split: job.evalSplit, examples: examples).accuracy ?? .nan
        var adapted = Double.nan
        if let adapters {
            inference.attach(adapters)
            adapted = try evaluation.run(inference.model, split: job.evalSplit, examples: examples).accuracy ?? .nan
        }
        return Measurement(parameters: parameters, perplexity: Foundation.exp(nats / Double(max(predicted, 1))),
                           zeroShotAccuracy: zeroShot, adapterAccuracy: adapted,
                           seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
    }

    /// Measures `plans` (index 0 should be nil, the baseline) spread over the ranks — plan `i` on
    /// rank `i mod size` — and returns every measurement on every rank, in plan order.
    public func run(_ plans: [CompressionPlan?], communicator: Communicator, progress: (Int, Measurement) -> Void) throws -> [Measurement] {
        let perRank = (plans.count + communicator.size - 1) / communicator.size
        var mine = [Double](repeating: .nan, count: perRank * 5)
        for (index, plan) in plans.enumerated() where index % communicator.size == communicator.rank {
            let result = try measure(plan)
            progress(index, result)
            let slot = index / communicator.size * 5
            mine.replaceSubrange(slot..<(slot + 5), with: [Double(result.parameters), result.perplexity, result.zeroShotAccuracy,
                                                          result.adapterAccuracy, result.seconds])
        }
        let gathered = try communicator.allgather(mine)
        return plans.indices.map { index in
            let row = Array(gathered[index % communicator.size][(index / communicator.size * 5)...].prefix(5))
            return Measurement(parameters: Int(row[0]), perplexity: row[1], zeroShotAccuracy: row[2], adapterAccuracy: row[3], seconds: row[4])
        }
    }
}
