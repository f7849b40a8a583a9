import Distributed
import Foundation
import TestSupport
import XCTest

/// Collectives wait for a late peer without spinning on a core, and give up on one that never
/// comes: each test starts this test binary under `mpirun -np 3` running only a probe below.
final class CollectiveTimeoutTests: XCTestCase {
    private func probe(_ name: String, timeout: Double = 60) throws -> ChildProcess {
        let mpirun = try MPIRun.requireLauncher()
        var environment = MPIRun.cleanEnvironment
        environment["TTL_TIMEOUT_PROBE"] = "1"
        return try ChildProcess.run(
            mpirun,
            MPIRun.arguments(ranks: 3) + [CommandLine.arguments[0], "DistributedTests.CollectiveTimeoutProbe/\(name)"],
            environment: environment, timeout: timeout)
    }

    func testAPeerThatNeverArrivesEndsTheJobWithinTheTimeout() throws {
        let run = try probe("testRankTwoNeverArrives")
        XCTAssertFalse(run.timedOut, "ranks still running 60 s after the timeout of 1 s")
        XCTAssertEqual(run.status, CollectiveTimeout.exitCode, "stderr: \(run.stderr)\nstdout: \(run.stdout)")
        XCTAssertLessThan(run.seconds, 15, "ending took \(run.seconds) s")
        let lines = run.stderr.split(separator: "\n").filter { $0.hasPrefix("ttl-train: rank ") }
        // Rank 0 or 1 gives up first; the other hears its roll call (or times out itself) and
        // ends too, unless the abort took it down before it could print.
        XCTAssertFalse(lines.isEmpty, run.stderr)
        for line in lines {
            XCTAssertTrue(
                line.hasPrefix("ttl-train: rank 0 of 3: probe step 7: all-reduce waited ")
                    || line.hasPrefix("ttl-train: rank 1 of 3: probe step 7: all-reduce waited "), String(line))
            XCTAssertTrue(line.hasSuffix("; no answer from rank 2; ending the job (exit status 69)"), String(line))
        }
    }

    func testALatePeerIsWaitedForWithoutSpinning() throws {
        let run = try probe("testRankTwoArrivesLate")
        XCTAssertEqual(run.status, 0, "stderr: \(run.stderr)\nstdout: \(run.stdout)")
        XCTAssertEqual(run.stdout.components(separatedBy: "probe passed").count - 1, 3, run.stdout)
    }
}

/// Runs only inside the mpirun started by `CollectiveTimeoutTests`.
final class CollectiveTimeoutProbe: XCTestCase {
    private func world() throws -> MPICommunicator {
        guard ProcessInfo.processInfo.environment["TTL_TIMEOUT_PROBE"] == "1" else {
            throw XCTSkip("only run by CollectiveTimeoutTests")
        }
        return try MPICommunicator.world()
    }

    func testRankTwoNeverArrives() throws {
        let world = try self.world()
        world.timeout = CollectiveTimeout(seconds: 1, setting: "the probe's timeout")
        if world.rank == 2 { Thread.sleep(forTimeInterval: 120) }
        try world.during("probe step 7") {
            var values: [Int64] = [1]
            try world.allreduce(&values, .sum)
        }
        XCTFail("rank \(world.rank) passed an all-reduce that rank 2 never reached")
    }

    /// Rank 2 comes 2 s late to a timeout of 10 s: the others get the right sum, and while they
    /// wait their CPU time grows by less than a tenth of the wall time (a blocking MPI collective
    /// polls at 100 %).
    func testRankTwoArrivesLate() throws {
        let world = try self.world()
        world.timeout = CollectiveTimeout(seconds: 10, setting: "the probe's timeout")
        try world.barrier()
        if world.rank == 2 { Thread.sleep(forTimeInterval: 2) }
        let (wall, cpu) = (Date(), Self.cpuSeconds())
        var values: [Int64] = [Int64(world.rank + 1)]
        try world.allreduce(&values, .sum)
        XCTAssertEqual(values, [6])
        if world.rank != 2 {
            let waited = Date().timeIntervalSince(wall)
            XCTAssertGreaterThan(waited, 1.5)
            XCTAssertLessThan(Self.cpuSeconds() - cpu, waited / 10, "rank \(world.rank) spun while waiting")
        }
        print("probe passed")
    }

    private static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(
            usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
