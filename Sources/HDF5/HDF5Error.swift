import CHDF5

/// A failure of an HDF5 operation, naming the file and the object inside it.
///
/// HDF5's own error stack printing is switched off (see `HDF5Library`); what it would have printed
/// is condensed into `detail`, so a caller gets one line such as
/// `runs/a/metrics.h5:/train/loss: checksum mismatch (data error detected by Fletcher32 checksum)`.
public struct HDF5Error: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Kind: Equatable, Sendable {
        /// The file does not exist.
        case fileNotFound
        /// The file exists but is not a readable HDF5 file (wrong signature, truncated, corrupt).
        case notHDF5
        /// No group, dataset or attribute has that path.
        case missingObject
        /// The object exists but holds another element type than the one asked for.
        case wrongType(expected: String, found: String)
        /// The object's shape does not fit the request.
        case wrongShape(expected: String, found: String)
        /// A Fletcher32 checksum did not match: the stored bytes changed after they were written.
        case checksumMismatch
        /// An object of that name exists already.
        case alreadyExists
        /// Any other failure reported by the library while doing `operation`.
        case failed(operation: String)
    }

    public let kind: Kind
    /// Path of the HDF5 file on disk.
    public let file: String
    /// Path of the object inside the file (`/` for the file itself), with `@name` for an attribute.
    public let object: String
    /// The innermost message of HDF5's error stack, when the library reported one.
    public let detail: String

    public init(_ kind: Kind, file: String, object: String, detail: String = "") {
        self.kind = kind
        self.file = file
        self.object = object
        self.detail = detail
    }

    public var description: String {
        let what: String
        switch kind {
        case .fileNotFound: what = "no such file"
        case .notHDF5: what = "not a readable HDF5 file (wrong format, truncated or corrupt)"
        case .missingObject: what = "no such object"
        case .wrongType(let expected, let found): what = "expected \(expected) data, found \(found)"
        case .wrongShape(let expected, let found): what = "expected shape \(expected), found \(found)"
        case .checksumMismatch: what = "checksum mismatch: the stored data is corrupt"
        case .alreadyExists: what = "an object of that name exists already"
        case .failed(let operation): what = "\(operation) failed"
        }
        let location = object == "/" ? file : "\(file):\(object)"
        return detail.isEmpty ? "\(location): \(what)" : "\(location): \(what) (\(detail))"
    }
}
