import Distributed
import Foundation
import XCTest

/// A failing rank must take the whole job down at once instead of leaving the others blocked in
/// their next collective. `testAbortOnOneRankEndsAllRanksPromptly` starts this test binary under
/// `mpirun -np 3` running only `AbortProbe`, where rank 1 aborts while ranks 0 and 2 wait in a
/// barrier that can never complete, and checks that everything ends quickly with rank 1's message.
final class AbortTests: XCTestCase {
    func testAbortOnOneRankEndsAllRanksPromptly() throws {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OMPI_COMM_WORLD_SIZE"] == nil else {
            throw XCTSkip("launches its own mpirun; not run inside one")
        }
        guard let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("mpirun is not installed: run scripts/setup.sh")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: mpirun)
        process.arguments = ["--allow-run-as-root", "--oversubscribe", "-np", "3",
                             CommandLine.arguments[0], "DistributedTests.AbortProbe/testRankOneAborts"]
        var probeEnvironment = environment
        probeEnvironment["TTL_ABORT_PROBE"] = "1"
        process.environment = probeEnvironment
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        let started = Date()
        try process.run()
        let collected = ErrorCollector(errors.fileHandleForReading)
        let deadline = started.addingTimeInterval(60)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let elapsed = Date().timeIntervalSince(started)
        if process.isRunning {
            process.terminate()
            XCTFail("ranks still running 60 s after rank 1 aborted")
            return
        }
        let stderr = collected.text()
        XCTAssertNotEqual(process.terminationStatus, 0)
        XCTAssertLessThan(elapsed, 30, "aborting took \(elapsed) s")
        XCTAssertTrue(stderr.contains("ttl-train: rank 1 of 3: probe failure on purpose"), stderr)
    }
}

/// Runs only inside the mpirun started by `testAbortOnOneRankEndsAllRanksPromptly`.
final class AbortProbe: XCTestCase {
    func testRankOneAborts() throws {
        guard ProcessInfo.processInfo.environment["TTL_ABORT_PROBE"] == "1" else {
            throw XCTSkip("only run by AbortTests")
        }
        let world = try MPICommunicator.world()
        if world.rank == 1 {
            Thread.sleep(forTimeInterval: 0.2)
            world.abort("probe failure on purpose", exitCode: 7)
        }
        try world.barrier()
        XCTFail("rank \(world.rank) passed a barrier that rank 1 never reached")
    }
}

/// Drains a pipe on a background thread so the child never blocks on a full pipe.
private final class ErrorCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            let all = handle.readDataToEndOfFile()
            lock.lock()
            data = all
            lock.unlock()
            done.signal()
        }
    }

    func text() -> String {
        _ = done.wait(timeout: .now() + 5)
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }
}
