import Foundation
import Kernels

/// `ttl-train quantize`: stores a model's matrices in a GGUF block format (format version 3).
///
/// Every matrix whose rows are whole blocks of 32 values — the seven linear layers of each block, the
/// embedding and an untied output head — takes the target format unless a rule names another one
/// for it (or `f32`, to keep it float). Norm weights and Tucker factors stay float32. A weight
/// already stored in its target format is copied block for block, so quantizing a quantized model
/// loses nothing more; any other weight is quantized from the values it decodes to.
public enum ModelQuantizer {
    /// What the quantizer did to one weight.
    public struct Quantized: Sendable {
        public let name: String
        /// The format written, nil for float32.
        public let format: QuantizationFormat?
        /// ‖W − Ŵ‖ / ‖W‖ against the values the source decodes to.
        public let relativeError: Double
        public let bytesBefore: Int
        public let bytesAfter: Int
    }

    /// A per-matrix choice: `name=format`, where name is a module (`embed_tokens`, `lm_head`,
    /// `q_proj`, …) or a full weight path prefix (`model.layers.3.mlp.down_proj`), and format is a
    /// `QuantizationFormat` or `f32`. The last matching rule wins.
    public struct Rule: Sendable, Equatable {
        public let module: String
        public let format: QuantizationFormat?

        public init(parsing text: String) throws {
            let parts = text.split(separator: "=", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw QuantizeError.badRule(text, reason: "write it as name=format") }
            if parts[1] == "f32" {
                format = nil
            } else if let format = QuantizationFormat(rawValue: parts[1]) {
                self.format = format
            } else {
                throw QuantizeError.badRule(text, reason: "format '\(parts[1])' is not one of f32, \(QuantizationFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            module = parts[0]
        }

        func matches(_ weight: String) -> Bool {
            let path = String(weight.dropLast(".weight".count))
            return path == module || path.hasSuffix("." + module) || path.hasPrefix(module + ".")
        }
    }

    /// Quantizes `model` to `format` (with `rules` overriding per matrix) into `path`, calling
    /// `progress` after each matrix. Rules that match no weight are refused before any work.
    public static func quantize(
        model: ModelFile, to format: QuantizationFormat, rules: [Rule] = [], path: String, progress: (Quantized) -> Void = { _ in }
    ) throws -> [Quantized] {
        let factoredNames = Set(model.factoredWeights)
        let candidates = model.config.weightShapes.filter { $0.shape.count == 2 && !factoredNames.contains($0.name) }
        if let unused = rules.first(where: { rule in !candidates.contains { rule.matches($0.name) } }) {
            throw QuantizeError.unmatchedRule(unused.module, file: model.path)
        }
        var attributes = ["quantized_from": model.fingerprint]
        for key in ["tokenizer_fingerprint", "compressed_from"] {
            let value = key == "tokenizer_fingerprint" ? model.tokenizerFingerprint : model.compressedFrom
            if !value.isEmpty { attributes[key] = value }
        }
        var report: [Quantized] = []
        let factored = try model.readFactoredWeights()
        try ModelWriter.write(to: path, config: model.config, source: "\(model.source) (quantized to \(format) by ttl-train)",
                              factored: factored, attributes: attributes, endOfSequence: model.endOfSequence) { name, shape in
            guard shape.count == 2, factored[name] == nil else { return try model.stored(name) }
            let chosen = shape[1] % QuantizationFormat.blockValues == 0 ? rules.last { $0.matches(name) }.map(\.format) ?? format : nil
            let before = try model.stored(name)
            let values = decoded(before)
            guard values.allSatisfy(\.isFinite) else { throw QuantizeError.nonFinite(name: name, file: model.path) }
            let written: ModelWriter.StoredWeight
            switch (before, chosen) {
            case (.blocks(let stored, _), let wanted?) where stored == wanted: written = before
            case (_, let wanted?): written = .blocks(wanted, wanted.quantize(values))
            case (_, nil): written = .values(values)
            }
            let entry = Quantized(name: name, format: chosen, relativeError: relativeError(values, decoded(written)),
                                  bytesBefore: byteCount(before), bytesAfter: byteCount(written))
            report.append(entry)
            progress(entry)
            return written
        }
        return report
    }

    private static func decoded(_ weight: ModelWriter.StoredWeight) -> [Float] {
        switch weight {
        case .values(let values): return values
        case .blocks(let format, let blocks): return format.dequantize(blocks)
        }
    }

    private static func byteCount(_ weight: ModelWriter.StoredWeight) -> Int {
        switch weight {
        case .values(let values): return values.count * MemoryLayout<Float>.size
        case .blocks(_, let blocks): return blocks.count
        }
    }

    private static func relativeError(_ original: [Float], _ approximate: [Float]) -> Double {
        var (error, norm) = (0.0, 0.0)
        for (x, y) in zip(original, approximate) {
            error += Double(x - y) * Double(x - y)
            norm += Double(x) * Double(x)
        }
        return (error / max(norm, .leastNormalMagnitude)).squareRoot()
    }
}

/// A quantization the command cannot do as asked.
public enum QuantizeError: Error, Equatable, CustomStringConvertible, Sendable {
    case badRule(String, reason: String)
    case unmatchedRule(String, file: String)
    case nonFinite(name: String, file: String)

    public var description: String {
        switch self {
        case .badRule(let text, let reason): return "--keep '\(text)': \(reason)"
        case .unmatchedRule(let module, let file): return "--keep '\(module)' names no matrix of \(file) (use a module such as embed_tokens, q_proj or a path such as model.layers.3.mlp.down_proj)"
        case .nonFinite(let name, let file): return "\(file): weight '\(name)' holds a NaN or infinity; it cannot be quantized"
        }
    }
}
