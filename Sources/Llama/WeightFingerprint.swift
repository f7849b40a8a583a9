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

    /// Byte order of UTF-8 names, which is Python's `sorted()` order for strings.
    public static func order(_ left: String, _ right: String) -> Bool {
        left.utf8.lexicographicallyPrecedes(right.utf8)
    }
}
