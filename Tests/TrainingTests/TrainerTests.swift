import Adapters
import Distributed
import Foundation
import HDF5
import Llama
import TestSupport
import Training
import XCTest

/// End to end on a tiny random llama and a synthetic two-class data set: the trained adapters are
/// bit-for-bit the same for any world size (this class also runs under `mpirun -np 2/3/4`) and
/// after a resume.
final class TrainerTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var job: TinyJob!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        job = try TinyJob(directory: directory)
    }

    private func spec(kind: String = "lora", steps: Int = 4, output: String, extra: String = "", learningRate: String = "5.0e-2",
                      checkpointEvery: Int = 2) throws -> JobSpec {
        try JobSpec.parse(job.yaml(kind: kind, steps: steps, output: output, extra: extra, learningRate: learningRate,
                                   checkpointEvery: checkpointEvery), file: "tiny.yaml")
    }

    /// Runs `spec`; `stopAfter` asks the run to stop after that step, the way a signal does
    /// (rank 0 sees it, all ranks stop).
    private func train(_ spec: JobSpec, communicator: Communicator, resume: ResumeMode = .fresh,
                       stopAfter: Int? = nil) throws -> (trainer: Trainer, lines: [String], outcome: RunOutcome) {
        let trainer = try Trainer(spec: spec, file: "tiny.yaml", communicator: communicator)
        var lines: [String] = []
        let stop = StopRequest()
        let outcome = try trainer.run(resume: resume, stop: stop) { progress in
            lines.append(progress.description)
            if case .step(let step) = progress, step.step == stopAfter { stop.request(signal: SIGTERM) }
        }
        return (trainer, lines, outcome)
    }

    private func assertSameTrainingState(_ trainer: Trainer, _ reference: Trainer, _ message: String, line: UInt = #line) {
        XCTAssertEqual(trainer.adapters.parameters.array(), reference.adapters.parameters.array(), message, line: line)
        XCTAssertEqual(trainer.adapters.masks.array(), reference.adapters.masks.array(), message, line: line)
        XCTAssertEqual(trainer.optimizer.firstMoment.array(), reference.optimizer.firstMoment.array(), message, line: line)
        XCTAssertEqual(trainer.optimizer.secondMoment.array(), reference.optimizer.secondMoment.array(), message, line: line)
        XCTAssertEqual(trainer.optimizer.steps, reference.optimizer.steps, message, line: line)
    }

    private func loggedSteps(_ output: String, _ group: String) throws -> [Int64] {
        let file = try HDF5File.open((output as NSString).appendingPathComponent("metrics.h5"))
        return try file.root.read("\(group)/step", as: Int64.self)
    }

    /// Also: the world's trainer computes on the node's shared copy of the weights, the reference on
    /// a private one — the same bits.
    func testWorldSizeDoesNotChangeTheTrainedAdapters() throws {
        let world = try MPICommunicator.world()
        for (kind, extra) in Self.kinds {
            let reference = try train(try spec(kind: kind, output: directory.path("alone-\(kind)"), extra: extra), communicator: SingleProcessCommunicator()).trainer
            let distributed = try train(try spec(kind: kind, output: directory.path("world-\(kind)"), extra: extra), communicator: world).trainer
            assertSameTrainingState(distributed, reference, "\(kind), world size \(world.size)")
            // Under mpirun on one machine the ranks share one copy of the base; alone, it is private.
            XCTAssertEqual(distributed.model.weights.sharers, world.size, kind)
            XCTAssertEqual(reference.model.weights.sharers, 1, kind)
        }
    }

    private static let kinds = [("lora", ", dropout: 0.1"), ("tt-lora", ""),
                                ("sparse-lora", ", sparsity: {final: 0.5, start_step: 1, end_step: 12, every: 2}"), ("dora", "")]

    /// 20 steps straight against 10 steps, a stop (as on SIGTERM) and a resume to 20 on another
    /// world size, both ways round: the same bits, and every step in metrics.h5 exactly once.
    func testStoppingAndResumingOnAnotherWorldSizeGivesTheSameBits() throws {
        let world = try MPICommunicator.world()
        let alone = SingleProcessCommunicator()
        for (kind, extra) in Self.kinds {
            let straight = try train(try spec(kind: kind, steps: 20, output: directory.path("straight-\(kind)"), extra: extra), communicator: alone).trainer
            let halves = { (output: String) in try self.spec(kind: kind, steps: 20, output: self.directory.path(output), extra: extra, checkpointEvery: 4) }

            let stopped = try train(try halves("world-first-\(kind)"), communicator: world, stopAfter: 10).outcome
            XCTAssertEqual(stopped.stoppedBy, SIGTERM)
            XCTAssertEqual(stopped.state.step, 10)
            if world.isRoot {
                XCTAssertEqual(stopped.checkpoint, directory.path("world-first-\(kind)/checkpoints/step-000010.h5"))
                let resumed = try train(try halves("world-first-\(kind)"), communicator: alone, resume: .auto)
                XCTAssertEqual(resumed.lines.first, "resuming from \(stopped.checkpoint!) at step 10")
                assertSameTrainingState(resumed.trainer, straight, "\(kind): world size \(world.size), then 1")
                XCTAssertEqual(try loggedSteps(directory.path("world-first-\(kind)"), "train"), Array(1...20))
            }

            _ = try train(try halves("alone-first-\(kind)"), communicator: alone, stopAfter: 10)
            let resumed = try train(try halves("alone-first-\(kind)"), communicator: world, resume: .auto)
            assertSameTrainingState(resumed.trainer, straight, "\(kind): world size 1, then \(world.size)")
            if world.isRoot {
                XCTAssertEqual(try loggedSteps(directory.path("alone-first-\(kind)"), "train"), Array(1...20))
                XCTAssertEqual(try loggedSteps(directory.path("alone-first-\(kind)"), "eval"), [20])
            }
        }
    }

    /// An absurd learning rate blows the adapters up within a few steps: the run stops at the
    /// first non-finite loss without applying it, naming the last good checkpoint, which reads.
    func testADivergedRunStopsAndKeepsTheLastGoodCheckpoint() throws {
        let world = try MPICommunicator.world()
        let output = directory.path("diverged")
        let trainer = try Trainer(spec: try spec(steps: 10, output: output, learningRate: "1.0e+30", checkpointEvery: 1), file: "tiny.yaml",
                                  communicator: world)
        var diverged: DivergenceError?
        XCTAssertThrowsError(try trainer.run(resume: .fresh) { _ in }) { error in
            diverged = error as? DivergenceError
            XCTAssertNotNil(diverged, "\(error)")
        }
        let error = try XCTUnwrap(diverged)
        XCTAssertGreaterThan(error.step, 1)
        guard world.isRoot else { return }
        let last = directory.path("diverged/checkpoints/\(Checkpoint.fileName(step: error.step - 1))")
        XCTAssertEqual(error.lastCheckpoint, last)
        XCTAssertTrue("\(error)".hasPrefix("step \(error.step): a loss or gradient is NaN or infinite: "), "\(error)")
        XCTAssertTrue("\(error)".hasSuffix("training diverged (try a lower optimizer.lr); the last good checkpoint, \(last), is kept"), "\(error)")
        let check = try Trainer(spec: try spec(steps: 10, output: directory.path("check")), file: "tiny.yaml", communicator: SingleProcessCommunicator())
        _ = try Checkpoint.read(last, into: check.adapters, optimizer: check.optimizer, modelFingerprint: check.resolved.model.fingerprint)
        XCTAssertEqual(check.adapters.parameters.array(), trainer.adapters.parameters.array(), "the diverged step was not applied")
        XCTAssertEqual(try loggedSteps(output, "train"), Array(1...Int64(error.step - 1)))
    }

    func testTheLossFallsAndResumingGivesTheSameBitsAsAnUninterruptedRun() throws {
        let (whole, lines, _) = try train(try spec(steps: 6, output: directory.path("whole")), communicator: SingleProcessCommunicator())
        let losses = lines.filter { $0.hasPrefix("step ") }.compactMap { line in
            line.split(separator: " ").firstIndex(of: "loss").map { Double(line.split(separator: " ")[$0 + 1])! }
        }
        XCTAssertEqual(losses.count, 6)
        XCTAssertLessThan(losses.last!, losses.first!)
        XCTAssertTrue(lines[0].hasPrefix("step 1/6  loss ") && lines[0].contains(" tok/s  ETA "), lines[0])
        XCTAssertTrue(lines.contains { $0.hasPrefix("checkpoint \(directory.path("whole/checkpoints/step-000002.h5")) (") && $0.hasSuffix(" ms)") })
        let checkpoint = directory.path("whole/checkpoints/step-000002.h5")
        let resumed = try train(try spec(steps: 6, output: directory.path("resumed")), communicator: SingleProcessCommunicator(),
                                resume: .checkpoint(checkpoint))
        XCTAssertEqual(resumed.lines.first, "resuming from \(checkpoint) at step 2")
        assertSameTrainingState(resumed.trainer, whole, "resumed at step 2")
        XCTAssertTrue(resumed.lines.contains { $0.hasPrefix("eval step 6") && $0.contains("accuracy") }, "\(resumed.lines)")
    }

    func testAFreshRunRefusesToOverwriteCheckpointsAndAutoResumeContinues() throws {
        let output = directory.path("run")
        _ = try train(try spec(steps: 4, output: output), communicator: SingleProcessCommunicator(), stopAfter: 2)
        XCTAssertThrowsError(try train(try spec(steps: 4, output: output), communicator: SingleProcessCommunicator())) { error in
            XCTAssertEqual("\(error)", "\(output) has checkpoints already: pass --resume auto to continue, or choose another output")
        }
        let (_, lines, _) = try train(try spec(steps: 4, output: output), communicator: SingleProcessCommunicator(), resume: .auto)
        XCTAssertEqual(lines.first, "resuming from \(output)/checkpoints/step-000002.h5 at step 2")
        XCTAssertEqual(Checkpoint.list("\(output)/checkpoints").map { ($0 as NSString).lastPathComponent }, ["step-000004.h5", "step-000002.h5"])
    }

    /// Evaluation shares the examples among the ranks and sums in a fixed order: the same numbers
    /// for every world size.
    func testEvaluationIsTheSameOnEveryWorldSize() throws {
        let world = try MPICommunicator.world()
        let alone = try Trainer(spec: try spec(output: directory.path("e1")), file: "tiny.yaml", communicator: SingleProcessCommunicator())
        let shared = try Trainer(spec: try spec(output: directory.path("e2")), file: "tiny.yaml", communicator: world)
        for examples in [1, 5, 8] {
            let (loss, accuracy) = try alone.evaluate(split: "validation", examples: examples)
            let (sharedLoss, sharedAccuracy) = try shared.evaluate(split: "validation", examples: examples)
            XCTAssertEqual(sharedLoss, loss, "\(examples) examples, world size \(world.size)")
            XCTAssertEqual(sharedAccuracy, accuracy)
            XCTAssertGreaterThan(loss, 0)
        }
    }
}
