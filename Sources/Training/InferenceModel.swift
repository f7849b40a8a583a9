import Adapters
import Foundation
import Llama

/// A frozen model for evaluation and inference: activations for a forward only (nothing kept for
/// a backward, no optimizer), optionally with adapters — a checkpoint's, read by the layout its
/// own adapter groups record, or the job's starting ones. What `eval`, `perplexity`, the sweep and
/// CA-LoRA's teacher run.
public final class InferenceModel {
    public let model: LlamaModel
    public let fingerprint: String
    /// The attached adapters; nil runs the base model alone.
    public private(set) var adapters: AdapterSet?

    /// `fingerprint` is the base model's, which a checkpoint must have been trained on.
    public init(weights: LlamaWeights, fingerprint: String, maxTokens: Int, maxSequenceLength: Int) {
        model = LlamaModel(weights: weights, maxTokens: maxTokens, maxSequenceLength: maxSequenceLength, trainable: false)
        self.fingerprint = fingerprint
    }

    /// Attaches `adapters` (nil detaches).
    public func attach(_ adapters: AdapterSet?) {
        self.adapters = adapters
        model.linearHook = adapters
    }

    /// Attaches the adapters of `checkpoint` and returns them.
    @discardableResult
    public func load(checkpoint: String) throws -> AdapterSet {
        let adapters = try Checkpoint.adapters(of: checkpoint, config: model.config, modelFingerprint: fingerprint, maxRows: model.maxSequenceLength)
        attach(adapters)
        return adapters
    }
}

extension AdapterSet {
    /// The adapters of `layout` as a fresh run of `spec` starts them on `model`: seeded, then the
    /// teacher's adapter copied in when a compression-aware job inherits (`teacher`).
    public static func starting(_ layout: AdapterLayout, spec: JobSpec, model: LlamaModel, teacher: AdapterSet?) -> AdapterSet {
        let adapters = AdapterSet(layout: layout, maxRows: spec.batch.maxLength)
        adapters.initialize(seed: spec.seed, model: model)
        if spec.compressionAware?.inherit == true, let teacher { adapters.inherit(from: teacher) }
        return adapters
    }
}

extension JobSpec {
    /// Where the job's checkpoints go: `OUTPUT/checkpoints`.
    public var checkpointDirectory: String { (output as NSString).appendingPathComponent("checkpoints") }
}
