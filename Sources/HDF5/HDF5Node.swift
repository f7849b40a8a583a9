/// What groups and datasets share: an open identifier, a path, and attributes.
public class HDF5Node {
    let handle: Handle
    let location: ObjectPath

    init(handle: Handle, location: ObjectPath) {
        self.handle = handle
        self.location = location
    }

    /// Path of the object inside its file (`/` for the root group).
    public var path: String { location.path }
    /// Path of the file on disk.
    public var file: String { location.file }
    public var attributes: HDF5Attributes { HDF5Attributes(owner: handle, location: location) }
}
