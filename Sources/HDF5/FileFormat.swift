/// The `format` and `format_version` root attributes every file ttl-train writes carries, written
/// and checked in one place: a reader learns first whether the file is its kind at all, then
/// whether it knows this version.
public struct FileFormat: Sendable {
    public let name: String
    /// The version written now; `readable` holds every version this ttl-train reads.
    public let version: Int64
    public let readable: ClosedRange<Int64>

    public init(name: String, version: Int64, readable: ClosedRange<Int64>? = nil) {
        self.name = name
        self.version = version
        self.readable = readable ?? version...version
    }

    /// Why a file is not readable as this format.
    public enum Mismatch: Error, Sendable {
        /// Another `format` name (or "(none)").
        case otherFormat(String)
        case unreadableVersion(Int64)
    }

    /// Writes the header to a new file's root.
    public func stamp(_ attributes: HDF5Attributes) throws {
        try attributes.set("format", name)
        try attributes.set("format_version", version)
    }

    /// The file's version, after checking its format name and that the version is readable.
    public func check(_ attributes: HDF5Attributes) throws -> Int64 {
        let found = attributes.contains("format") ? try attributes.string("format") : "(none)"
        guard found == name else { throw Mismatch.otherFormat(found) }
        let version = try attributes.value("format_version", as: Int64.self)
        guard readable.contains(version) else { throw Mismatch.unreadableVersion(version) }
        return version
    }

    /// "version 2" or "versions 1 to 3", for messages.
    public var readableVersions: String {
        readable.count == 1 ? "version \(readable.lowerBound)" : "versions \(readable.lowerBound) to \(readable.upperBound)"
    }
}
