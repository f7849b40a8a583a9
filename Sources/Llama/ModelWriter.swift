import Foundation
import HDF5
import Kernels

/// Writes a model in ttl-train's HDF5 format (the same layout `scripts/import_gguf.py` writes):
/// used for tiny random models in tests and smoke runs, and by tools that produce new base models.
public enum ModelWriter {
    /// A weight as the writer stores it.
    public enum StoredWeight {
        /// Row-major float32 values.
        case values([Float])
        /// Raw blocks of a quantization format (format version 3).
        case blocks(QuantizationFormat, [UInt8])
    }

    /// Writes every weight `config` implies, asking `weight(name, shape)` for the row-major values
    /// of the dense ones and storing those in `factored` as their Tucker factors. `attributes` adds
    /// string attributes at the root (`tokenizer_fingerprint`, `compressed_from`, …).
    public static func write(
        to path: String, config: LlamaConfig, source: String, factored: [String: TuckerFactors] = [:],
        attributes extra: [String: String] = [:],
        weight: (_ name: String, _ shape: [Int]) throws -> [Float]
    ) throws {
        try write(to: path, config: config, source: source, factored: factored, attributes: extra) { .values(try weight($0, $1)) }
    }

    /// Writes every weight `config` implies as `stored(name, shape)` gives it — float values or
    /// quantized blocks — and those in `factored` as their Tucker factors; the format version is
    /// the oldest that holds them (1 dense, 2 factored, 3 quantized). The fingerprint covers the
    /// values a quantized weight decodes to, so it names the function the model computes, however
    /// the file stores it. The file appears at `path` only when complete
    /// (`HDF5File.writeAtomically`).
    public static func write(
        to path: String, config: LlamaConfig, source: String, factored: [String: TuckerFactors] = [:],
        attributes extra: [String: String] = [:], endOfSequence: Int32? = nil,
        stored: (_ name: String, _ shape: [Int]) throws -> StoredWeight
    ) throws {
        try config.validate(file: path)
        try HDF5File.writeAtomically(to: path) { file in
            let attributes = file.root.attributes
            try attributes.set("format", ModelFile.fileFormat.name)
            try attributes.set("architecture", config.family.rawValue)
            for (key, value) in config.integerAttributes { try attributes.set(key, Int64(value)) }
            for (key, value) in config.realAttributes { try attributes.set(key, value) }
            for (key, value) in config.stringAttributes { try attributes.set(key, value) }
            try attributes.set("source", source)
            try Writer.record(on: attributes)
            for (key, value) in extra.sorted(by: { $0.key < $1.key }) { try attributes.set(key, value) }
            if let endOfSequence { try attributes.set("eos_token_id", Int64(endOfSequence)) }
            for (name, factors) in factored.sorted(by: { $0.key < $1.key }) {
                let group = try file.root.createGroup(ModelFile.tuckerPath(forWeight: name))
                try group.attributes.set("tensor_shape", factors.tensorShape.map(Int64.init))
                try group.attributes.set("output_modes", Int64(factors.outputModes))
                try group.attributes.set("ranks", factors.ranks.map(Int64.init))
                try group.write("core", factors.core, shape: factors.ranks, options: .checksummed)
                for mode in factors.tensorShape.indices {
                    try group.write("factor_\(mode)", factors.factors[mode], shape: [factors.tensorShape[mode], factors.ranks[mode]],
                                    options: .checksummed)
                }
            }
            // Dense weights are asked for, written and hashed one at a time, in the fingerprint's
            // order, so a large model is never held twice.
            let shapes = Dictionary(uniqueKeysWithValues: config.weightShapes.map { ($0.name, $0.shape) })
            var anyQuantized = false
            let fingerprint = try WeightFingerprint.of(config: config, factored: factored) { name in
                let shape = shapes[name]!
                let datasetPath = ModelFile.datasetPath(forWeight: name)
                switch try stored(name, shape) {
                case .values(let values):
                    precondition(values.count == shape.reduce(1, *), "weight \(name) needs \(shape.reduce(1, *)) values")
                    try file.root.write(datasetPath, values, shape: shape, options: .checksummed)
                    return values
                case .blocks(let format, let blocks):
                    precondition(shape.count == 2 && blocks.count == format.byteCount(values: shape.reduce(1, *)),
                                 "weight \(name) needs \(shape) in whole \(format) blocks")
                    let dataset = try file.root.write(datasetPath, blocks, shape: [shape[0], blocks.count / shape[0]], options: .checksummed)
                    try dataset.attributes.set(ModelFile.quantizationAttribute, format.rawValue)
                    try dataset.attributes.set(ModelFile.logicalShapeAttribute, shape.map(Int64.init))
                    anyQuantized = true
                    return format.dequantize(blocks)
                }
            }
            try attributes.set("fingerprint", fingerprint)
            let version: Int64 = config.needsFamilyFormat ? 4 : anyQuantized ? 3 : factored.isEmpty ? 1 : 2
            try attributes.set("format_version", version)
        }
    }

