import HDF5
import Kernels

/// A base model in ttl-train's HDF5 format, as written by `scripts/import_gguf.py`.
///
/// Layout (documented in the README): root attributes `format = "ttl-train-model"`,
/// `format_version`, `architecture = "llama"`, the config under Hugging Face names, `fingerprint`
/// (`sha256:` of the weights) and `source`; one float32 dataset per weight at the path of its
/// Hugging Face name with dots as slashes (`model.layers.0.self_attn.q_proj.weight` →
/// `/model/layers/0/self_attn/q_proj/weight`), linear layers as `(out_features, in_features)`.
///
/// Version 2 (written by `ttl-train compress`) may store a linear weight as Tucker factors
/// instead: a group `…/q_proj/tucker` with attributes `tensor_shape`, `output_modes`, `ranks` and
/// datasets `core`, `factor_0`, `factor_1`[, `factor_2`] (see `TuckerFactors`), plus root
/// attributes `compressed_from` (the dense model's fingerprint) and `compression_plan`.
///
/// Version 3 may store a weight in one of GGUF's block formats (`QuantizationFormat`): a uint8
/// dataset `(out_features, bytes per row)` of raw blocks at the weight's path, with attributes
/// `quantization` (`q8_0`, `q4_0`, `q4_1`) and `shape` (the logical `[out, in]`); see
/// `ModelFile+Quantized`.
///
/// Version 4 holds the families of `ModelFamily`: `architecture` names one (`llama`, `qwen2`,
/// `qwen3`, `mistral`), and the root may carry `rope_type` (`llama3`, `linear`) with `rope_factor`,
/// `rope_low_freq_factor`, `rope_high_freq_factor`, `rope_original_max_position_embeddings`;
/// `linear_bias` (the biased layers, `q_proj,k_proj,v_proj`, with float32 datasets `….q_proj/bias`);
/// `qk_norm` (datasets `…/self_attn/q_norm/weight`, `k_norm/weight` of head_dim); `sliding_window`.
///
/// Opening checks the format, version, architecture, config and every weight's shape, so a bad
/// file is refused with one line before any work starts.
public final class ModelFile {
    /// Version 4 (the families' switches) is the newest; versions 1 (dense llama), 2 (Tucker
    /// factors) and 3 (quantized blocks) are read as well, and a writer stamps the lowest version
    /// its file needs.
    public static let fileFormat = FileFormat(name: "ttl-train-model", version: 4, readable: 1...4)

    public let path: String
    public let config: LlamaConfig
    /// `sha256:<hex>` of the weights, recorded by checkpoints so a resume on another model fails.
    public let fingerprint: String
    /// Where the weights came from (e.g. the GGUF's `general.name`).
    public let source: String
    /// `sha256:` of the tokenizer the weights go with (empty when the file does not say); data
    /// sets record theirs, so a mismatch is caught before training.
    public let tokenizerFingerprint: String
    /// The token that ends a sequence (`eos_token_id`, recorded by the importers), if the file says.
    public let endOfSequence: Int32?
    /// Fingerprint of the dense model this one was compressed from (empty for a dense model).
    public let compressedFrom: String
    /// The stored tensor of every weight, dense or factored.
    public let storage: [String: WeightStorage]
    private let file: HDF5File

    /// How one weight is stored.
    public enum WeightStorage: Equatable, Sendable {
        case dense
        /// Tucker factors with this view and these ranks.
        case tucker(tensorShape: [Int], outputModes: Int, ranks: [Int])
        /// Raw blocks of a GGUF quantization format.
        case quantized(QuantizationFormat)
    }

