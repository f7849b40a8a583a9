import Foundation

/// A program run to completion and what it printed, for tests of commands and scripts.
public struct ChildProcess {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public let seconds: Double
    /// Whether it was still running at the deadline (and was then terminated).
    public let timedOut: Bool

    /// Runs `executable arguments…`, terminated if it outlives `timeout` seconds.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, timeout: Double = 600
    ) throws -> ChildProcess {
        try RunningProcess(executable, arguments, environment: environment).finish(timeout: timeout)
    }
}

/// A program started in the background: a test can watch its output, signal it and its children,
/// and then collect it. Both pipes are drained while it runs, so a chatty child never blocks.
public final class RunningProcess {
    private let process = Process()
    private let output = PipeReader()
    private let errors = PipeReader()
    private let started = Date()

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = output.pipe
        process.standardError = errors.pipe
        try process.run()
        output.start()
        errors.start()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    /// Standard output so far.
    public var stdout: String { output.text() }
    /// Standard error so far.
    public var stderr: String { errors.text() }

    /// Waits until standard output contains `text`; false if the process ended or `timeout`
    /// passed first.
    public func waitForOutput(containing text: String, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stdout.contains(text) { return true }
            if !process.isRunning { return stdout.contains(text) }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return false
    }

    public func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    /// The processes this one started (from /proc), with their environment variables.
    public func children() -> [(pid: Int32, environment: [String: String])] {
        processes().filter { $0.parent == pid }.map { ($0.pid, $0.environment) }
    }

    /// Every process descended from this one — under mpirun with a launch agent, the ranks of
    /// other hosts are its grandchildren' children — with their environment variables.
    public func descendants() -> [(pid: Int32, environment: [String: String])] {
        let all = processes()
        var family: Set<Int32> = [pid]
        var grew = true
        while grew {
            let before = family.count
            for process in all where family.contains(process.parent) { family.insert(process.pid) }
            grew = family.count > before
        }
        return all.filter { $0.pid != pid && family.contains($0.pid) }.map { ($0.pid, $0.environment) }
    }

    private func processes() -> [(pid: Int32, parent: Int32, environment: [String: String])] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).compactMap { child in
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                  let afterName = stat.range(of: ") ", options: .backwards) else { return nil }
            let fields = stat[afterName.upperBound...].split(separator: " ")
            guard fields.count > 1, let parent = Int32(fields[1]),
                  let environ = FileManager.default.contents(atPath: "/proc/\(child)/environ") else { return nil }
            var environment: [String: String] = [:]
            for entry in environ.split(separator: 0) {
                let parts = String(decoding: entry, as: UTF8.self).split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2 { environment[parts[0]] = parts[1] }
            }
            return (child, parent, environment)
        }
    }

    /// Waits for the end (terminating it after `timeout` seconds) and returns what it printed.
    public func finish(timeout: Double) -> ChildProcess {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let timedOut = process.isRunning
        if timedOut { process.terminate() }
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(started)
        return ChildProcess(status: process.terminationStatus, stdout: output.finalText(), stderr: errors.finalText(),
                            seconds: seconds, timedOut: timedOut)
    }
}

/// Drains a pipe on a background thread, keeping what arrived so far readable.
private final class PipeReader: @unchecked Sendable {
    let pipe = Pipe()
    private let lock = NSLock()
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    func start() {
        Thread.detachNewThread { [self] in
            let handle = pipe.fileHandleForReading
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.lock()
                data.append(chunk)
                lock.unlock()
            }
            done.signal()
        }
    }

    func text() -> String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }

    /// Everything, once the writer closed the pipe (or after 10 s).
    func finalText() -> String {
        _ = done.wait(timeout: .now() + 10)
        return text()
    }
}

extension ChildProcess {
    /// Standard output's `key=value` lines, as the commands print them.
    public var keyValues: [String: String] {
        var values: [String: String] = [:]
        for line in stdout.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        return values
    }
}