    /// A model of `config` with seeded random weights: linear weights uniform in ±`scale`, norm
    /// weights near 1. Small configs make gradient checks and multi-rank tests fast.
    /// `source` describes the weights (default "random (seed N)").
    public static func writeRandom(to path: String, config: LlamaConfig, seed: UInt64, scale: Float = 0.08, source: String? = nil) throws {
        var generator = SplitMix64(seed: seed)
        try write(to: path, config: config, source: source ?? "random (seed \(seed))") { name, shape in
            let count = shape.reduce(1, *)
            let isNorm = shape.count == 1 && !name.hasSuffix(".bias")
            return (0..<count).map { _ in
                isNorm ? 1 + generator.nextFloat(in: -0.1..<0.1) : generator.nextFloat(in: -scale..<scale)
            }
        }
    }
}

extension LlamaConfig {
    /// The integer config entries under their Hugging Face attribute names.
    var integerAttributes: [(String, Int)] {
        [
            ("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
            ("num_hidden_layers", layerCount), ("num_attention_heads", attentionHeads),
            ("num_key_value_heads", keyValueHeads), ("head_dim", headDim),
            ("max_position_embeddings", contextLength), ("tie_word_embeddings", tiedEmbeddings ? 1 : 0),
        ] + familyIntegers
    }

    /// The real config entries, RoPE scaling's among them.
    var realAttributes: [(String, Double)] {
        [("rope_theta", ropeTheta), ("rms_norm_eps", rmsNormEpsilon)] + familyReals
    }

    /// The string config entries: RoPE's type and the biased layers, when there are any.
    var stringAttributes: [(String, String)] {
        (ropeScaling == .none ? [] : [("rope_type", ropeScaling.typeName)])
            + (biasedSites.isEmpty ? [] : [(Self.biasAttribute, biasedSiteNames)])
    }

    /// The family's switches that are on, as the model file names them (what `info` prints):
    /// RoPE scaling and its parameters, the biased layers, q/k norms, the sliding window.
    public var familySettings: [(String, String)] {
        stringAttributes + familyReals.map { ($0.0, "\($0.1)") } + familyIntegers.map { ($0.0, "\($0.1)") }
    }

    /// RoPE scaling's real parameters.
    private var familyReals: [(String, Double)] {
        switch ropeScaling {
        case .none: return []
        case .linear(let factor): return [("rope_factor", factor)]
        case .llama3(let factor, let low, let high, _):
            return [("rope_factor", factor), ("rope_low_freq_factor", low), ("rope_high_freq_factor", high)]
        }
    }

    /// Llama 3's original context, q/k norms and the sliding window, when the model has them.
    private var familyIntegers: [(String, Int)] {
        var entries: [(String, Int)] = []
        if case .llama3(_, _, _, let original) = ropeScaling {
            entries.append(("rope_original_max_position_embeddings", original))
        }
        if queryKeyNorm { entries.append(("qk_norm", 1)) }
        if let slidingWindow { entries.append(("sliding_window", slidingWindow)) }
        return entries
    }

    /// The biased layers in `LinearSite` order, comma-separated.
    public var biasedSiteNames: String {
        LinearSite.allCases.filter(biasedSites.contains).map(\.rawValue).joined(separator: ",")
    }

    /// A tiny llama for tests: 2 layers, hidden 64, 4 heads over 2 KV heads, vocab 256.
    public static let tiny = LlamaConfig(
        vocabSize: 256, hiddenSize: 64, intermediateSize: 160, layerCount: 2, attentionHeads: 4,
        keyValueHeads: 2, headDim: 16, contextLength: 512, ropeTheta: 10000, rmsNormEpsilon: 1e-5,
        tiedEmbeddings: true)
}
