import CHDF5

/// The attributes of one group, dataset or file: small named values (scalars, short arrays,
/// strings) such as a format version, a config entry or a fingerprint.
///
/// Setting an attribute that exists replaces it, whatever its old type or shape.
public struct HDF5Attributes {
    let owner: Handle
    let location: ObjectPath

    private func attributePath(_ name: String) -> ObjectPath {
        ObjectPath(file: location.file, path: "\(location.path)@\(name)")
    }

    public func contains(_ name: String) -> Bool {
        H5Aexists(owner.id, name) > 0
    }

    /// Names of all attributes, in name order.
    public func names() throws -> [String] {
        var names: [String] = []
        var index: hsize_t = 0
        try withUnsafeMutablePointer(to: &names) { list in
            try location.check(H5Aiterate2(owner.id, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, context in
                guard let name, let context else { return 0 }
                context.assumingMemoryBound(to: [String].self).pointee.append(String(cString: name))
                return 0
            }, list), "list attributes")
        }
        return names
    }

    public func set<T: HDF5Scalar>(_ name: String, _ value: T) throws {
        try write(name, shape: [], type: T.elementType.nativeType) { attribute, memoryType in
            withUnsafeBytes(of: value) { H5Awrite(attribute, memoryType, $0.baseAddress!) }
        }
    }

    public func set<T: HDF5Scalar>(_ name: String, _ values: [T]) throws {
        try write(name, shape: [values.count], type: T.elementType.nativeType) { attribute, memoryType in
            values.withUnsafeBytes { H5Awrite(attribute, memoryType, $0.baseAddress!) }
        }
    }

    public func set(_ name: String, _ value: String) throws {
        try setStrings(name, [value], shape: [])
    }

    public func set(_ name: String, _ values: [String]) throws {
        try setStrings(name, values, shape: [values.count])
    }

    /// A scalar attribute (or a one-element array) of exactly type `T`.
    public func value<T: HDF5Scalar>(_ name: String, as type: T.Type = T.self) throws -> T {
        let values: [T] = try array(name)
        guard values.count == 1 else {
            throw attributePath(name).error(.wrongShape(expected: "a single value", found: "\(values.count) values"))
        }
        return values[0]
    }

    public func array<T: HDF5Scalar>(_ name: String, as type: T.Type = T.self) throws -> [T] {
        try read(name) { attribute, fileType, count, path in
            guard ElementType(fileType: fileType) == T.elementType else {
                throw path.error(.wrongType(expected: T.elementType.rawValue, found: ElementType.describe(fileType: fileType)))
            }
            return try [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                if count > 0 {
                    try path.check(H5Aread(attribute, T.elementType.nativeType, buffer.baseAddress!), "read attribute")
                }
                initialized = count
            }
        }
    }

    public func string(_ name: String) throws -> String {
        let values = try strings(name)
        guard values.count == 1 else {
            throw attributePath(name).error(.wrongShape(expected: "a single string", found: "\(values.count) strings"))
        }
        return values[0]
    }

    public func strings(_ name: String) throws -> [String] {
        try read(name) { attribute, fileType, count, path in
            let space = Handle(try path.checkID(H5Aget_space(attribute), "get attribute space"), close: H5Sclose)
            return try StringCodec.read(count: count, fileType: fileType, space: space.id, at: path) { memoryType, buffer in
                H5Aread(attribute, memoryType, buffer)
            }
        }
    }

    public func remove(_ name: String) throws {
        try attributePath(name).check(H5Adelete(owner.id, name), "delete attribute")
    }

    // MARK: - Shared plumbing

    private func setStrings(_ name: String, _ values: [String], shape: [Int]) throws {
        let type = try StringCodec.variableLengthType(at: attributePath(name))
        try write(name, shape: shape, type: type.id) { attribute, memoryType in
            StringCodec.withCStrings(values) { H5Awrite(attribute, memoryType, $0) }
        }
    }

    private func write(_ name: String, shape: [Int], type: hid_t, body: (hid_t, hid_t) -> herr_t) throws {
        let path = attributePath(name)
        if contains(name) { try remove(name) }
        let space = try Dataspace.create(shape: shape, at: path)
        let id = H5Acreate2(owner.id, name, type, space.id, ttl_h5p_default(), ttl_h5p_default())
        let attribute = Handle(try path.checkID(id, "create attribute"), close: H5Aclose)
        try path.check(body(attribute.id, type), "write attribute")
    }

    private func read<R>(_ name: String, body: (hid_t, hid_t, Int, ObjectPath) throws -> R) throws -> R {
        let path = attributePath(name)
        guard contains(name) else { throw path.error(.missingObject) }
        let attribute = Handle(try path.checkID(H5Aopen(owner.id, name, ttl_h5p_default()), "open attribute"), close: H5Aclose)
        let fileType = Handle(try path.checkID(H5Aget_type(attribute.id), "get attribute type"), close: H5Tclose)
        let space = Handle(try path.checkID(H5Aget_space(attribute.id), "get attribute space"), close: H5Sclose)
        let count = Int(H5Sget_simple_extent_npoints(space.id))
        return try body(attribute.id, fileType.id, count, path)
    }
}
