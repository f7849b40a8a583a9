import Distributed
import Foundation
import Llama
import TestSupport
import Training
import XCTest

/// `batch.packing`: a step's examples cut into token-budgeted micro-batches give the loss and
/// gradients of the unpacked step (to float rounding: only the order of sums changes), and packed
/// training keeps today's guarantees — the same bits on any world size (this class also runs
/// under `mpirun -np 2/3/4`) and after a resume on another.
final class PackingTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var job: TinyJob!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        job = try TinyJob(directory: directory)
    }

    private func spec(_ output: String, packing: Bool, dropout: Double = 0.1) throws -> JobSpec {
        try JobSpec.parse(
            job.yaml(
                kind: "lora", steps: 12, output: directory.path(output), extra: ", dropout: \(dropout)",
                checkpointEvery: 3),
            file: "tiny.yaml", overrides: ["batch.packing=\(packing)"])
    }

    /// Without dropout (whose masks are drawn per micro-batch, so they differ once examples are
    /// grouped otherwise).
    func testAPackedStepHasTheUnpackedLossAndGradients() throws {
        let alone = SingleProcessCommunicator()
        let unpacked = try Trainer(
            spec: try spec("unpacked", packing: false, dropout: 0), file: "tiny.yaml", communicator: alone)
        let packed = try Trainer(
            spec: try spec("packed", packing: true, dropout: 0), file: "tiny.yaml", communicator: alone)
        let train = packed.resolved.train
        for step in 0..<3 {
            let groups = ExampleSampler(exampleCount: train.count, seed: packed.spec.seed)
                .packedMicroBatches(step: step, globalBatch: 12, tokenBudget: 16) {
                    train.offsets[$0 + 1] - train.offsets[$0]
                }
            XCTAssertLessThan(groups.count, 12, "step \(step): packing put several examples in a micro-batch")
            XCTAssertTrue(groups.allSatisfy { $0.map { train.offsets[$0 + 1] - train.offsets[$0] }.reduce(0, +) <= 16 })
            let a = try unpacked.step(step), b = try packed.step(step)
            XCTAssertEqual(a.tokens, b.tokens)
            XCTAssertEqual(a.loss, b.loss, accuracy: 1e-5 * abs(a.loss), "step \(step)")
            let (ga, gb) = (unpacked.adapters.gradients.array(), packed.adapters.gradients.array())
            let scale = ga.map(abs).max()!
            XCTAssertGreaterThan(scale, 0)
            XCTAssertLessThanOrEqual(zip(ga, gb).map { abs($0 - $1) }.max()!, 1e-5 * scale, "step \(step)")
            // Keep both on the same parameters for the next step.
            packed.adapters.parameters.copy(from: unpacked.adapters.parameters.array())
        }
    }

    func testPackedTrainingIsTheSameOnEveryWorldSizeAndAfterAResume() throws {
        let world = try MPICommunicator.world()
        let alone = SingleProcessCommunicator()
        func run(_ output: String, _ communicator: Communicator, resume: ResumeMode = .fresh, stopAfter: Int? = nil)
            throws -> Trainer
        {
            let trainer = try Trainer(
                spec: try spec(output, packing: true), file: "tiny.yaml", communicator: communicator)
            let stop = StopRequest()
            _ = try trainer.run(resume: resume, stop: stop) { progress in
                if case .step(let step) = progress, step.step == stopAfter { stop.request(signal: SIGTERM) }
            }
            return trainer
        }
        let straight = try run("straight", alone)
        let distributed = try run("world", world)
        XCTAssertEqual(
            distributed.adapters.parameters.array(), straight.adapters.parameters.array(), "world size \(world.size)")
        XCTAssertEqual(distributed.optimizer.secondMoment.array(), straight.optimizer.secondMoment.array())
        _ = try run("halves", world, stopAfter: 6)
        let resumed = try run("halves", alone, resume: .auto)
        XCTAssertEqual(
            resumed.adapters.parameters.array(), straight.adapters.parameters.array(),
            "world size \(world.size), then 1")
        XCTAssertEqual(resumed.optimizer.firstMoment.array(), straight.optimizer.firstMoment.array())
    }
}
