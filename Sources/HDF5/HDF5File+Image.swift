import CHDF5
#if canImport(Glibc)
import Glibc
#endif

extension HDF5File {
    /// A file built entirely in memory (HDF5's core driver without a backing store), to be put on
    /// disk in one piece with `writeDurably(to:)`. Small files that must never exist half-written
    /// (checkpoints) are made this way: HDF5 writes its metadata lazily, up to the final close, so
    /// a full disk would otherwise surface after the file looked written — or as a crash inside
    /// the library while it closes a file it could not flush.
    public static func createInMemory(name: String) throws -> HDF5File {
        HDF5Library.ensureInitialized()
        let location = ObjectPath(file: name, path: "/")
        let access = Handle(try location.checkID(H5Pcreate(ttl_h5p_file_access()), "create properties"), close: H5Pclose)
        try location.check(H5Pset_fapl_core(access.id, 1 << 20, false), "select the in-memory driver")
        let id = H5Fcreate(name, ttl_h5f_acc_trunc(), ttl_h5p_default(), access.id)
        return HDF5File(path: name, id: try location.checkID(id, "create file"))
    }

    /// The complete file as bytes (everything flushed first).
    public func image() throws -> [UInt8] {
        try flush()
        let size = H5Fget_file_image(handle.id, nil, 0)
        guard size > 0 else { throw HDF5Library.error("read the file image", file: path, object: "/") }
        var bytes = [UInt8](repeating: 0, count: size)
        let copied = bytes.withUnsafeMutableBytes { H5Fget_file_image(handle.id, $0.baseAddress, size) }
        guard copied == size else { throw HDF5Library.error("read the file image", file: path, object: "/") }
        return bytes
    }

    /// Writes the in-memory file to `path` with `DurableFile.write` and closes it.
    public func writeDurably(to path: String) throws {
        let bytes = try image()
        try close()
        try DurableFile.write(bytes, to: path)
    }
}

extension HDF5File {
    /// Writes a file too large to build in memory (a model) so that it appears at `path` only
    /// complete: `body` fills an exclusively created temporary file beside it, which is closed
    /// (the last metadata flush, where a full disk can surface), fsynced and renamed; on any
    /// failure the temporary file is removed and `path` is untouched.
    public static func writeAtomically(to path: String, _ body: (HDF5File) throws -> Void) throws {
        let temporary = DurableFile.temporaryName(for: path)
        do {
            let file = try create(temporary, overwrite: false)
            try body(file)
            try file.close()
        } catch let error as HDF5Error {
            unlink(temporary)
            throw HDF5Error(error.kind, file: error.file == temporary ? path : error.file, object: error.object, detail: error.detail)
        } catch {
            unlink(temporary)
            throw error
        }
        try DurableFile.commit(temporary, to: path)
    }
}
