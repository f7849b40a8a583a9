import Adapters
import Foundation
import Kernels
import Llama
import Training

/// A base model with a checkpoint's adapters folded into its weights (`W + ΔW`, DoRA's rescaled
/// rows): one model file every command reads, or the weights of a Hugging Face export. Recovery
/// modules are refused — a GELU module is not a matrix, and a CA-LoRA student belongs on its
/// compressed base.
public struct ModelMerge {
    public let model: ModelFile
    public let checkpoint: String
    private let adapters: AdapterSet

    /// The adapters of `checkpoint`, checked to have been trained on `model`.
    public init(model: ModelFile, checkpoint: String) throws {
        adapters = try Checkpoint.adapters(of: checkpoint, config: model.config, modelFingerprint: model.fingerprint, maxRows: 1)
        if let recovered = adapters.layout.entries.first(where: { $0.recovery != nil }) {
            throw ExportError(path: checkpoint, problem: "\(recovered.target) has a CA-LoRA recovery module (\(recovered.recovery!)), which cannot be merged into a weight; evaluate it with ttl-train eval")
        }
        if let factored = adapters.layout.entries.first(where: { model.factoredWeights.contains(Self.weightName($0)) }) {
            throw ExportError(path: checkpoint, problem: "\(factored.target) adapts a Tucker-factored weight of \(model.path); merging needs a dense or quantized base")
        }
        self.model = model
        self.checkpoint = checkpoint
    }

    /// `model.layers.3.self_attn.q_proj.weight`.
    static func weightName(_ entry: AdapterEntry) -> String {
        "model.\(entry.target).weight"
    }

    /// The adapted value of weight `name`, or nil if no adapter touches it.
    public func merged(_ name: String) throws -> [Float]? {
        guard let entry = adapters.layout.entries.first(where: { Self.weightName($0) == name }) else { return nil }
        return adapters.merged(entry, into: try model.decoded(name))
    }

    /// Writes the merged model to `path`: adapted matrices as float32 (or in `format`), the other
    /// weights as the base stores them (or all matrices in `format`).
    public func write(to path: String, format: QuantizationFormat?) throws {
        let factored = try model.readFactoredWeights()
        var attributes = ["merged_from": "\(model.fingerprint) + \((checkpoint as NSString).lastPathComponent)"]
        if !model.tokenizerFingerprint.isEmpty { attributes["tokenizer_fingerprint"] = model.tokenizerFingerprint }
        try ModelWriter.write(to: path, config: model.config, source: "\(model.source), merged with \(checkpoint) by ttl-train",
                              factored: factored, attributes: attributes, endOfSequence: model.endOfSequence) { name, shape in
            let values = try merged(name)
            guard let format, shape.count == 2, shape[1] % QuantizationFormat.blockValues == 0 else {
                return try values.map { .values($0) } ?? model.stored(name)
            }
            if values == nil, case .quantized(format) = model.storage[name] { return try model.stored(name) }
            return .blocks(format, format.quantize(try values ?? model.decoded(name)))
        }
    }
}
