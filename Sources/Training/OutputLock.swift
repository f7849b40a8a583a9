import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A run's claim on its output directory: an exclusive `flock` on `OUTPUT/ttl-train.lock`, held by
/// rank 0 from before it reads or writes anything there until the process ends. A second run on
/// the same directory is refused with the holder's host and pid instead of silently merging its
/// checkpoints and metrics into the first one's. The kernel drops the lock when its holder dies,
/// however it dies, so a killed run never blocks `--resume auto`; the file itself stays and is
/// simply taken over.
public final class OutputLock {
    public static let fileName = "ttl-train.lock"

    public let path: String
    private let descriptor: Int32

    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        descriptor = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw OutputLockError(directory: directory, problem: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.holder(descriptor)
            close(descriptor)
            throw OutputLockError(directory: directory, problem: "is in use by another ttl-train run (\(holder)); wait for it to end or choose another output")
        }
        let owner = "pid \(getpid()) on host \(ProcessInfo.processInfo.hostName)\n"
        guard ftruncate(descriptor, 0) == 0, pwrite(descriptor, owner, owner.utf8.count, 0) == owner.utf8.count else {
            let problem = "cannot write \(path): \(String(cString: strerror(errno)))"
            close(descriptor)
            throw OutputLockError(directory: directory, problem: problem)
        }
    }

    deinit {
        close(descriptor)
    }

    /// What the holder wrote into the lock file ("pid 123 on host node7").
    private static func holder(_ descriptor: Int32) -> String {
        var bytes = [UInt8](repeating: 0, count: 256)
        let count = pread(descriptor, &bytes, bytes.count, 0)
        let text = String(decoding: bytes.prefix(max(count, 0)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "it has not written its pid yet" : text
    }
}

/// An output directory that this run cannot own.
public struct OutputLockError: Error, Equatable, CustomStringConvertible, Sendable {
    public let directory: String
    public let problem: String

    public var description: String { "\(directory): \(problem)" }
}
