import Foundation
import HDF5
import Kernels
import TestSupport
import XCTest

/// `cluster/train.sbatch` on a real Slurm: the one-node cluster `scripts/slurm_local.sh` starts
/// (scripts/test.sh does, and sets SLURM_CONF; a bare `swift test` skips these). Two tasks train a
/// tiny job to the end, with the same bits as one process; a SIGTERM to one rank mid-run stops
/// both with a checkpoint, the script requeues the job, and the requeued run finishes with the
/// bits of an uninterrupted one.
final class SlurmTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var job: TinyJob!
    private var environment: [String: String]!

    override func setUpWithError() throws {
        guard let configuration = ProcessInfo.processInfo.environment["SLURM_CONF"] else {
            if ProcessInfo.processInfo.environment["TTL_REQUIRE_SLURM"] == "1" { XCTFail("SLURM_CONF is not set: start scripts/slurm_local.sh") }
            throw XCTSkip("no Slurm cluster (start one with scripts/slurm_local.sh and set SLURM_CONF)")
        }
        environment = MPIRun.cleanEnvironment.merging(["SLURM_CONF": configuration]) { $1 }
        directory = try TemporaryDirectory()
        job = try TinyJob(directory: directory)
    }

    private func slurm(_ command: String, _ arguments: [String]) throws -> ChildProcess {
        try ChildProcess.run("/usr/bin/\(command)", arguments, environment: environment, timeout: 60)
    }

    /// Submits the batch script from the repository root (its submit directory) with 2 tasks on
    /// one node; returns the job id and its output file.
    private func submit(output: String, steps: Int) throws -> (id: String, log: String) {
        let spec = directory.path("job-\(steps).yaml")
        try job.yaml(steps: steps, output: output, checkpointEvery: 2).write(toFile: spec, atomically: true, encoding: .utf8)
        let log = directory.path("slurm-\(steps).out")
        let submitted = try ChildProcess.run("/bin/sh", ["-c", "cd '\(Repository.root.path)' && exec sbatch --parsable --nodes=1 --ntasks=2 --output='\(log)' cluster/train.sbatch '\(spec)'"],
                                             environment: environment, timeout: 60)
        XCTAssertEqual(submitted.status, 0, submitted.stderr)
        return (submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines), log)
    }

    private func ttlTrainVersion() throws -> String {
        try ChildProcess.ttlTrain(["--version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The job's state as squeue reports it, or nil once it left the queue.
    private func state(_ id: String) throws -> String? {
        let state = try slurm("squeue", ["-h", "-j", id, "-o", "%T"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return state.isEmpty ? nil : state
    }

    private func waitUntil(_ timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return try condition()
    }

    private func log(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    private func assertSameBits(_ checkpoint: String, _ reference: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (a, b) = (try HDF5File.open(checkpoint), try HDF5File.open(reference))
        for dataset in ["optimizer/first_moment", "optimizer/second_moment", "adapters/layers.0.self_attn.q_proj/A", "adapters/layers.1.mlp.down_proj/B"] {
            XCTAssertEqual(try a.root.read(dataset, as: Float.self), try b.root.read(dataset, as: Float.self), dataset, file: file, line: line)
        }
    }

    /// The reference: the same job in one process, no Slurm.
    private func uninterrupted(steps: Int) throws -> String {
        let output = directory.path("alone-\(steps)")
        let spec = directory.path("alone-\(steps).yaml")
        try job.yaml(steps: steps, output: output, checkpointEvery: 2).write(toFile: spec, atomically: true, encoding: .utf8)
        let run = try ChildProcess.ttlTrain(["train", spec])
        XCTAssertEqual(run.status, 0, run.stderr)
        return "\(output)/checkpoints/\(String(format: "step-%06d.h5", steps))"
    }

    func testTheBatchScriptTrainsOnTwoTasksToTheSameBitsAsOneProcess() throws {
        let output = directory.path("slurm")
        let (id, log) = try submit(output: output, steps: 6)
        XCTAssertTrue(try waitUntil(90) { try state(id) == nil }, "job \(id) did not finish: \(self.log(log))")
        let text = self.log(log)
        XCTAssertTrue(text.contains("2 ranks, 1 threads each, mpi pmix"), text)
        // The banner: both ranks in one job on this host, and OpenBLAS on the CPU's kernel under srun too.
        let version = try ttlTrainVersion()
        XCTAssertTrue(text.contains("ttl-train \(version): 2 ranks on \(ProcessInfo.processInfo.hostName) ×2; 1 thread per rank; BLAS "), text)
        let core = try XCTUnwrap(text.components(separatedBy: "; BLAS ").dropFirst().first?.components(separatedBy: " (").first, text)
        XCTAssertFalse(ComputePlatform.isBehindCPU(core: core), "srun's ranks run OpenBLAS's \(core) on \(ComputePlatform.cpu): \(text)")
        XCTAssertTrue(text.contains("done: 6 steps"), text)
        let checkpoint = "\(output)/checkpoints/step-000006.h5"
        let inspect = try ChildProcess.ttlTrain(["inspect", checkpoint])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("world_size=2"), inspect.stdout)
        try assertSameBits(checkpoint, try uninterrupted(steps: 6))
    }

    func testPreemptionOfOneRankCheckpointsRequeuesAndResumesToTheSameBits() throws {
        let steps = 1200
        let output = directory.path("preempted")
        let (id, log) = try submit(output: output, steps: steps)
        XCTAssertTrue(waitUntil(90) { self.log(log).contains("step 20/") }, self.log(log))
        // SIGTERM to one rank, as a preempting scheduler or an operator would send it.
        let ranks = rankProcesses(of: directory.path("job-\(steps).yaml"))
        XCTAssertEqual(ranks.count, 2, "ranks: \(ranks)")
        kill(try XCTUnwrap(ranks.last), SIGTERM)
        XCTAssertTrue(waitUntil(60) { self.log(log).contains("continue with --resume auto") }, self.log(log))
        // The script requeued the job. Slurm holds a requeued job back for two minutes; start it
        // as soon as the first run's step daemon is gone (it still holds the step's PMIx socket).
        XCTAssertTrue(try waitUntil(30) { try state(id) == "PENDING" }, self.log(log))
        XCTAssertTrue(waitUntil(60) { !stepDaemonRunning(job: id) }, "the first run's slurmstepd did not end")
        XCTAssertEqual(try slurm("scontrol", ["update", "JobId=\(id)", "StartTime=now"]).status, 0)
        XCTAssertTrue(try waitUntil(120) { try state(id) == nil }, "job \(id) did not finish: \(self.log(log))")
        let text = self.log(log)
        XCTAssertTrue(text.contains("ttl-train: rank 1: got SIGTERM") || text.contains("ttl-train: rank 0: got SIGTERM"), text)
        XCTAssertTrue(text.contains("restart 1: 2 ranks"), text)
        XCTAssertTrue(text.contains("resuming from \(output)/checkpoints/step-"), text)
        XCTAssertTrue(text.contains("done: \(steps) steps"), text)
        try assertSameBits("\(output)/checkpoints/\(String(format: "step-%06d.h5", steps))", try uninterrupted(steps: steps))
    }

    /// Whether a slurmstepd of job `job`'s first step ("slurmstepd: [ID.0]") is still alive.
    private func stepDaemonRunning(job: String) -> Bool {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).contains { pid in
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), !status.contains(") Z "),
                  let arguments = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: arguments, as: UTF8.self).contains("slurmstepd: [\(job).0]")
        }
    }

    /// The pids of the ttl-train processes (under Slurm) training job spec `spec`.
    private func rankProcesses(of spec: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let command = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8), command.hasPrefix("ttl-train"),
                  let status = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), !status.contains(") Z "),
                  let arguments = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: arguments, as: UTF8.self).contains(spec)
                && (FileManager.default.contents(atPath: "/proc/\(pid)/environ").map { String(decoding: $0, as: UTF8.self).contains("SLURM_JOB_ID") } ?? false)
        }.sorted()
    }
}
