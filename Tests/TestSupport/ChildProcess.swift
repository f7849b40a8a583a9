import Foundation

/// Runs a program to completion and captures what it printed, for tests of commands and scripts.
public struct ChildProcess {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public let seconds: Double
    /// Whether it was still running at the deadline (and was then terminated).
    public let timedOut: Bool

    /// Runs `executable arguments…`; both pipes are drained while it runs, so a chatty child never
    /// blocks, and it is terminated if it outlives `timeout` seconds.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, timeout: Double = 600
    ) throws -> ChildProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = PipeReader()
        let errors = PipeReader()
        process.standardOutput = output.pipe
        process.standardError = errors.pipe
        let started = Date()
        try process.run()
        output.start()
        errors.start()
        let deadline = started.addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        let timedOut = process.isRunning
        if timedOut { process.terminate() }
        process.waitUntilExit()
        return ChildProcess(status: process.terminationStatus, stdout: output.text(), stderr: errors.text(),
                            seconds: Date().timeIntervalSince(started), timedOut: timedOut)
    }
}

/// Drains a pipe on a background thread.
private final class PipeReader: @unchecked Sendable {
    let pipe = Pipe()
    private let lock = NSLock()
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    func start() {
        Thread.detachNewThread { [self] in
            let all = pipe.fileHandleForReading.readDataToEndOfFile()
            lock.lock()
            data = all
            lock.unlock()
            done.signal()
        }
    }

    func text() -> String {
        _ = done.wait(timeout: .now() + 10)
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
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
