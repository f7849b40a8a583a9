import CHDF5

/// A group: a folder of datasets and groups. Paths may be relative (`layers/0/q_proj`) or
/// absolute (`/model/norm/weight`); missing intermediate groups are created on the way down.
public final class HDF5Group: HDF5Node {
    /// Whether a link exists at `path`, checking every intermediate group on the way.
    public func contains(_ path: String) -> Bool {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += (prefix.isEmpty || prefix.hasSuffix("/") ? "" : "/") + component
            if H5Lexists(handle.id, prefix, ttl_h5p_default()) <= 0 { return false }
        }
        return true
    }

    /// Names of the direct children (groups and datasets), in name order.
    public func childNames() throws -> [String] {
        var names: [String] = []
        var index: hsize_t = 0
        try withUnsafeMutablePointer(to: &names) { list in
            try location.check(H5Literate(handle.id, H5_INDEX_NAME, H5_ITER_INC, &index, { _, name, _, context in
                guard let name, let context else { return 0 }
                context.assumingMemoryBound(to: [String].self).pointee.append(String(cString: name))
                return 0
            }, list), "list children")
        }
        return names
    }

    /// Whether `path` names a group (as opposed to a dataset or nothing).
    public func isGroup(_ path: String) -> Bool {
        guard contains(path) else { return false }
        var info = H5O_info_t()
        guard H5Oget_info_by_name2(handle.id, path, &info, UInt32(H5O_INFO_BASIC), ttl_h5p_default()) >= 0 else {
            _ = HDF5Library.takeErrorMessages()
            return false
        }
        return info.type == H5O_TYPE_GROUP
    }

    public func openGroup(_ path: String) throws -> HDF5Group {
        let target = location.child(path)
        guard contains(path) else { throw target.error(.missingObject) }
        let id = try target.checkID(H5Gopen2(handle.id, path, ttl_h5p_default()), "open group")
        return HDF5Group(handle: Handle(id, close: H5Gclose), location: target)
    }

    /// Creates a group (and any missing parents); fails if it exists.
    public func createGroup(_ path: String) throws -> HDF5Group {
        let target = location.child(path)
        guard !contains(path) else { throw target.error(.alreadyExists) }
        let links = try Self.intermediateGroupLinks(at: target)
        let id = try target.checkID(H5Gcreate2(handle.id, path, links.id, ttl_h5p_default(), ttl_h5p_default()), "create group")
        return HDF5Group(handle: Handle(id, close: H5Gclose), location: target)
    }

    /// The group at `path`, created if missing.
    public func group(_ path: String) throws -> HDF5Group {
        contains(path) ? try openGroup(path) : try createGroup(path)
    }

    public func openDataset(_ path: String) throws -> HDF5Dataset {
        let target = location.child(path)
        guard contains(path) else { throw target.error(.missingObject) }
        let id = try target.checkID(H5Dopen2(handle.id, path, ttl_h5p_default()), "open dataset")
        return HDF5Dataset(handle: Handle(id, close: H5Dclose), location: target)
    }

    /// Creates an empty dataset of `shape` (zero rows is fine for an appendable one).
    public func createDataset<T: HDF5Scalar>(
        _ path: String, of type: T.Type, shape: [Int], options: DatasetOptions = .plain
    ) throws -> HDF5Dataset {
        try createDataset(path, type: T.elementType.nativeType, elementSize: MemoryLayout<T>.stride, shape: shape, options: options)
    }

    /// Creates a dataset of `shape` (default: 1-D) and writes `values` into it.
    @discardableResult
    public func write<T: HDF5Scalar>(
        _ path: String, _ values: [T], shape: [Int]? = nil, options: DatasetOptions = .plain
    ) throws -> HDF5Dataset {
        let dataset = try createDataset(path, of: T.self, shape: shape ?? [values.count], options: options)
        try dataset.write(values)
        return dataset
    }

    /// Creates a 1-D dataset of variable-length UTF-8 strings.
    @discardableResult
    public func write(_ path: String, strings: [String], options: DatasetOptions = .plain) throws -> HDF5Dataset {
        let type = try StringCodec.variableLengthType(at: location.child(path))
        let dataset = try createDataset(path, type: type.id, elementSize: MemoryLayout<UnsafeRawPointer>.stride,
                                        shape: [strings.count], options: options)
        if !strings.isEmpty {
            try StringCodec.withCStrings(strings) { buffer in
                let all = ttl_h5s_all()
                try dataset.location.check(H5Dwrite(dataset.handle.id, type.id, all, all, ttl_h5p_default(), buffer), "write strings")
            }
        }
        return dataset
    }

    /// Reads a whole dataset: shorthand for `openDataset(path).read()`.
    public func read<T: HDF5Scalar>(_ path: String, as type: T.Type = T.self) throws -> [T] {
        try openDataset(path).read(as: T.self)
    }

    /// Removes the link at `path` (the space is reused by later writes to the same file).
    public func remove(_ path: String) throws {
        let target = location.child(path)
        guard contains(path) else { throw target.error(.missingObject) }
        try target.check(H5Ldelete(handle.id, path, ttl_h5p_default()), "delete")
    }

    // MARK: - Plumbing

    private func createDataset(
        _ path: String, type: hid_t, elementSize: Int, shape: [Int], options: DatasetOptions
    ) throws -> HDF5Dataset {
        let target = location.child(path)
        guard !contains(path) else { throw target.error(.alreadyExists) }
        let space = try Dataspace.create(shape: shape, unlimitedRows: options.appendable, at: target)
        let properties = Handle(try target.checkID(H5Pcreate(ttl_h5p_dataset_create()), "create properties"), close: H5Pclose)
        if options.needsChunking {
            guard !shape.isEmpty else { throw target.error(.wrongShape(expected: "an array for chunked storage", found: "a scalar")) }
            let chunk = options.chunkShape(for: shape, elementSize: elementSize).map { hsize_t($0) }
            try target.check(H5Pset_chunk(properties.id, Int32(chunk.count), chunk), "set chunk shape")
            if let level = options.gzipLevel {
                try target.check(H5Pset_deflate(properties.id, UInt32(level)), "enable gzip")
            }
            if options.fletcher32 {
                try target.check(H5Pset_fletcher32(properties.id), "enable Fletcher32")
            }
        }
        let links = try Self.intermediateGroupLinks(at: target)
        let id = H5Dcreate2(handle.id, path, type, space.id, links.id, properties.id, ttl_h5p_default())
        return HDF5Dataset(handle: Handle(try target.checkID(id, "create dataset"), close: H5Dclose), location: target)
    }

    /// Link-creation properties that create missing parent groups.
    private static func intermediateGroupLinks(at target: ObjectPath) throws -> Handle {
        let links = Handle(try target.checkID(H5Pcreate(ttl_h5p_link_create()), "create properties"), close: H5Pclose)
        try target.check(H5Pset_create_intermediate_group(links.id, 1), "set intermediate groups")
        return links
    }
}
