import Foundation
import HDF5

/// An HDF5 file kept in the repository as text (`*.h5.json`): root and group attributes with
/// their types, and every dataset's type, shape and little-endian bytes in base64. Test fixtures
/// are stored this way rather than as binary files; `materialize` writes the HDF5 file back —
/// the same groups, attributes, datasets and values (Fletcher32 on every dataset, as ttl-train
/// writes them).
public enum HDF5TextFixture {
    public struct FormatError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Writes the file `json` describes to `path`.
    public static func materialize(_ json: String, to path: String) throws {
        guard let data = FileManager.default.contents(atPath: json),
              let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let groups = root["groups"] as? [String: [String: Any]], let datasets = root["datasets"] as? [String: [String: Any]] else {
            throw FormatError(description: "\(json): not an HDF5 text fixture")
        }
        let file = try HDF5File.create(path)
        try setAttributes(root["attributes"] as? [String: Any] ?? [:], on: file.root.attributes, in: json)
        for (name, attributes) in groups.sorted(by: { $0.key < $1.key }) {
            try setAttributes(attributes, on: try file.root.group(name).attributes, in: json)
        }
        for (name, dataset) in datasets.sorted(by: { $0.key < $1.key }) {
            guard let type = dataset["type"] as? String, let shape = dataset["shape"] as? [Int],
                  let encoded = dataset["base64"] as? String, let bytes = Data(base64Encoded: encoded) else {
                throw FormatError(description: "\(json): dataset \(name) lacks type, shape or base64")
            }
            switch type {
            case "float32": try file.root.write(name, values(Float.self, bytes), shape: shape, options: .checksummed)
            case "int32": try file.root.write(name, values(Int32.self, bytes), shape: shape, options: .checksummed)
            case "uint8": try file.root.write(name, [UInt8](bytes), shape: shape, options: .checksummed)
            default: throw FormatError(description: "\(json): dataset \(name) has type \(type)")
            }
        }
        try file.close()
    }

    private static func values<T>(_ type: T.Type, _ bytes: Data) -> [T] {
        bytes.withUnsafeBytes { Array($0.bindMemory(to: T.self)) }
    }

    private static func setAttributes(_ attributes: [String: Any], on target: HDF5Attributes, in json: String) throws {
        for (name, entry) in attributes.sorted(by: { $0.key < $1.key }) {
            let entry = entry as? [String: Any] ?? [:]
            switch (entry["type"] as? String, entry["value"]) {
            case ("string", let value as String): try target.set(name, value)
            case ("int64", let value as Int): try target.set(name, Int64(value))
            case ("float64", let value as Double): try target.set(name, value)
            case ("int64[]", let value as [Int]): try target.set(name, value.map(Int64.init))
            default: throw FormatError(description: "\(json): attribute \(name) is not a typed value")
            }
        }
    }
}
