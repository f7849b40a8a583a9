/// The model fingerprint: `sha256:` of the weights, independent of how the file stores them.
///
/// Definition (shared with `scripts/import_gguf.py`): for each weight in byte order of its
/// Hugging Face name — the name's UTF-8 bytes, a NUL byte, the shape as little-endian Int64s, the
/// values as little-endian float32. Checkpoints record it so that resuming on other weights fails.
public struct WeightFingerprint {
    private var digest = SHA256()
    private var lastName: String?

    public init() {}

    /// Names must come in `WeightFingerprint.order`; feeding them otherwise is a programming error.
    public mutating func add(name: String, shape: [Int], values: [Float]) {
        precondition(lastName.map { Self.order($0, name) } ?? true, "weights must be fingerprinted in name order")
        lastName = name
        digest.update(Array(name.utf8) + [0])
        for dimension in shape {
            withUnsafeBytes(of: Int64(dimension).littleEndian) { digest.update($0) }
        }
        values.withUnsafeBytes { digest.update($0) }
    }

    public mutating func finalize() -> String {
        "sha256:" + digest.finalizeHex()
    }

    /// The fingerprint of a model's stored tensors: dense weights under their names, a factored
    /// weight as its core and factors under `<name without .weight>.tucker.core`, `….factor_<n>`.
    public static func of(config: LlamaConfig, factored: [String: TuckerFactors], dense: (String) throws -> [Float]) throws -> String {
        // (stored name, shape, weight name, factor index: -1 for the core, nil for a dense weight)
        var tensors: [(name: String, shape: [Int], weight: String, factor: Int?)] = []
        for (name, shape) in config.weightShapes {
            guard let factors = factored[name] else {
                tensors.append((name, shape, name, nil))
                continue
            }
            let prefix = String(name.dropLast("weight".count)) + "tucker."
            tensors.append((prefix + "core", factors.ranks, name, -1))
            for mode in factors.tensorShape.indices {
                tensors.append((prefix + "factor_\(mode)", [factors.tensorShape[mode], factors.ranks[mode]], name, mode))
            }
        }
        var fingerprint = WeightFingerprint()
        for tensor in tensors.sorted(by: { order($0.name, $1.name) }) {
            let values: [Float]
            switch tensor.factor {
            case nil: values = try dense(tensor.weight)
            case -1: values = factored[tensor.weight]!.core
            case let mode?: values = factored[tensor.weight]!.factors[mode]
            }
            fingerprint.add(name: tensor.name, shape: tensor.shape, values: values)
        }
        return fingerprint.finalize()
    }

    /// Byte order of UTF-8 names, which is Python's `sorted()` order for strings.
    public static func order(_ left: String, _ right: String) -> Bool {
        left.utf8.lexicographicallyPrecedes(right.utf8)
    }
}
