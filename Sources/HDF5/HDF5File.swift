import CHDF5
import Foundation

/// An HDF5 file on disk. Its `root` group is where datasets, groups and file attributes go.
///
/// ```swift
/// let file = try HDF5File.create("run/metrics.h5")
/// try file.root.attributes.set("format", "ttl-train-metrics")
/// try file.root.write("train/loss", [2.31, 2.12] as [Float])
/// ```
public final class HDF5File {
    public enum Mode: Sendable {
        case readOnly
        case readWrite
        /// Read a file that a SWMR writer may be appending to.
        case swmrRead
    }

    /// Path of the file on disk, as given.
    public let path: String
    let handle: Handle
    public let root: HDF5Group

    init(path: String, id: hid_t) {
        self.path = path
        self.handle = Handle(id, close: H5Fclose)
        self.root = HDF5Group(handle: handle, location: ObjectPath(file: path, path: "/"))
    }

    /// Opens an existing file. A missing file, a file of another format or a truncated file is
    /// reported as `.fileNotFound` or `.notHDF5` naming the path.
    public static func open(_ path: String, mode: Mode = .readOnly) throws -> HDF5File {
        HDF5Library.ensureInitialized()
        let location = ObjectPath(file: path, path: "/")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw location.error(.fileNotFound) }
        guard !isDirectory.boolValue else { throw location.error(.notHDF5, detail: "it is a directory") }
        let flags: UInt32
        switch mode {
        case .readOnly: flags = ttl_h5f_acc_rdonly()
        case .readWrite: flags = ttl_h5f_acc_rdwr()
        case .swmrRead: flags = ttl_h5f_acc_rdonly() | ttl_h5f_acc_swmr_read()
        }
        if H5Fis_hdf5(path) <= 0 {
            let detail = HDF5Library.takeErrorMessages().last ?? "no HDF5 signature"
            throw location.error(.notHDF5, detail: detail)
        }
        let id = H5Fopen(path, flags, ttl_h5p_default())
        guard id >= 0 else {
            throw location.error(.notHDF5, detail: HDF5Library.takeErrorMessages().last ?? "")
        }
        return HDF5File(path: path, id: id)
    }

    /// Creates a file, replacing one at `path` if `overwrite`. `swmrCapable` writes the newest
    /// file format, which single-writer/multiple-reader access requires (see `startSWMRWrite`).
    public static func create(_ path: String, overwrite: Bool = true, swmrCapable: Bool = false) throws -> HDF5File {
        HDF5Library.ensureInitialized()
        let location = ObjectPath(file: path, path: "/")
        let access = Handle(try location.checkID(H5Pcreate(ttl_h5p_file_access()), "create properties"), close: H5Pclose)
        if swmrCapable {
            let latest = ttl_h5f_libver_latest()
            try location.check(H5Pset_libver_bounds(access.id, latest, latest), "select the SWMR file format")
        }
        let flags = overwrite ? ttl_h5f_acc_trunc() : ttl_h5f_acc_excl()
        let id = H5Fcreate(path, flags, ttl_h5p_default(), access.id)
        return HDF5File(path: path, id: try location.checkID(id, "create file"))
    }

    /// Switches a file made with `swmrCapable` to SWMR writing: from now on readers opening it with
    /// `.swmrRead` see each flushed append while this process keeps writing. Create every dataset
    /// before calling this; SWMR allows appends, not new objects.
    public func startSWMRWrite() throws {
        try root.location.check(H5Fstart_swmr_write(handle.id), "start SWMR writing")
    }

    /// Writes everything buffered to disk.
    public func flush() throws {
        try root.location.check(H5Fflush(handle.id, H5F_SCOPE_GLOBAL), "flush")
    }

    /// Closes the file now (it also closes when the last reference goes away). Objects opened from
    /// it keep it open until they are released too.
    public func close() throws {
        try root.location.check(handle.close(), "close")
    }
}
