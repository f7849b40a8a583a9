import HDF5

/// A base model in ttl-train's HDF5 format, as written by `scripts/import_gguf.py`.
///
/// Layout (documented in the README): root attributes `format = "ttl-train-model"`,
/// `format_version`, `architecture = "llama"`, the config under Hugging Face names, `fingerprint`
/// (`sha256:` of the weights) and `source`; one float32 dataset per weight at the path of its
/// Hugging Face name with dots as slashes (`model.layers.0.self_attn.q_proj.weight` →
/// `/model/layers/0/self_attn/q_proj/weight`), linear layers as `(out_features, in_features)`.
///
/// Opening checks the format, version, architecture, config and every weight's shape, so a bad
/// file is refused with one line before any work starts.
public final class ModelFile {
    public static let formatName = "ttl-train-model"
    public static let formatVersion: Int64 = 1

    public let path: String
    public let config: LlamaConfig
    /// `sha256:<hex>` of the weights, recorded by checkpoints so a resume on another model fails.
    public let fingerprint: String
    /// Where the weights came from (e.g. the GGUF's `general.name`).
    public let source: String
    /// `sha256:` of the tokenizer the weights go with (empty when the file does not say); data
    /// sets record theirs, so a mismatch is caught before training.
    public let tokenizerFingerprint: String
    private let file: HDF5File

    public init(path: String) throws {
        let file = try HDF5File.open(path)
        let attributes = file.root.attributes
        let format = attributes.contains("format") ? try attributes.string("format") : "(none)"
        guard format == Self.formatName else { throw ModelFileError.wrongFormat(file: path, found: format) }
        let version = try attributes.value("format_version", as: Int64.self)
        guard version == Self.formatVersion else {
            throw ModelFileError.unsupportedVersion(file: path, found: version, supported: Self.formatVersion)
        }
        let architecture = try attributes.string("architecture")
        guard architecture == "llama" else { throw ModelFileError.unsupportedArchitecture(file: path, found: architecture) }

        self.path = path
        self.file = file
        self.config = try LlamaConfig(attributes: attributes, file: path)
        self.fingerprint = try attributes.string("fingerprint")
        self.source = attributes.contains("source") ? try attributes.string("source") : ""
        self.tokenizerFingerprint = attributes.contains("tokenizer_fingerprint") ? try attributes.string("tokenizer_fingerprint") : ""
        for (name, shape) in config.weightShapes {
            let found = try weight(name).shape()
            guard found == shape else {
                throw ModelFileError.wrongTensorShape(file: path, name: name, expected: shape, found: found)
            }
        }
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

    /// All values of weight `name`, row-major float32.
    public func read(_ name: String) throws -> [Float] {
        try weight(name).read(as: Float.self)
    }

    /// Recomputes the fingerprint from the stored weights (reading all of them).
    public func computeFingerprint() throws -> String {
        var fingerprint = WeightFingerprint()
        for (name, shape) in config.weightShapes.sorted(by: { WeightFingerprint.order($0.name, $1.name) }) {
            fingerprint.add(name: name, shape: shape, values: try read(name))
        }
        return fingerprint.finalize()
    }
}
