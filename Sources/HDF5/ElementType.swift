import CHDF5

/// The numeric element types the project stores. Reads are strict: a float64 dataset is not
/// silently narrowed to Float, so a file written with the wrong dtype is caught where it is read.
public enum ElementType: String, Sendable, CaseIterable {
    case float32, float64, int32, int64, uint8

    var nativeType: hid_t {
        switch self {
        case .float32: return ttl_h5t_native_float()
        case .float64: return ttl_h5t_native_double()
        case .int32: return ttl_h5t_native_int32()
        case .int64: return ttl_h5t_native_int64()
        case .uint8: return ttl_h5t_native_uint8()
        }
    }

    /// The element type that a stored datatype holds exactly, or nil for anything else.
    init?(fileType: hid_t) {
        let size = H5Tget_size(fileType)
        switch H5Tget_class(fileType) {
        case H5T_FLOAT:
            switch size {
            case 4: self = .float32
            case 8: self = .float64
            default: return nil
            }
        case H5T_INTEGER:
            let signed = H5Tget_sign(fileType) == H5T_SGN_2
            switch (size, signed) {
            case (4, true): self = .int32
            case (8, true): self = .int64
            case (1, false): self = .uint8
            default: return nil
            }
        default:
            return nil
        }
    }

    /// A short name for any stored datatype, for error messages (`float64`, `int16`, `string`, …).
    static func describe(fileType: hid_t) -> String {
        if let known = ElementType(fileType: fileType) { return known.rawValue }
        let bits = H5Tget_size(fileType) * 8
        switch H5Tget_class(fileType) {
        case H5T_FLOAT: return "float\(bits)"
        case H5T_INTEGER: return (H5Tget_sign(fileType) == H5T_SGN_2 ? "int" : "uint") + "\(bits)"
        case H5T_STRING: return "string"
        case H5T_COMPOUND: return "compound"
        case H5T_ENUM: return "enum"
        default: return "another type"
        }
    }
}

/// A Swift type that maps one-to-one onto an HDF5 element type.
public protocol HDF5Scalar: Sendable {
    static var elementType: ElementType { get }
}

extension Float: HDF5Scalar { public static var elementType: ElementType { .float32 } }
extension Double: HDF5Scalar { public static var elementType: ElementType { .float64 } }
extension Int32: HDF5Scalar { public static var elementType: ElementType { .int32 } }
extension Int64: HDF5Scalar { public static var elementType: ElementType { .int64 } }
extension UInt8: HDF5Scalar { public static var elementType: ElementType { .uint8 } }