    public init(path: String) throws {
        let file = try HDF5File.open(path)
        let attributes = file.root.attributes
        let version: Int64
        do {
            version = try Self.fileFormat.check(attributes)
        } catch FileFormat.Mismatch.otherFormat(let found) {
            throw ModelFileError.wrongFormat(file: path, found: found)
        } catch FileFormat.Mismatch.unreadableVersion(let found) {
            throw ModelFileError.unsupportedVersion(file: path, found: found)
        }
        self.path = path
        self.file = file
        self.config = try LlamaConfig(attributes: attributes, file: path)
        self.fingerprint = try attributes.string("fingerprint")
        self.source = attributes.contains("source") ? try attributes.string("source") : ""
        self.tokenizerFingerprint = attributes.contains("tokenizer_fingerprint") ? try attributes.string("tokenizer_fingerprint") : ""
        self.compressedFrom = attributes.contains("compressed_from") ? try attributes.string("compressed_from") : ""
        if attributes.contains("eos_token_id") {
            let id = try attributes.value("eos_token_id", as: Int64.self)
            guard (0..<Int64(config.vocabSize)).contains(id) else {
                throw ModelFileError.invalidConfig(file: path, key: "eos_token_id", reason: "\(id) is outside the vocabulary 0..<\(config.vocabSize)")
            }
            endOfSequence = Int32(id)
        } else {
            endOfSequence = nil
        }
        var storage: [String: WeightStorage] = [:]
        for (name, shape) in config.weightShapes {
            let tucker = Self.tuckerPath(forWeight: name)
            if version >= 2, shape.count == 2, file.root.isGroup(tucker) {
                storage[name] = try Self.checkTucker(file.root.openGroup(tucker), weight: name, shape: shape, file: path)
                continue
            }
            guard file.root.contains(Self.datasetPath(forWeight: name)) else { throw ModelFileError.missingTensor(file: path, name: name) }
            let dataset = try file.root.openDataset(Self.datasetPath(forWeight: name))
            if version >= 3, dataset.attributes.contains("quantization") {
                storage[name] = .quantized(try Self.checkQuantized(dataset, weight: name, shape: shape, file: path))
                continue
            }
            let found = try dataset.shape()
            guard found == shape else {
                throw ModelFileError.wrongTensorShape(file: path, name: name, expected: shape, found: found)
            }
            storage[name] = .dense
        }
        self.storage = storage
    }

    /// Names of the weights stored as factors.
    public var factoredWeights: [String] {
        storage.filter { if case .tucker = $0.value { return true } else { return false } }.keys.sorted()
    }

    /// Numbers stored for the weights (factors counted as stored; a tied output projection once).
    public var storedParameterCount: Int {
        config.weightShapes.reduce(0) { total, weight in
            guard case .tucker(let shape, _, let ranks) = storage[weight.name]! else { return total + weight.shape.reduce(1, *) }
            return total + ranks.reduce(1, *) + zip(shape, ranks).reduce(0) { $0 + $1.0 * $1.1 }
        }
    }

    /// Bytes the weights take in memory as `LlamaWeights` holds them — floats, quantized blocks,
    /// the folded stages of factored weights — from the file's layout alone, reading no weight.
    public var residentWeightBytes: Int {
        config.weightShapes.reduce(0) { total, weight in
            switch storage[weight.name]! {
            case .dense: return total + LlamaWeights.denseFloatCount(shape: weight.shape) * MemoryLayout<Float>.size
            case .quantized(let format): return total + format.byteCount(values: weight.shape.reduce(1, *))
            case .tucker(let shape, let outputModes, let ranks):
                let stages = TuckerFactors.stageShapes(tensorShape: shape, outputModes: outputModes, ranks: ranks)
                return total + LlamaWeights.placed(stages.reduce(0) { $0 + $1.weightCount }) * MemoryLayout<Float>.size
            }
        }
    }

    /// The HDF5 group holding weight `name`'s Tucker factors (`…/q_proj/tucker`).
    public static func tuckerPath(forWeight name: String) -> String {
        String(datasetPath(forWeight: name).dropLast("/weight".count)) + "/tucker"
    }

