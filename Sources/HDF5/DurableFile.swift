import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Puts a whole file in place so that its real name never holds anything but the complete bytes:
/// they go to a fresh temporary file beside it — created exclusively, so neither a leftover file
/// nor a planted symbolic link is ever opened — every `write` is checked (a full disk fails here,
/// naming the file), then `fsync`, `close`, `rename` over the real name and `fsync` of the
/// directory. On any failure the temporary file is removed and whatever had the real name before
/// is untouched.
public enum DurableFile {
    /// Suffix of the temporary files; `removeLeftovers` deletes ones a killed writer left behind.
    public static let temporaryMarker = ".tmp-"

    public static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = temporaryName(for: path)
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw DurableFileError(path: path, problem: "cannot create temporary file \(temporary): \(systemError())") }
        do {
            try bytes.withUnsafeBytes { buffer in
                var written = 0
                while written < buffer.count {
                    let result = Glibc.write(descriptor, buffer.baseAddress! + written, buffer.count - written)
                    if result < 0, errno == EINTR { continue }
                    guard result > 0 else {
                        throw DurableFileError(path: path, problem: "not written (failed after \(written) of \(buffer.count) bytes: \(systemError()))")
                    }
                    written += result
                }
            }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        guard close(descriptor) == 0 else {
            let problem = "not written (close failed: \(systemError()))"
            unlink(temporary)
            throw DurableFileError(path: path, problem: problem)
        }
        try commit(temporary, to: path)
    }

    /// A fresh name beside `path` for its temporary file (`path.tmp-<random>`).
    public static func temporaryName(for path: String) -> String {
        path + temporaryMarker + String(UInt32.random(in: .min ... .max), radix: 16)
    }

    /// Puts the complete `temporary` (made exclusively by the caller) in place as `path`: fsync,
    /// rename, fsync of the directory. The temporary file is removed if any step fails.
    public static func commit(_ temporary: String, to path: String) throws {
        do {
            let descriptor = open(temporary, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            guard descriptor >= 0 else { throw DurableFileError(path: path, problem: "not written (cannot reopen \(temporary): \(systemError()))") }
            defer { close(descriptor) }
            guard fsync(descriptor) == 0 else { throw DurableFileError(path: path, problem: "not written (fsync failed: \(systemError()))") }
            var status = stat()
            if lstat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
                throw DurableFileError(path: path, problem: "is a directory; move it away to let this file be written")
            }
            guard rename(temporary, path) == 0 else {
                throw DurableFileError(path: path, problem: "cannot rename \(temporary) to it: \(systemError())")
            }
        } catch {
            unlink(temporary)
            throw error
        }
        let directory = (path as NSString).deletingLastPathComponent
        try synchronize(directory: directory.isEmpty ? "." : directory)
    }

    /// Deletes temporary files of `DurableFile.write` in `directory` (left by a killed writer);
    /// `unlink` removes a link itself, never what it points to.
    public static func removeLeftovers(in directory: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.contains(temporaryMarker) {
            unlink((directory as NSString).appendingPathComponent(name))
        }
    }

    /// Refuses a path that is a symbolic link: what ttl-train writes in place (a log it appends
    /// to) must never go through a link to some other file.
    public static func refuseSymbolicLink(_ path: String) throws {
        var status = stat()
        if lstat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFLNK {
            throw DurableFileError(path: path, problem: "is a symbolic link; ttl-train does not write through links (remove it)")
        }
    }

    private static func synchronize(directory: String) throws {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw DurableFileError(path: directory, problem: "cannot open to sync: \(systemError())") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw DurableFileError(path: directory, problem: "fsync failed: \(systemError())") }
    }

    private static func systemError() -> String {
        String(cString: strerror(errno))
    }
}

/// A file that could not be written, naming it.
public struct DurableFileError: Error, Equatable, CustomStringConvertible, Sendable {
    public let path: String
    public let problem: String

    public var description: String { "\(path): \(problem)" }
}
