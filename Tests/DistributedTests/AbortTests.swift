import Distributed
import Foundation
import TestSupport
import XCTest

/// A failing rank must take the whole job down at once instead of leaving the others blocked in
/// their next collective. `testAbortOnOneRankEndsAllRanksPromptly` starts this test binary under
/// `mpirun -np 3` running only `AbortProbe`, where rank 1 aborts while ranks 0 and 2 wait in a
/// barrier that can never complete, and checks that everything ends quickly with rank 1's message.
final class AbortTests: XCTestCase {
    func testAbortOnOneRankEndsAllRanksPromptly() throws {
        let mpirun = try MPIRun.requireLauncher()
        var probeEnvironment = MPIRun.cleanEnvironment
        probeEnvironment["TTL_ABORT_PROBE"] = "1"
        let run = try ChildProcess.run(
            mpirun, MPIRun.arguments(ranks: 3) + [CommandLine.arguments[0], "DistributedTests.AbortProbe/testRankOneAborts"],
            environment: probeEnvironment, timeout: 60)
        XCTAssertFalse(run.timedOut, "ranks still running 60 s after rank 1 aborted")
        XCTAssertNotEqual(run.status, 0)
        XCTAssertLessThan(run.seconds, 30, "aborting took \(run.seconds) s")
        XCTAssertTrue(run.stderr.contains("ttl-train: rank 1 of 3: probe failure on purpose"), "stderr: \(run.stderr)\nstdout: \(run.stdout)")
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

