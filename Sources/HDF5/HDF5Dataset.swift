import CHDF5

/// An n-dimensional array stored in a file, read and written as flat row-major Swift arrays.
public final class HDF5Dataset: HDF5Node {
    public func shape() throws -> [Int] {
        try extents().shape
    }

    /// Maximum extents; nil marks an unlimited (appendable) dimension.
    public func maxShape() throws -> [Int?] {
        try extents().maxShape
    }

    /// The stored element type's name (`float32`, `int64`, `string`, …).
    public func elementTypeName() throws -> String {
        try withFileType { ElementType.describe(fileType: $0) }
    }

    /// The whole dataset, which must hold exactly `T`'s element type.
    public func read<T: HDF5Scalar>(as type: T.Type = T.self) throws -> [T] {
        try checkType(T.self)
        let count = Dataspace.elementCount(try shape())
        return try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 {
                let all = ttl_h5s_all()
                try location.check(H5Dread(handle.id, T.elementType.nativeType, all, all, ttl_h5p_default(), buffer.baseAddress!), "read")
            }
            initialized = count
        }
    }

    /// Rows `rows` along the first dimension, e.g. a slice of a weight matrix or of a metrics column.
    public func read<T: HDF5Scalar>(rows: Range<Int>, as type: T.Type = T.self) throws -> [T] {
        try checkType(T.self)
        let shape = try shape()
        guard let total = shape.first, rows.lowerBound >= 0, rows.upperBound <= total else {
            throw location.error(.wrongShape(expected: "at least \(rows.upperBound) rows", found: Dataspace.describe(shape)))
        }
        let rowShape = Array(shape.dropFirst())
        let count = rows.count * Dataspace.elementCount(rowShape)
        return try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 {
                try transfer(rows: rows, rowShape: rowShape) { memorySpace, fileSpace in
                    H5Dread(handle.id, T.elementType.nativeType, memorySpace, fileSpace, ttl_h5p_default(), buffer.baseAddress!)
                }
            }
            initialized = count
        }
    }

    /// Overwrites the whole dataset; `values.count` must equal its element count.
    public func write<T: HDF5Scalar>(_ values: [T]) throws {
        try checkType(T.self)
        let shape = try shape()
        guard values.count == Dataspace.elementCount(shape) else {
            throw location.error(.wrongShape(expected: Dataspace.describe(shape), found: "\(values.count) values"))
        }
        guard !values.isEmpty else { return }
        let all = ttl_h5s_all()
        try values.withUnsafeBytes { bytes in
            try location.check(H5Dwrite(handle.id, T.elementType.nativeType, all, all, ttl_h5p_default(), bytes.baseAddress!), "write")
        }
    }

    /// Appends whole rows along the first (unlimited) dimension.
    public func append<T: HDF5Scalar>(_ values: [T]) throws {
        try checkType(T.self)
        let shape = try shape()
        let rowShape = Array(shape.dropFirst())
        let rowElements = Dataspace.elementCount(rowShape)
        guard !shape.isEmpty, rowElements > 0, values.count % rowElements == 0 else {
            throw location.error(.wrongShape(expected: "whole rows of \(Dataspace.describe(rowShape))", found: "\(values.count) values"))
        }
        let start = shape[0]
        let added = values.count / rowElements
        try resize(rows: start + added)
        guard added > 0 else { return }
        try values.withUnsafeBytes { bytes in
            try transfer(rows: start..<(start + added), rowShape: rowShape) { memorySpace, fileSpace in
                H5Dwrite(handle.id, T.elementType.nativeType, memorySpace, fileSpace, ttl_h5p_default(), bytes.baseAddress!)
            }
        }
    }

    /// Sets the number of rows of an appendable dataset (fewer drops rows, e.g. on resume).
    public func resize(rows: Int) throws {
        var dims = try shape().map { hsize_t($0) }
        guard !dims.isEmpty else { throw location.error(.wrongShape(expected: "an array", found: "a scalar")) }
        dims[0] = hsize_t(rows)
        try location.check(H5Dset_extent(handle.id, dims), "resize")
    }

    /// All strings of a string dataset.
    public func readStrings() throws -> [String] {
        let space = Handle(try location.checkID(H5Dget_space(handle.id), "get dataspace"), close: H5Sclose)
        let count = Int(H5Sget_simple_extent_npoints(space.id))
        return try withFileType { fileType in
            try StringCodec.read(count: count, fileType: fileType, space: space.id, at: location) { memoryType, buffer in
                let all = ttl_h5s_all()
                return H5Dread(handle.id, memoryType, all, all, ttl_h5p_default(), buffer)
            }
        }
    }

    /// Pushes this dataset's data and metadata to the file, so SWMR readers see appended rows.
    public func flush() throws {
        try location.check(H5Dflush(handle.id), "flush")
    }

    // MARK: - Plumbing

    private func extents() throws -> (shape: [Int], maxShape: [Int?]) {
        let space = Handle(try location.checkID(H5Dget_space(handle.id), "get dataspace"), close: H5Sclose)
        return Dataspace.extents(space.id)
    }

    private func withFileType<R>(_ body: (hid_t) throws -> R) throws -> R {
        let type = Handle(try location.checkID(H5Dget_type(handle.id), "get datatype"), close: H5Tclose)
        return try body(type.id)
    }

    private func checkType<T: HDF5Scalar>(_ type: T.Type) throws {
        try withFileType { fileType in
            guard ElementType(fileType: fileType) == T.elementType else {
                throw location.error(.wrongType(expected: T.elementType.rawValue, found: ElementType.describe(fileType: fileType)))
            }
        }
    }

    /// Runs a read or write of whole rows `rows`, with matching memory and file selections.
    private func transfer(rows: Range<Int>, rowShape: [Int], _ body: (hid_t, hid_t) -> herr_t) throws {
        let fileSpace = Handle(try location.checkID(H5Dget_space(handle.id), "get dataspace"), close: H5Sclose)
        let start = [hsize_t(rows.lowerBound)] + rowShape.map { _ in hsize_t(0) }
        let count = [hsize_t(rows.count)] + rowShape.map { hsize_t($0) }
        try location.check(H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, start, nil, count, nil), "select rows")
        let memorySpace = try Dataspace.create(shape: count.map { Int($0) }, at: location)
        try location.check(body(memorySpace.id, fileSpace.id), "transfer rows \(rows.lowerBound)..<\(rows.upperBound)")
    }
}
