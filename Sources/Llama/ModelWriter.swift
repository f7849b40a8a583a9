import Foundation
import HDF5

/// Writes a model in ttl-train's HDF5 format (the same layout `scripts/import_gguf.py` writes):
/// used for tiny random models in tests and smoke runs, and by tools that produce new base models.
public enum ModelWriter {
    /// Writes every weight `config` implies, asking `weight(name, shape)` for its row-major values.
    /// The file appears at `path` only when complete (written to `path.tmp`, then renamed).
    public static func write(
        to path: String, config: LlamaConfig, source: String,
        weight: (_ name: String, _ shape: [Int]) throws -> [Float]
    ) throws {
        try config.validate(file: path)
        let temporary = path + ".tmp"
        var fingerprint = WeightFingerprint()
        do {
            let file = try HDF5File.create(temporary)
            let attributes = file.root.attributes
            try attributes.set("format", ModelFile.formatName)
            try attributes.set("format_version", ModelFile.formatVersion)
            try attributes.set("architecture", "llama")
            for (key, value) in config.integerAttributes { try attributes.set(key, Int64(value)) }
            try attributes.set("rope_theta", config.ropeTheta)
            try attributes.set("rms_norm_eps", config.rmsNormEpsilon)
            try attributes.set("source", source)
            for (name, shape) in config.weightShapes.sorted(by: { WeightFingerprint.order($0.name, $1.name) }) {
                let values = try weight(name, shape)
                precondition(values.count == shape.reduce(1, *), "weight \(name) needs \(shape.reduce(1, *)) values")
                fingerprint.add(name: name, shape: shape, values: values)
                try file.root.write(ModelFile.datasetPath(forWeight: name), values, shape: shape, options: .checksummed)
            }
            try attributes.set("fingerprint", fingerprint.finalize())
            try file.close()
        }
        if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
    }

    /// A model of `config` with seeded random weights: linear weights uniform in ±`scale`, norm
    /// weights near 1. Small configs make gradient checks and multi-rank tests fast.
    public static func writeRandom(to path: String, config: LlamaConfig, seed: UInt64, scale: Float = 0.08) throws {
        var generator = SplitMix64(seed: seed)
        try write(to: path, config: config, source: "random (seed \(seed))") { name, shape in
            let count = shape.reduce(1, *)
            let isNorm = shape.count == 1
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
        ]
    }

    /// A tiny llama for tests: 2 layers, hidden 64, 4 heads over 2 KV heads, vocab 256.
    public static let tiny = LlamaConfig(
        vocabSize: 256, hiddenSize: 64, intermediateSize: 160, layerCount: 2, attentionHeads: 4,
        keyValueHeads: 2, headDim: 16, contextLength: 512, ropeTheta: 10000, rmsNormEpsilon: 1e-5,
        tiedEmbeddings: true)
}
