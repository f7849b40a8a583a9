import Foundation
import HDF5
import TestSupport
import XCTest

/// Faults between hosts, on two hosts made of network namespaces: a peer that is stopped or
/// cut off for longer than `comm.timeout_s` ends the job within the timeout and a few seconds,
/// with exit status 69 and one line naming what the ranks were doing and which rank did not
/// answer; the newest checkpoint stays valid and `--resume auto` ends with the bits of an
/// uninterrupted run. A peer back before the timeout does no harm.
final class NetworkFaultTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var job: TinyJob!
    private var mpirun: String!
    private var hosts: NetworkNamespaceHosts!
    private let steps = 400

    override func setUpWithError() throws {
        mpirun = try MPIRun.requireLauncher()
        directory = try TemporaryDirectory()
        job = try TinyJob(directory: directory)
        hosts = try NetworkNamespaceHosts(directory: directory)
    }

    override func tearDown() {
        hosts?.remove()
    }

    private func writeJob(_ output: String, timeout: Double) throws -> String {
        let path = directory.path("\(output).yaml")
        try
            (job.yaml(kind: "lora", steps: steps, output: directory.path(output), checkpointEvery: 50)
            + "comm: {timeout_s: \(timeout)}\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The job on the two hosts, rank 0 on the first, rank 1 on the second.
    private func launchOnHosts(_ arguments: [String]) throws -> RunningProcess {
        let launcher: [String] = ["netns", "exec", hosts.names[0], mpirun] + hosts.mpirunArguments + ["-np", "2"]
        return try RunningProcess(
            "/usr/sbin/ip", launcher + [ChildProcess.ttlTrainPath, "train", "--threads", "1"] + arguments,
            environment: MPIRun.cleanEnvironment)
    }

    private func runHere(ranks: Int, _ arguments: [String]) throws -> ChildProcess {
        try ChildProcess.run(
            mpirun,
            MPIRun.arguments(ranks: ranks) + [ChildProcess.ttlTrainPath, "train", "--threads", "1"] + arguments,
            environment: MPIRun.cleanEnvironment, timeout: 300)
    }

    /// Starts the job on the hosts and returns it once its step-50 checkpoint is written, with
    /// rank 1's process.
    private func startAndReachFirstCheckpoint(_ spec: String, output: String) throws -> (RunningProcess, pid_t) {
        let running = try launchOnHosts([spec])
        XCTAssertTrue(
            running.waitForOutput(
                containing: "checkpoint \(directory.path("\(output)/checkpoints/step-000050.h5"))", timeout: 120),
            running.stdout)
        let rank1 = try XCTUnwrap(
            running.descendants().first {
                $0.environment["OMPI_COMM_WORLD_RANK"] == "1" && $0.environment["_"] != mpirun
            })
        return (running, rank1.pid)
    }

    /// Ends every process the job left behind (a rank on a host cut off from mpirun) and
    /// returns how many there were. A zombie (state Z, waiting for a parent that is gone) has
    /// ended already.
    private func reap(_ pids: [pid_t], kill ending: Bool = true) -> Int {
        let alive = pids.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let afterName = stat.range(of: ") ", options: .backwards)
            else { return false }
            return !stat[afterName.upperBound...].hasPrefix("Z")
        }
        if ending { for pid in alive { kill(pid, SIGKILL) } }
        return alive.count
    }

    /// Checks the job ended by the timeout: status 69 within `bound` seconds of the fault, the
    /// line of rank 0, and a resume on one host that ends with the uninterrupted run's bits.
    private func assertEndedByTimeout(
        _ ended: ChildProcess, secondsSinceFault: Double, bound: Double, output: String,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        XCTAssertFalse(
            ended.timedOut, "the job still ran \(secondsSinceFault) s after the fault", file: file, line: line)
        XCTAssertEqual(
            ended.status, 69, "stdout: \(ended.stdout.suffix(500))\nstderr: \(ended.stderr)", file: file, line: line)
        XCTAssertLessThan(secondsSinceFault, bound, file: file, line: line)
        let message = try XCTUnwrap(
            ended.stderr.split(separator: "\n").first { $0.hasPrefix("ttl-train: rank 0 of 2: ") }, ended.stderr,
            file: file, line: line)
        XCTAssertTrue(
            message.contains(
                "a peer is lost or stalled (comm.timeout_s = 3 s); no answer from rank 1; ending the job (exit status "
                    + "69)"
            ),
            String(message), file: file, line: line)
        XCTAssertNotNil(
            message.range(
                of:
                    #"(step \d+: gradient reduction|after step \d+|evaluation after step \d+|checkpoint of step \d+): "#
                        + #"[a-z-]+ waited [0-9.]+ s"#,
                options: .regularExpression), String(message), file: file, line: line)

        try assertResumesBitwise(output, file: file, line: line)
    }

    /// `--resume auto` on one host ends with the uninterrupted run's bits.
    private func assertResumesBitwise(_ output: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let resumed = try runHere(ranks: 2, [directory.path("\(output).yaml"), "--resume", "auto"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr, file: file, line: line)
        XCTAssertTrue(resumed.stdout.contains("resuming from "), resumed.stdout, file: file, line: line)
        try assertSameBits(output, "straight", file: file, line: line)
    }

    private func trainReference() throws {
        let reference = try runHere(ranks: 2, [try writeJob("straight", timeout: 3)])
        XCTAssertEqual(reference.status, 0, reference.stderr)
    }

    func testARankStoppedLongerThanTheTimeoutEndsTheJobAndResumeFinishesIt() throws {
        try trainReference()
        let (running, rank1) = try startAndReachFirstCheckpoint(try writeJob("stopped", timeout: 3), output: "stopped")
        let processes = running.descendants().map(\.pid)
        let stoppedAt = Date()
        kill(rank1, SIGSTOP)
        let ended = running.finish(timeout: 60)
        let seconds = Date().timeIntervalSince(stoppedAt)
        XCTAssertEqual(reap(processes), 0, "processes of the job outlived it")
        try assertEndedByTimeout(ended, secondsSinceFault: seconds, bound: 3 + 12, output: "stopped")
    }

    func testARankStoppedShorterThanTheTimeoutDoesNoHarm() throws {
        try trainReference()
        let (running, rank1) = try startAndReachFirstCheckpoint(try writeJob("paused", timeout: 8), output: "paused")
        kill(rank1, SIGSTOP)
        Thread.sleep(forTimeInterval: 4)
        kill(rank1, SIGCONT)
        let ended = running.finish(timeout: 120)
        XCTAssertEqual(ended.status, 0, ended.stderr)
        XCTAssertTrue(ended.stdout.contains("done: \(steps) steps"), ended.stdout)
        try assertSameBits("paused", "straight")
    }

    /// The ranks end within the bound; Open MPI 4.1.4's mpirun then waits for its daemon on the
    /// cut-off host for minutes (more than five in a trial, with or without OOB keepalives), so
    /// the test ends it as `cluster/ttl-launch.py` does (tested below).
    func testAHostCutOffLongerThanTheTimeoutEndsItsRanksAndResumeFinishesIt() throws {
        try trainReference()
        let (running, _) = try startAndReachFirstCheckpoint(try writeJob("cut-off", timeout: 3), output: "cut-off")
        let processes = running.descendants()
        let rank0 = try XCTUnwrap(
            processes.first { $0.environment["OMPI_COMM_WORLD_RANK"] == "0" && $0.environment["_"] != mpirun }
        ).pid
        let cutAt = Date()
        try hosts.setLink(of: 1, up: false)
        while reap([rank0], kill: false) > 0 && Date().timeIntervalSince(cutAt) < 60 {
            Thread.sleep(forTimeInterval: 0.1)
        }
        let seconds = Date().timeIntervalSince(cutAt)
        XCTAssertLessThan(seconds, 3 + 12, "rank 0 still ran \(seconds) s after its peer was cut off")
        Thread.sleep(forTimeInterval: 1)
        let message = running.stderr
        kill(running.pid, SIGKILL)
        _ = reap(processes.map(\.pid))
        _ = running.finish(timeout: 10)
        try hosts.setLink(of: 1, up: true)
        XCTAssertTrue(message.contains("ttl-train: rank 0 of 2: "), message)
        XCTAssertTrue(
            message.contains(
                "a peer is lost or stalled (comm.timeout_s = 3 s); no answer from rank 1; ending the job (exit status "
                    + "69)"
            ), message)
        try assertResumesBitwise("cut-off")
    }

    /// `cluster/ttl-launch.py` over the two hosts: host 1 is cut off for good, the ranks end by
    /// the timeout, the launcher ends mpirun (which would wait for its lost daemon), drops host 1,
    /// continues on host 0 alone with `--resume auto` and records the restart in metrics.h5; the
    /// run ends with the uninterrupted run's bits.
    func testTheLauncherContinuesOnTheRemainingHostAfterOneIsLost() throws {
        try trainReference()
        let spec = try writeJob("elastic", timeout: 3)
        let launcher =
            [
                "netns", "exec", hosts.names[0], "/usr/bin/python3", Repository.path("cluster/ttl-launch.py"),
                "--hostfile", hosts.hostfile,
                "--grace", "5", "--restarts", "2",
            ] + hosts.transportArguments.map { "--mpirun-arg=\($0)" }
        let running = try RunningProcess(
            "/usr/sbin/ip", launcher + ["--", ChildProcess.ttlTrainPath, "train", "--threads", "1", spec],
            environment: MPIRun.cleanEnvironment)
        XCTAssertTrue(
            running.waitForOutput(
                containing: "checkpoint \(directory.path("elastic/checkpoints/step-000050.h5"))", timeout: 120),
            running.stdout)
        let processes = running.descendants().map(\.pid)
        try hosts.setLink(of: 1, up: false)
        let ended = running.finish(timeout: 180)
        _ = reap(processes)
        try hosts.setLink(of: 1, up: true)
        XCTAssertEqual(ended.status, 0, "stdout: \(ended.stdout.suffix(800))\nstderr: \(ended.stderr)")
        XCTAssertTrue(ended.stderr.contains("no answer from rank 1; ending the job (exit status 69)"), ended.stderr)
        XCTAssertTrue(
            ended.stderr.contains(
                "ttl-launch: restart 1: rank 1 on \(hosts.addresses[1]) lost (collective timeout); continuing on 1 "
                    + "rank(s)"
            ), ended.stderr)
        XCTAssertTrue(ended.stdout.contains("done: \(steps) steps"), ended.stdout)
        try assertSameBits("elastic", "straight")
        let restarts = try HDF5File.open(directory.path("elastic/metrics.h5")).root.attributes.strings("restarts")
        XCTAssertEqual(restarts.count, 1)
        XCTAssertNotNil(
            restarts.first?.range(of: #"^step \d+: restart 1: rank 1 on .* lost"#, options: .regularExpression),
            "\(restarts)")
    }

    /// h5diff compares every value of the adapters and optimizer moments exactly.
    private func assertSameBits(
        _ output: String, _ reference: String, file: StaticString = #filePath, line: UInt = #line
    ) throws {
        let final = { (run: String) in
            self.directory.path("\(run)/checkpoints/step-\(String(format: "%06d", self.steps)).h5")
        }
        for object in ["/adapters", "/optimizer"] {
            let diff = try ChildProcess.run("/usr/bin/h5diff", ["-r", final(output), final(reference), object, object])
            XCTAssertEqual(
                diff.status, 0, "\(output) differs from \(reference) in \(object): \(diff.stdout.prefix(2000))",
                file: file, line: line)
        }
    }
}
