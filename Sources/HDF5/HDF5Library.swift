import Foundation
import CHDF5

/// Process-wide HDF5 set-up and the bridge from HDF5's error stack to `HDF5Error`.
enum HDF5Library {
    /// Opens the library once and silences its automatic error-stack printing: every failure is
    /// reported as a Swift error instead, so users see one line rather than a page of C frames.
    ///
    /// It also skips HDF5's exit-time clean-up (`H5dont_atexit`): every file ttl-train writes is
    /// closed explicitly and checked, so a file still open at exit is one whose writing already
    /// failed — and closing that again at exit (a second flush onto a full disk) crashes HDF5 1.10
    /// inside the library.
    private static let initialized: Bool = {
        H5dont_atexit()
        H5open()
        H5Eset_auto2(ttl_h5e_default(), nil, nil)
        return true
    }()

    static func ensureInitialized() {
        _ = initialized
    }

    /// The messages on HDF5's current error stack, outermost first, and clears the stack.
    static func takeErrorMessages() -> [String] {
        var messages: [String] = []
        withUnsafeMutablePointer(to: &messages) { list in
            _ = H5Ewalk2(ttl_h5e_default(), H5E_WALK_DOWNWARD, { _, entry, context in
                guard let entry, let context, let desc = entry.pointee.desc else { return 0 }
                let message = HDF5Library.condensed(String(cString: desc))
                if !message.isEmpty {
                    context.assumingMemoryBound(to: [String].self).pointee.append(message)
                }
                return 0
            }, list)
        }
        H5Eclear2(ttl_h5e_default())
        return messages
    }

    /// One line from a library message: the system's own error text when the message reports
    /// one (a failed `write` lists time, file name, descriptor, errno and sizes over two lines),
    /// otherwise the message with its line breaks removed.
    static func condensed(_ message: String) -> String {
        if let start = message.range(of: "error message = '"),
           let end = message[start.upperBound...].firstIndex(of: "'") {
            let summary = message.prefix { $0 != "," && $0 != ":" }
            return "\(summary): \(message[start.upperBound..<end])"
        }
        return message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }

    /// Builds the error for a failed call, classifying it from the library's own messages.
    static func error(_ operation: String, file: String, object: String) -> HDF5Error {
        let messages = takeErrorMessages()
        let detail = messages.last ?? ""
        let text = messages.joined(separator: " ").lowercased()
        if text.contains("fletcher32") || text.contains("checksum") {
            return HDF5Error(.checksumMismatch, file: file, object: object, detail: detail)
        }
        return HDF5Error(.failed(operation: operation), file: file, object: object, detail: detail)
    }
}

/// Owns one HDF5 identifier and closes it exactly once: explicitly, or when the last reference
/// goes away.
final class Handle {
    let id: hid_t
    private let closeFunction: (hid_t) -> herr_t
    private(set) var isOpen = true

    init(_ id: hid_t, close: @escaping (hid_t) -> herr_t) {
        self.id = id
        self.closeFunction = close
    }

    func close() -> herr_t {
        guard isOpen else { return 0 }
        isOpen = false
        return closeFunction(id)
    }

    deinit {
        _ = close()
    }
}

/// Where an object lives, carried by every wrapper so that errors can name it.
struct ObjectPath {
    let file: String
    let path: String

    func child(_ name: String) -> ObjectPath {
        if name.hasPrefix("/") { return ObjectPath(file: file, path: name) }
        return ObjectPath(file: file, path: path == "/" ? "/" + name : path + "/" + name)
    }

    func error(_ kind: HDF5Error.Kind, detail: String = "") -> HDF5Error {
        HDF5Error(kind, file: file, object: path, detail: detail)
    }

    /// Throws the library's error for `operation` when `status` is negative.
    func check(_ status: herr_t, _ operation: String) throws {
        if status < 0 { throw HDF5Library.error(operation, file: file, object: path) }
    }

    /// Returns `id` or throws the library's error for `operation` when it is invalid.
    func checkID(_ id: hid_t, _ operation: String) throws -> hid_t {
        if id < 0 { throw HDF5Library.error(operation, file: file, object: path) }
        return id
    }
}
