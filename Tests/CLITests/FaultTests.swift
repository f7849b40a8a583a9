import Foundation
import HDF5
import TestSupport
import XCTest

/// Faults from the operator's side: a disk that fills up, two runs on one output directory, and
/// symbolic links planted where the run writes. Each must end with one line and a non-zero exit,
/// keep every good checkpoint, and never write through a link.
final class FaultTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var job: TinyJob!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        job = try TinyJob(directory: directory)
    }

    private func writeSpec(output: String, steps: Int = 4, seed: Int = 3) throws -> String {
        let spec = directory.path("job-\(UUID().uuidString.prefix(8)).yaml")
        try job.yaml(steps: steps, output: output).replacingOccurrences(of: "seed: 3", with: "seed: \(seed)")
            .write(toFile: spec, atomically: true, encoding: .utf8)
        return spec
    }

    private func fileSize(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
    }

    /// A tmpfs of `bytes` at `path`, or a skip where this process may not mount.
    private func mountTmpfs(_ path: String, bytes: Int) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mount = try ChildProcess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", path])
        guard mount.status == 0 else { throw XCTSkip("cannot mount a small tmpfs here (\(mount.stderr.trimmingCharacters(in: .newlines))); the disk-full test needs root") }
        addTeardownBlock { _ = try? ChildProcess.run("/bin/umount", ["-l", path]) }
    }

    func testAFullDiskFailsTheCheckpointWriteWithOneLineAndResumeIsBitwise() throws {
        let whole = directory.path("whole")
        XCTAssertEqual(try ChildProcess.ttlTrain(["train", try writeSpec(output: whole)]).status, 0)
        let checkpoint = try fileSize("\(whole)/checkpoints/step-000002.h5")
        let metrics = try fileSize("\(whole)/metrics.h5")
        // Room for the metrics, the lock and one checkpoint and a half: the second checkpoint is
        // the write that fails.
        let disk = directory.path("disk")
        try mountTmpfs(disk, bytes: (metrics + checkpoint * 3 / 2 + 16384 + 4095) / 4096 * 4096)
        let output = "\(disk)/run"
        let spec = try writeSpec(output: output)
        let full = try ChildProcess.ttlTrain(["train", spec])
        XCTAssertEqual(full.status, 1, full.stderr)
        XCTAssertEqual(full.stderr.split(separator: "\n").count, 1, full.stderr)
        XCTAssertTrue(full.stderr.hasPrefix("Error: \(output)/checkpoints/step-000004.h5: not written (") &&
                      full.stderr.contains("No space left on device"), full.stderr)
        XCTAssertTrue(full.stdout.contains("checkpoint \(output)/checkpoints/step-000002.h5"), full.stdout)
        // Only verified checkpoints carry a real name; nothing temporary is left.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(output)/checkpoints"), ["step-000002.h5"])
        XCTAssertEqual(try ChildProcess.ttlTrain(["inspect", "\(output)/checkpoints/step-000002.h5"]).status, 0)
        // With room again, --resume auto continues from step 2 and ends with the same bits.
        XCTAssertEqual(try ChildProcess.run("/bin/mount", ["-o", "remount,size=64m", disk]).status, 0)
        let resumed = try ChildProcess.ttlTrain(["train", spec, "--resume", "auto"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming from \(output)/checkpoints/step-000002.h5 at step 2"), resumed.stdout)
        for dataset in ["optimizer/first_moment", "optimizer/second_moment", "adapters/layers.1.mlp.down_proj/A"] {
            XCTAssertEqual(try HDF5File.open("\(output)/checkpoints/step-000004.h5").root.read(dataset, as: Float.self),
                           try HDF5File.open("\(whole)/checkpoints/step-000004.h5").root.read(dataset, as: Float.self), dataset)
        }
    }

    func testAFullDiskUnderMPIRunEndsEveryRankWithRankZerosLineAndNoAbort() throws {
        let mpirun = try MPIRun.requireLauncher()
        let whole = directory.path("whole")
        XCTAssertEqual(try ChildProcess.ttlTrain(["train", try writeSpec(output: whole)]).status, 0)
        let checkpoint = try fileSize("\(whole)/checkpoints/step-000002.h5")
        let disk = directory.path("disk")
        try mountTmpfs(disk, bytes: (try fileSize("\(whole)/metrics.h5") + checkpoint * 3 / 2 + 16384 + 4095) / 4096 * 4096)
        let output = "\(disk)/run"
        let run = try ChildProcess.run(mpirun, MPIRun.arguments(ranks: 2) + [ChildProcess.ttlTrainPath, "train", try writeSpec(output: output), "--threads", "1"],
                                       environment: MPIRun.cleanEnvironment, timeout: 120)
        XCTAssertNotEqual(run.status, 0)
        // What ttl-train printed (mpirun adds its own banner about the non-zero exit).
        let ours = run.stderr.split(separator: "\n").filter { $0.hasPrefix("Error:") || $0.hasPrefix("ttl-train") }
        XCTAssertEqual(ours.count, 1, run.stderr)
        XCTAssertTrue(ours.first?.hasPrefix("Error: \(output)/checkpoints/step-000004.h5: not written (") == true, run.stderr)
        XCTAssertFalse(run.stderr.contains("MPI_ABORT") || run.stderr.contains("ORTE_ERROR_LOG"), run.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "\(output)/checkpoints"), ["step-000002.h5"])
    }

    func testASecondRunOnTheSameOutputIsRefusedAndAStaleLockDoesNotBlock() throws {
        let output = directory.path("shared")
        let first = try RunningProcess(ChildProcess.ttlTrainPath, ["train", try writeSpec(output: output, steps: 3000, seed: 1)])
        XCTAssertTrue(first.waitForOutput(containing: "step 2/", timeout: 60), first.stdout)
        let second = try ChildProcess.ttlTrain(["train", try writeSpec(output: output, steps: 3000, seed: 2)])
        XCTAssertEqual(second.status, 1, second.stderr)
        XCTAssertEqual(second.stderr.split(separator: "\n").count, 1, second.stderr)
        let holder = "pid \(first.pid) on host \(ProcessInfo.processInfo.hostName)"
        XCTAssertEqual(second.stderr, "Error: \(output): is in use by another ttl-train run (\(holder)); wait for it to end or choose another output\n")
        XCTAssertEqual(second.stdout, "")
        // The holder dies without any chance to clean up: its lock goes with it.
        first.signal(SIGKILL)
        _ = first.finish(timeout: 30)
        XCTAssertEqual(try String(contentsOfFile: "\(output)/ttl-train.lock", encoding: .utf8), holder + "\n")
        let resumed = try RunningProcess(ChildProcess.ttlTrainPath, ["train", try writeSpec(output: output, steps: 3000, seed: 1), "--resume", "auto"])
        XCTAssertTrue(resumed.waitForOutput(containing: "resuming from \(output)/checkpoints/", timeout: 60), resumed.stdout)
        resumed.signal(SIGTERM)
        let stopped = resumed.finish(timeout: 60)
        XCTAssertFalse(stopped.stderr.contains("in use"), stopped.stderr)
        XCTAssertTrue(stopped.stdout.contains("continue with --resume auto"), stopped.stdout)
    }

    func testPlantedLinksAreReplacedOrRefusedNeverWrittenThrough() throws {
        let victim = directory.path("victim.txt")
        try "precious\n".write(toFile: victim, atomically: true, encoding: .utf8)
        let output = directory.path("linked")
        let checkpoints = "\(output)/checkpoints"
        try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
        for name in ["step-000002.h5.tmp", "step-000002.h5", "step-000004.h5.tmp-00000000"] {
            try FileManager.default.createSymbolicLink(atPath: "\(checkpoints)/\(name)", withDestinationPath: victim)
        }
        let spec = try writeSpec(output: output)
        let run = try ChildProcess.ttlTrain(["train", spec, "--resume", "auto"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "precious\n")
        for name in ["step-000002.h5", "step-000004.h5"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(checkpoints)/\(name)")
            XCTAssertEqual(attributes[.type] as? FileAttributeType, .typeRegular, name)
            XCTAssertEqual(try ChildProcess.ttlTrain(["inspect", "\(checkpoints)/\(name)"]).status, 0, name)
        }
        // A log ttl-train appends to in place is refused when it is a link.
        let logged = directory.path("logged")
        try FileManager.default.createDirectory(atPath: logged, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: "\(logged)/metrics.h5", withDestinationPath: victim)
        let refused = try ChildProcess.ttlTrain(["train", try writeSpec(output: logged)])
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertEqual(refused.stderr, "Error: \(logged)/metrics.h5: is a symbolic link; ttl-train does not write through links (remove it)\n")
        XCTAssertEqual(try String(contentsOfFile: victim, encoding: .utf8), "precious\n")
    }

    func testADirectoryNamedLikeACheckpointIsRefusedBeforeTraining() throws {
        let output = directory.path("blocked")
        try FileManager.default.createDirectory(atPath: "\(output)/checkpoints/step-000004.h5", withIntermediateDirectories: true)
        let run = try ChildProcess.ttlTrain(["train", try writeSpec(output: output), "--resume", "auto"])
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertEqual(run.stderr, "Error: \(output)/checkpoints/step-000004.h5 is a directory named like a checkpoint; move it away (it would block that step's checkpoint)\n")
        XCTAssertFalse(run.stdout.contains("step 1/"), run.stdout)
    }
}
