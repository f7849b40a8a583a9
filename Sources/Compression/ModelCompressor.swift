import Foundation
import Kernels
import Llama

/// `ttl-train compress`: decomposes the plan's weights of a dense model and writes a model file
/// that stores their Tucker factors (format version 2), which `LlamaModel` then runs factored. A
/// quantized weight is decomposed from the values it decodes to; the weights the plan leaves
/// alone are written as they were stored (quantized ones stay quantized).
public enum ModelCompressor {
    /// What one decomposition did.
    public struct Decomposed: Sendable {
        public let target: CompressionPlan.Target
        public let ranks: [Int]
        public let denseParameters: Int
        public let factoredParameters: Int
        /// ‖W − Ŵ‖ / ‖W‖ of the reconstruction from the factors.
        public let relativeError: Double
    }

    public struct Report: Sendable {
        public let weights: [Decomposed]
        public let parametersBefore: Int
        public let parametersAfter: Int
        public let bytesBefore: Int
        public let bytesAfter: Int
    }

    /// Compresses `model` by `plan` into `path` (written to `path.tmp`, then renamed), calling
    /// `progress` after each weight.
    public static func compress(
        model: ModelFile, plan: CompressionPlan, to path: String, progress: (Decomposed) -> Void = { _ in }
    ) throws -> Report {
        let (factored, decomposed) = try decompose(model: model, plan: plan, progress: progress)
        var attributes = ["compressed_from": model.fingerprint, "compression_plan": plan.text]
        if !model.tokenizerFingerprint.isEmpty { attributes["tokenizer_fingerprint"] = model.tokenizerFingerprint }
        try ModelWriter.write(to: path, config: model.config, source: "\(model.source) (Tucker-compressed by ttl-train)",
                              factored: factored, attributes: attributes, endOfSequence: model.endOfSequence) { name, _ in try model.stored(name) }
        return Report(weights: decomposed, parametersBefore: model.storedParameterCount,
                      parametersAfter: storedParameters(of: model, after: decomposed),
                      bytesBefore: try ModelFile.sizeOnDisk(model.path), bytesAfter: try ModelFile.sizeOnDisk(path))
    }

    /// The numbers `model` stores once the `decomposed` weights are stored as their factors.
    public static func storedParameters(of model: ModelFile, after decomposed: [Decomposed]) -> Int {
        model.storedParameterCount - decomposed.reduce(0) { $0 + $1.denseParameters - $1.factoredParameters }
    }

    /// The Tucker factors of every weight `plan` names, by weight name, and what each
    /// decomposition did — in memory, for `compress` to write or the sweep to run.
    public static func decompose(
        model: ModelFile, plan: CompressionPlan, progress: (Decomposed) -> Void = { _ in }
    ) throws -> ([String: TuckerFactors], [Decomposed]) {
        guard model.factoredWeights.isEmpty else { throw CompressionError.alreadyCompressed(file: model.path) }
        var factored: [String: TuckerFactors] = [:]
        var decomposed: [Decomposed] = []
        for target in plan.targets {
            let weight = try model.read(target.weightName)
            let tensor = DenseTensor(values: weight, shape: target.tensorShape)
            let result = try TuckerDecomposition.decompose(tensor, outputModes: target.outputModes, ranks: target.ranks,
                                                            refinements: plan.refinements)
            let reconstruction = result.factors.reconstructed()
            var error = 0.0
            for (original, approximate) in zip(weight, reconstruction) { error += Double(original - approximate) * Double(original - approximate) }
            let entry = Decomposed(target: target, ranks: result.factors.ranks, denseParameters: weight.count,
                                   factoredParameters: result.factors.parameterCount,
                                   relativeError: (error / max(tensor.squaredNorm, .leastNormalMagnitude)).squareRoot())
            factored[target.weightName] = result.factors
            decomposed.append(entry)
            progress(entry)
        }
        return (factored, decomposed)
    }
}

/// A model that cannot be compressed as asked.
public enum CompressionError: Error, CustomStringConvertible, Sendable {
    case alreadyCompressed(file: String)

    public var description: String {
        switch self {
        case .alreadyCompressed(let file):
            return "\(file): is already Tucker-compressed; compress the dense model it came from (its compressed_from attribute names it)"
        }
    }
}
