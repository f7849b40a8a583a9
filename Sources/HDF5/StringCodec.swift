import CHDF5
#if canImport(Glibc)
import Glibc
#endif

/// Reading and writing string data, shared by attributes and datasets.
///
/// Strings are written as variable-length UTF-8 — what h5py writes for `str` and reads back as
/// `str` — and both variable- and fixed-length strings are read, so files from other tools work.
enum StringCodec {
    /// A variable-length UTF-8 string type; the caller owns the returned handle.
    static func variableLengthType(at location: ObjectPath) throws -> Handle {
        let type = Handle(try location.checkID(H5Tcopy(ttl_h5t_c_s1()), "create string type"), close: H5Tclose)
        try location.check(H5Tset_size(type.id, ttl_h5t_variable()), "set string size")
        try location.check(H5Tset_cset(type.id, H5T_CSET_UTF8), "set string encoding")
        return type
    }

    /// Calls `body` with a buffer of C string pointers holding `strings`, freed afterwards.
    static func withCStrings<R>(_ strings: [String], _ body: (UnsafeRawPointer) throws -> R) rethrows -> R {
        let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        return try pointers.withUnsafeBufferPointer { try body(UnsafeRawPointer($0.baseAddress!)) }
    }

    /// Reads `count` strings stored as `fileType` in `space`; `read(memoryType, buffer)` does the
    /// actual H5Aread/H5Dread.
    static func read(
        count: Int, fileType: hid_t, space: hid_t, at location: ObjectPath,
        using read: (hid_t, UnsafeMutableRawPointer) -> herr_t
    ) throws -> [String] {
        guard H5Tget_class(fileType) == H5T_STRING else {
            throw location.error(.wrongType(expected: "string", found: ElementType.describe(fileType: fileType)))
        }
        if H5Tis_variable_str(fileType) > 0 {
            let memoryType = try variableLengthType(at: location)
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            try pointers.withUnsafeMutableBytes { buffer in
                try location.check(read(memoryType.id, buffer.baseAddress!), "read strings")
            }
            let strings = pointers.map { $0.map { String(cString: $0) } ?? "" }
            pointers.withUnsafeMutableBytes { buffer in
                _ = H5Dvlen_reclaim(memoryType.id, space, ttl_h5p_default(), buffer.baseAddress!)
            }
            return strings
        }
        let width = H5Tget_size(fileType)
        let memoryType = Handle(try location.checkID(H5Tcopy(ttl_h5t_c_s1()), "create string type"), close: H5Tclose)
        try location.check(H5Tset_size(memoryType.id, width), "set string size")
        var bytes = [UInt8](repeating: 0, count: width * count)
        try bytes.withUnsafeMutableBytes { buffer in
            try location.check(read(memoryType.id, buffer.baseAddress!), "read strings")
        }
        return (0..<count).map { index in
            let field = bytes[(index * width)..<((index + 1) * width)]
            let end = field.firstIndex(of: 0) ?? field.endIndex
            return String(decoding: field[field.startIndex..<end], as: UTF8.self)
                .trimmingTrailingSpaces()
        }
    }
}

private extension String {
    /// Fixed-length HDF5 strings may be space padded (H5T_STR_SPACEPAD, Fortran style).
    func trimmingTrailingSpaces() -> String {
        var view = Substring(self)
        while view.last == " " { view = view.dropLast() }
        return String(view)
    }
}
