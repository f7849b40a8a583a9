import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads a small text input (a job spec, a plan, a token id file) whole, refusing what is not a
/// regular file or is larger than the caller's limit: a device such as `/dev/zero` never ends, and
/// `FileManager.contents` reports anything it cannot read as missing.
package enum TextFile {
    /// The file's text, or the reason it cannot be read ("no such file", "is a directory", …).
    package static func read(_ path: String, limit: Int) -> Result<String, TextFileError> {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return .failure(TextFileError("no such file")) }
        let type = attributes[.type] as? FileAttributeType
        if type == .typeDirectory { return .failure(TextFileError("is a directory")) }
        guard type == .typeRegular else { return .failure(TextFileError("is not a regular file")) }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        guard size <= limit else { return .failure(TextFileError("is \(size) bytes; at most \(limit) are read here")) }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return .failure(TextFileError("cannot be opened (\(String(cString: strerror(errno))))")) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while bytes.count <= limit {
            let result = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, $0.count) }
            if result < 0, errno == EINTR { continue }
            guard result >= 0 else { return .failure(TextFileError("cannot be read (\(String(cString: strerror(errno))))")) }
            if result == 0 { break }
            bytes += chunk.prefix(result)
        }
        guard bytes.count <= limit else { return .failure(TextFileError("grew past \(limit) bytes while being read")) }
        return .success(String(decoding: bytes, as: UTF8.self))
    }
}

/// Why a text input cannot be read.
package struct TextFileError: Error, Equatable {
    package let problem: String

    init(_ problem: String) {
        self.problem = problem
    }
}
