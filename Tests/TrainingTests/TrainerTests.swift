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

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
        try ModelWriter.writeRandom(to: directory.path("tiny.h5"), config: .tiny, seed: 5, scale: 0.15)
        try writeDataset(directory.path("data.h5"))
    }

    /// 40 examples of 5–12 tokens; the label is the parity of the second token and the answer
    /// token is 10 + label — learnable, so the loss must fall.
    private func writeDataset(_ path: String) throws {
        var generator = SplitMix64(seed: 11)
        let file = try createClassificationDataset(at: path, labelNames: ["even", "odd"], labelTokenIDs: [10, 11],
                                                   tokenizerFingerprint: "sha256:synthetic")
        for (split, count) in [("train", 40), ("validation", 8)] {
            var tokens: [Int32] = []
            var offsets: [Int64] = [0]
            var mask: [UInt8] = []
            var labels: [Int32] = []
            for _ in 0..<count {
                let length = 5 + Int(generator.next() % 8)
                let body = (0..<(length - 1)).map { _ in Int32(20 + generator.next() % 200) }
                let label = body[1] % 2
                tokens += body + [10 + label]
                mask += [UInt8](repeating: 0, count: length - 1) + [1]
                labels.append(label)
                offsets.append(Int64(tokens.count))
            }
            try file.root.write("\(split)/tokens", tokens)
            try file.root.write("\(split)/offsets", offsets)
            try file.root.write("\(split)/loss_mask", mask)
            try file.root.write("\(split)/labels", labels)
        }
        try file.close()
    }

    private func spec(kind: String = "lora", steps: Int = 4, output: String, extra: String = "") throws -> JobSpec {
        try JobSpec.parse("""
            name: tiny
            model: \(directory.path("tiny.h5"))
            data: {path: \(directory.path("data.h5"))}
            task: classification
            adapter: {kind: \(kind), rank: 4, targets: [q_proj, v_proj, down_proj]\(extra)}
            optimizer: {lr: 5.0e-2, weight_decay: 0.01, max_grad_norm: 1.0}
            schedule: {kind: cosine, warmup_steps: 1, total_steps: \(steps)}
            batch: {global: 12, micro: 1, max_length: 16}
            seed: 3
            eval: {every: 100, examples: 8}
            checkpoint: {every: 2, keep: 5}
            output: \(output)
            """, file: "tiny.yaml")
    }

    private func train(_ spec: JobSpec, communicator: Communicator, resume: ResumeMode = .fresh) throws -> (Trainer, [String]) {
        let trainer = try Trainer(spec: spec, file: "tiny.yaml", communicator: communicator)
        var lines: [String] = []
        try trainer.run(resume: resume) { lines.append($0) }
        return (trainer, lines)
    }

    func testWorldSizeDoesNotChangeTheTrainedAdapters() throws {
        let world = try MPICommunicator.world()
        for (kind, extra) in [("lora", ", dropout: 0.1"), ("tt-lora", ""), ("sparse-lora", ", sparsity: {final: 0.5, start_step: 1, end_step: 3, every: 1}")] {
            let reference = try train(try spec(kind: kind, output: directory.path("alone-\(kind)"), extra: extra), communicator: SingleProcessCommunicator()).0
            let distributed = try train(try spec(kind: kind, output: directory.path("world-\(kind)"), extra: extra), communicator: world).0
            XCTAssertEqual(distributed.adapters.parameters.array(), reference.adapters.parameters.array(), "\(kind), world size \(world.size)")
            XCTAssertEqual(distributed.optimizer.secondMoment.array(), reference.optimizer.secondMoment.array())
            XCTAssertEqual(distributed.adapters.masks.array(), reference.adapters.masks.array())
        }
    }

    func testTheLossFallsAndResumingGivesTheSameBitsAsAnUninterruptedRun() throws {
        let (whole, lines) = try train(try spec(steps: 6, output: directory.path("whole")), communicator: SingleProcessCommunicator())
        let losses = lines.filter { $0.hasPrefix("step ") }.compactMap { line in
            line.split(separator: " ").firstIndex(of: "loss").map { Double(line.split(separator: " ")[$0 + 1])! }
        }
        XCTAssertEqual(losses.count, 6)
        XCTAssertLessThan(losses.last!, losses.first!)
        let checkpoint = directory.path("whole/checkpoints/step-000002.h5")
        let (resumed, resumedLines) = try train(try spec(steps: 6, output: directory.path("resumed")), communicator: SingleProcessCommunicator(),
                                                resume: .checkpoint(checkpoint))
        XCTAssertEqual(resumedLines.first, "resuming from \(checkpoint) at step 2")
        XCTAssertEqual(resumed.adapters.parameters.array(), whole.adapters.parameters.array())
        XCTAssertEqual(resumed.optimizer.firstMoment.array(), whole.optimizer.firstMoment.array())
        XCTAssertTrue(resumedLines.contains { $0.hasPrefix("eval step 6") && $0.contains("accuracy") }, "\(resumedLines)")
    }

    func testAFreshRunRefusesToOverwriteCheckpointsAndAutoResumeContinues() throws {
        let output = directory.path("run")
        _ = try train(try spec(steps: 2, output: output), communicator: SingleProcessCommunicator())
        XCTAssertThrowsError(try train(try spec(steps: 4, output: output), communicator: SingleProcessCommunicator())) { error in
            XCTAssertEqual("\(error)", "\(output) has checkpoints already: pass --resume auto to continue, or choose another output")
        }
        let (_, lines) = try train(try spec(steps: 4, output: output), communicator: SingleProcessCommunicator(), resume: .auto)
        XCTAssertEqual(lines.first, "resuming from \(output)/checkpoints/step-000002.h5 at step 2")
        XCTAssertEqual(Checkpoint.list("\(output)/checkpoints").map { ($0 as NSString).lastPathComponent }, ["step-000004.h5", "step-000002.h5"])
    }
}
