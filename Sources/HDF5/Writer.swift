import Foundation

/// Who wrote a file: every HDF5 file ttl-train writes (model, checkpoint, metrics, sweep results)
/// carries the program's version, the host and, where several processes made it, the world size,
/// so a file found later says where it came from.
public enum Writer {
    /// ttl-train's version (also `ttl-train --version`).
    public static let version = "0.1.0"

    /// Sets `ttl_train_version`, `host` and (when given) `world_size` on `attributes`.
    public static func record(on attributes: HDF5Attributes, worldSize: Int? = nil) throws {
        try attributes.set("ttl_train_version", version)
        try attributes.set("host", ProcessInfo.processInfo.hostName)
        if let worldSize { try attributes.set("world_size", Int64(worldSize)) }
    }
}
