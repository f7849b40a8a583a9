/// Why a model file cannot be used, naming the file and the offending entry.
public enum ModelFileError: Error, Equatable, CustomStringConvertible, Sendable {
    case wrongFormat(file: String, found: String)
    case unsupportedVersion(file: String, found: Int64)
    case unsupportedArchitecture(file: String, found: String)
    case missingConfig(file: String, key: String)
    case invalidConfig(file: String, key: String, reason: String)
    case missingTensor(file: String, name: String)
    case wrongTensorShape(file: String, name: String, expected: [Int], found: [Int])
    case fingerprintMismatch(file: String, stored: String, computed: String)
    case badFactors(file: String, name: String, reason: String)
    case badQuantization(file: String, name: String, reason: String)
    case nonFiniteWeight(file: String, name: String, detail: String)

    public var description: String {
        switch self {
        case .wrongFormat(let file, let found):
            return
                "\(file): not a ttl-train model file (format '\(found)'; expected '\(ModelFile.fileFormat.name)' — "
                    + "make one with scripts/import_gguf.py)"
        case .unsupportedVersion(let file, let found):
            return
                "\(file): model format version \(found) is not supported (this ttl-train reads "
                    + "\(ModelFile.fileFormat.readableVersions)); re-import it with scripts/import_gguf.py"
        case .unsupportedArchitecture(let file, let found):
            return
                "\(file): architecture '\(found)' is not supported (supported: "
                    + "\(ModelFamily.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .missingConfig(let file, let key):
            return "\(file): config attribute '\(key)' is missing"
        case .invalidConfig(let file, let key, let reason):
            return "\(file): config attribute '\(key)' \(reason)"
        case .missingTensor(let file, let name):
            return "\(file): weight '\(name)' is missing"
        case .wrongTensorShape(let file, let name, let expected, let found):
            return "\(file): weight '\(name)' has shape \(found), the config implies \(expected)"
        case .badFactors(let file, let name, let reason):
            return "\(file): the Tucker factors of '\(name)': \(reason) (re-run ttl-train compress)"
        case .nonFiniteWeight(let file, let name, let detail):
            return "\(file): weight '\(name)' holds a NaN or infinity (\(detail)); re-import or re-quantize the model"
        case .badQuantization(let file, let name, let reason):
            return "\(file): the quantized weight '\(name)': \(reason)"
        case .fingerprintMismatch(let file, let stored, let computed):
            return
                "\(file): the weights hash to \(computed), not to the stored fingerprint \(stored): the file was "
                    + "altered"
        }
    }
}