    /// Checks a Tucker group's view, ranks and tensor shapes against the weight's `(out, in)`.
    private static func checkTucker(_ group: HDF5Group, weight name: String, shape: [Int], file: String) throws -> WeightStorage {
        func bad(_ reason: String) -> ModelFileError { .badFactors(file: file, name: name, reason: reason) }
        let attributes = group.attributes
        for key in ["tensor_shape", "output_modes", "ranks"] where !attributes.contains(key) { throw bad("attribute '\(key)' is missing") }
        let dimensions = 1...LlamaConfig.maxDimension
        let rawShape = try attributes.array("tensor_shape", as: Int64.self), rawRanks = try attributes.array("ranks", as: Int64.self)
        let rawModes = try attributes.value("output_modes", as: Int64.self)
        guard (rawShape + rawRanks).allSatisfy(dimensions.contains), (1...3).contains(rawModes) else {
            throw bad("tensor_shape \(rawShape), ranks \(rawRanks) and output_modes \(rawModes) must lie in \(dimensions)")
        }
        let (tensorShape, outputModes, ranks) = (rawShape.map(Int.init), Int(rawModes), rawRanks.map(Int.init))
        guard (2...3).contains(tensorShape.count), (1..<tensorShape.count).contains(outputModes), ranks.count == tensorShape.count else {
            throw bad("a view \(tensorShape) with \(outputModes) output modes and ranks \(ranks) is not a 2- or 3-way Tucker view")
        }
        guard tensorShape[..<outputModes].reduce(1, *) == shape[0], tensorShape[outputModes...].reduce(1, *) == shape[1] else {
            throw bad("the view \(tensorShape) does not reshape the weight's \(shape)")
        }
        guard zip(ranks, tensorShape).allSatisfy({ $0 >= 1 && $0 <= $1 }) else { throw bad("ranks \(ranks) must lie in 1…\(tensorShape)") }
        var expected: [(String, [Int])] = [("core", ranks)]
        for mode in tensorShape.indices { expected.append(("factor_\(mode)", [tensorShape[mode], ranks[mode]])) }
        for (dataset, datasetShape) in expected {
            guard group.contains(dataset) else { throw bad("dataset '\(dataset)' is missing") }
            let found = try group.openDataset(dataset).shape()
            guard found == datasetShape else { throw bad("'\(dataset)' has shape \(found), expected \(datasetShape)") }
        }
        return .tucker(tensorShape: tensorShape, outputModes: outputModes, ranks: ranks)
    }

    /// The Tucker factors of every factored weight, by weight name.
    public func readFactoredWeights() throws -> [String: TuckerFactors] {
        var result: [String: TuckerFactors] = [:]
        for name in factoredWeights { result[name] = try readFactors(name) }
        return result
    }

    /// The Tucker factors of weight `name`, which must be stored factored.
    public func readFactors(_ name: String) throws -> TuckerFactors {
        guard case .tucker(let shape, let outputModes, let ranks) = storage[name] else { preconditionFailure("\(name) is not factored") }
        let group = try file.root.openGroup(Self.tuckerPath(forWeight: name))
        return TuckerFactors(tensorShape: shape, outputModes: outputModes, ranks: ranks, core: try group.read("core"),
                             factors: try shape.indices.map { try group.read("factor_\($0)") })
    }

    /// The HDF5 path of a weight given its Hugging Face name.
    public static func datasetPath(forWeight name: String) -> String {
        "/" + name.split(separator: ".").joined(separator: "/")
    }

    /// The dataset holding weight `name` (Hugging Face naming).
    public func weight(_ name: String) throws -> HDF5Dataset {
        let datasetPath = Self.datasetPath(forWeight: name)
        guard file.root.contains(datasetPath) else { throw ModelFileError.missingTensor(file: path, name: name) }
        return try file.root.openDataset(datasetPath)
    }

    /// All values of weight `name`, row-major float32 (a quantized weight dequantized).
    /// The values of weight `name` whatever its storage: decoded blocks, reconstructed factors.
    public func decoded(_ name: String) throws -> [Float] {
        if case .tucker = storage[name] { return try readFactors(name).reconstructed() }
        return try read(name)
    }

    public func read(_ name: String) throws -> [Float] {
        if case .quantized(let format) = storage[name] { return format.dequantize(try readBlocks(name)) }
        let values = try weight(name).read(as: Float.self)
        // A NaN or infinity in a weight poisons every result quietly (perplexity=nan, an empty
        // generation): refused where it is read.
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw ModelFileError.nonFiniteWeight(file: path, name: name, detail: "value \(bad) is \(values[bad])")
        }
        return values
    }

    /// Recomputes the fingerprint from the stored weights (reading all of them).
    public func computeFingerprint() throws -> String {
        let factored = try readFactoredWeights()
        return try WeightFingerprint.of(config: config, factored: factored) { try read($0) }
    }
}
