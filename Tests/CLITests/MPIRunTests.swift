import Foundation
import TestSupport
import XCTest

/// `mpirun ttl-train` as a user (or Slurm) runs it: interrupted — signals stop it at a step
/// boundary with a checkpoint and exit status 75, a `kill -9` of one rank ends the job within
/// seconds, and `--resume auto` on the same or another number of ranks finishes with exactly the
/// bits of an uninterrupted run — and spread over two "hosts" talking TCP.
final class MPIRunTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var job: TinyJob!
    private var mpirun: String!

    override func setUpWithError() throws {
        mpirun = try MPIRun.requireLauncher()
        directory = try TemporaryDirectory()
        job = try TinyJob(directory: directory)
    }

    /// Writes the job for `output` (sparse LoRA, so masks and pruning cross the interruptions too).
    private func writeJob(_ output: String, steps: Int) throws -> String {
        let path = directory.path("\(output).yaml")
        try job.yaml(kind: "sparse-lora", steps: steps, output: directory.path(output),
                     extra: ", dropout: 0.1, sparsity: {final: 0.6, start_step: 10, end_step: 200, every: 10}", checkpointEvery: 50)
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func launch(ranks: Int, _ arguments: [String]) throws -> RunningProcess {
        try RunningProcess(mpirun, MPIRun.arguments(ranks: ranks) + [ChildProcess.ttlTrainPath, "train", "--threads", "1"] + arguments,
                           environment: MPIRun.cleanEnvironment)
    }

    private func run(ranks: Int, _ arguments: [String]) throws -> ChildProcess {
        try launch(ranks: ranks, arguments).finish(timeout: 300)
    }

    /// The reference: the job for `output` trained start to end on one host.
    private func trainUninterrupted(_ output: String, steps: Int, ranks: Int, line: UInt = #line) throws {
        let reference = try run(ranks: ranks, [try writeJob(output, steps: steps)])
        XCTAssertEqual(reference.status, 0, reference.stderr, line: line)
    }

    /// The newest checkpoint of `output`.
    private func finalCheckpoint(_ output: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path("\(output)/checkpoints")).filter { $0.hasSuffix(".h5") }
        return directory.path("\(output)/checkpoints/\(try XCTUnwrap(names.max()))")
    }

    /// h5diff (hdf5-tools) compares every value of the adapters and optimizer moments exactly.
    private func assertSameBits(_ output: String, _ reference: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for object in ["/adapters", "/optimizer"] {
            let diff = try ChildProcess.run("/usr/bin/h5diff", ["-r", try finalCheckpoint(output), try finalCheckpoint(reference), object, object])
            XCTAssertEqual(diff.status, 0, "\(output) differs from \(reference) in \(object): \(diff.stdout.prefix(2000))", file: file, line: line)
        }
    }

    private func loggedSteps(_ output: String) throws -> [Int] {
        let read = try ChildProcess.run("/usr/bin/h5dump", ["-A", "0", "-d", "/train/step", "-y", "-w", "0", directory.path("\(output)/metrics.h5")])
        let body = read.stdout.components(separatedBy: "DATA {").last?.components(separatedBy: "}").first ?? ""
        return body.split(whereSeparator: { ",\n ".contains($0) }).compactMap { Int($0) }
    }

    func testSignalsStopAtAStepBoundaryAndResumeOnAnotherWorldSizeGivesTheSameBits() throws {
        let steps = 400
        try trainUninterrupted("straight", steps: steps, ranks: 1)

        let spec = try writeJob("interrupted", steps: steps)
        // 1. SIGUSR1 to mpirun, which forwards it to every rank (two ranks).
        let first = try launch(ranks: 2, [spec])
        XCTAssertTrue(first.waitForOutput(containing: "step 20/", timeout: 120), first.stdout)
        first.signal(SIGUSR1)
        let stopped = first.finish(timeout: 60)
        let firstStop = try stoppedStep(of: stopped, output: "interrupted")
        XCTAssertTrue(stopped.stderr.contains("got SIGUSR1: stopping after this step"), stopped.stderr)

        // 2. SIGTERM straight to every rank, as Slurm does on preemption (three ranks).
        let second = try launch(ranks: 3, [spec, "--resume", "auto"])
        XCTAssertTrue(second.waitForOutput(containing: "step \(firstStop + 20)/", timeout: 120), second.stdout)
        let ranks = second.children()
        XCTAssertEqual(ranks.count, 3)
        for rank in ranks { kill(rank.pid, SIGTERM) }
        let preempted = second.finish(timeout: 60)
        XCTAssertTrue(preempted.stdout.contains("resuming from \(checkpoint("interrupted", step: firstStop))"), preempted.stdout)
        let secondStop = try stoppedStep(of: preempted, output: "interrupted")
        XCTAssertGreaterThan(secondStop, firstStop)

        // 3. One rank finishes it.
        let finished = try run(ranks: 1, [spec, "--resume", "auto"])
        XCTAssertEqual(finished.status, 0, finished.stderr)
        XCTAssertTrue(finished.stdout.contains("resuming from \(checkpoint("interrupted", step: secondStop)) at step \(secondStop)"), finished.stdout)
        try assertSameBits("interrupted", "straight")
        XCTAssertEqual(try loggedSteps("interrupted"), Array(1...steps))
    }

    func testKillingOneRankEndsTheJobPromptlyAndAutoResumeFinishesIt() throws {
        let steps = 300
        try trainUninterrupted("straight", steps: steps, ranks: 2)

        let spec = try writeJob("killed", steps: steps)
        let running = try launch(ranks: 2, [spec])
        XCTAssertTrue(running.waitForOutput(containing: "checkpoint \(checkpoint("killed", step: 100))", timeout: 120), running.stdout)
        let rank1 = try XCTUnwrap(running.children().first { $0.environment["OMPI_COMM_WORLD_RANK"] == "1" })
        let killedAt = Date()
        kill(rank1.pid, SIGKILL)
        let ended = running.finish(timeout: 60)
        let seconds = Date().timeIntervalSince(killedAt)
        XCTAssertFalse(ended.timedOut)
        XCTAssertNotEqual(ended.status, 0)
        XCTAssertLessThan(seconds, 10, "the job took \(seconds) s to end after rank 1 was killed")

        let resumed = try run(ranks: 2, [spec, "--resume", "auto"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming from "), resumed.stdout)
        try assertSameBits("killed", "straight")
        XCTAssertEqual(try loggedSteps("killed"), Array(1...steps))
    }

    /// Two hosts made of Linux network namespaces joined by a veth pair, Open MPI between them
    /// over TCP only (its ssh replaced by `ip netns exec`): the job gives the single-host bits.
    func testTwoHostsOverTCPGiveTheSingleHostBits() throws {
        let hosts = try NetworkNamespaceHosts(directory: directory)
        defer { hosts.remove() }
        let onHosts = { (command: [String]) in
            try ChildProcess.run("/usr/sbin/ip", ["netns", "exec", hosts.names[0], self.mpirun] + hosts.mpirunArguments + ["-np", "2"] + command,
                                 environment: MPIRun.cleanEnvironment, timeout: 300)
        }
        let placement = try onHosts(["/bin/sh", "-c", "echo rank $OMPI_COMM_WORLD_RANK in $(/usr/sbin/ip netns identify $$)"])
        XCTAssertEqual(Set(placement.stdout.split(separator: "\n").map(String.init)),
                       ["rank 0 in \(hosts.names[0])", "rank 1 in \(hosts.names[1])"], placement.stderr)
        let spec = try writeJob("two-hosts", steps: 30)
        let run = try onHosts([ChildProcess.ttlTrainPath, "train", "--threads", "1", spec])
        XCTAssertEqual(run.status, 0, "stdout: \(run.stdout.suffix(1000))\nstderr: \(run.stderr)")
        XCTAssertTrue(run.stdout.contains("done: 30 steps"), run.stdout)
        try trainUninterrupted("one-host", steps: 30, ranks: 2)
        try assertSameBits("two-hosts", "one-host")
    }

    private func checkpoint(_ output: String, step: Int) -> String {
        directory.path("\(output)/checkpoints/\(String(format: "step-%06d.h5", step))")
    }

    /// Checks that `run` was stopped by a signal — exit status 75, its checkpoint announced — and
    /// returns the step from `stopped by SIGxxx at step N; continue with --resume auto`.
    private func stoppedStep(of run: ChildProcess, output: String, line: UInt = #line) throws -> Int {
        XCTAssertEqual(run.status, 75, "stdout: \(run.stdout.suffix(500))\nstderr: \(run.stderr)", line: line)
        let last = run.stdout.split(separator: "\n").last { $0.hasPrefix("stopped by ") && $0.contains(" at step ") }
        let step = try XCTUnwrap(last.flatMap { Int($0.split(separator: " ")[5].prefix { $0.isNumber }) }, run.stdout, line: line)
        XCTAssertTrue(run.stdout.contains("checkpoint \(checkpoint(output, step: step))"), run.stdout, line: line)
        return step
    }
}
