import CHDF5

/// Dataspace helpers: shapes go in and out as `[Int]`, HDF5 wants `[hsize_t]`.
enum Dataspace {
    /// A simple dataspace of `shape` (scalar when `shape` is empty); `unlimitedRows` makes the
    /// first dimension growable, which is what appendable datasets need.
    static func create(shape: [Int], unlimitedRows: Bool = false, at location: ObjectPath) throws -> Handle {
        if shape.isEmpty {
            return Handle(try location.checkID(H5Screate(H5S_SCALAR), "create dataspace"), close: H5Sclose)
        }
        let dims = shape.map { hsize_t($0) }
        var maxDims = dims
        if unlimitedRows { maxDims[0] = ttl_h5s_unlimited() }
        let id = H5Screate_simple(Int32(dims.count), dims, maxDims)
        return Handle(try location.checkID(id, "create dataspace"), close: H5Sclose)
    }

    /// Current and maximum extents of a dataspace; a maximum of nil means unlimited.
    static func extents(_ space: hid_t) -> (shape: [Int], maxShape: [Int?]) {
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank > 0 else { return ([], []) }
        var dims = [hsize_t](repeating: 0, count: rank)
        var maxDims = [hsize_t](repeating: 0, count: rank)
        H5Sget_simple_extent_dims(space, &dims, &maxDims)
        let unlimited = ttl_h5s_unlimited()
        return (dims.map { Int($0) }, maxDims.map { $0 == unlimited ? nil : Int($0) })
    }

    static func elementCount(_ shape: [Int]) -> Int {
        shape.reduce(1, *)
    }

    static func describe(_ shape: [Int]) -> String {
        "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }
}
