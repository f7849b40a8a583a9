import Adapters
import Foundation
import Llama
import TestSupport
import Training
import XCTest

final class CheckpointTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    private func adapters(_ kind: AdapterSpec.Kind, seed: UInt64) throws -> (AdapterSet, AdamW) {
        let spec = AdapterSpec(kind: kind, rank: 3, alpha: 4, targets: [.qProj, .downProj],
                               sparsity: kind == .sparseLora ? SparsitySchedule(final: 0.5, startStep: 0, endStep: 4, every: 2) : nil)
        let set = AdapterSet(layout: try AdapterLayout(spec: spec, config: .tiny), maxRows: 8)
        set.initialize(seed: seed)
        var generator = SplitMix64(seed: seed)
        for index in 0..<set.parameters.count { set.parameters.pointer[index] = generator.nextFloat(in: -1..<1) }
        set.prune(step: 4)
        let optimizer = AdamW(count: set.parameters.count, settings: AdamW.Settings())
        for index in 0..<set.gradients.count { set.gradients.pointer[index] = generator.nextFloat(in: -1..<1) }
        optimizer.step(parameters: set.parameters, gradients: set.gradients, masks: set.masks, rate: 0.01)
        optimizer.step(parameters: set.parameters, gradients: set.gradients, masks: set.masks, rate: 0.01)
        return (set, optimizer)
    }

    private func state(step: Int) -> TrainingState {
        TrainingState(step: step, epoch: 1, dataCursor: step * 16, tokensSeen: 1234 * step, worldSize: 2, seed: 42,
                      modelFingerprint: "sha256:model", jobSpec: "name: test\n")
    }

    func testEveryKindRoundTripsBitForBit() throws {
        for kind in AdapterSpec.Kind.allCases {
            let (written, optimizer) = try adapters(kind, seed: 3)
            let path = try Checkpoint.write(to: directory.path(kind.rawValue), state: state(step: 200), adapters: written, optimizer: optimizer, keep: 3)
            XCTAssertTrue(path.hasSuffix("step-000200.h5"))
            let (restored, restoredOptimizer) = try adapters(kind, seed: 99)
            let read = try Checkpoint.read(path, into: restored, optimizer: restoredOptimizer, modelFingerprint: "sha256:model")
            XCTAssertEqual(read, state(step: 200))
            XCTAssertEqual(restored.parameters.array(), written.parameters.array(), "\(kind)")
            XCTAssertEqual(restored.masks.array(), written.masks.array(), "\(kind)")
            XCTAssertEqual(restoredOptimizer.firstMoment.array(), optimizer.firstMoment.array())
            XCTAssertEqual(restoredOptimizer.secondMoment.array(), optimizer.secondMoment.array())
            XCTAssertEqual(restoredOptimizer.steps, 2)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".tmp"))
        }
    }

    func testKeepsTheNewestAndResumesFromTheNewestThatVerifies() throws {
        let (set, optimizer) = try adapters(.lora, seed: 1)
        let runs = directory.path("run")
        for step in [50, 100, 150, 200] {
            try Checkpoint.write(to: runs, state: state(step: step), adapters: set, optimizer: optimizer, keep: 3)
        }
        XCTAssertEqual(Checkpoint.list(runs).map { ($0 as NSString).lastPathComponent }, ["step-000200.h5", "step-000150.h5", "step-000100.h5"])
        // Damage the newest two: truncate one, flip a stored byte in the other.
        let newest = Checkpoint.list(runs)[0]
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: newest))
        try handle.truncate(atOffset: 3000)
        try handle.close()
        let second = Checkpoint.list(runs)[1]
        var bytes = try Data(contentsOf: URL(fileURLWithPath: second))
        let marker = set.parameters.array(0..<4).withUnsafeBytes { Data($0) }
        let found = try XCTUnwrap(bytes.range(of: marker))
        bytes[found.lowerBound + 2] ^= 0x40
        try bytes.write(to: URL(fileURLWithPath: second))

        let (restored, restoredOptimizer) = try adapters(.lora, seed: 7)
        let resumed = try XCTUnwrap(Checkpoint.resumeNewest(in: runs, adapters: restored, optimizer: restoredOptimizer, modelFingerprint: "sha256:model"))
        XCTAssertEqual(resumed.state.step, 100)
        XCTAssertEqual(resumed.skipped.count, 2)
        XCTAssertTrue(resumed.skipped[0].contains("step-000200.h5") && resumed.skipped[0].contains("truncated"), resumed.skipped[0])
        XCTAssertTrue(resumed.skipped[1].contains("step-000150.h5") && resumed.skipped[1].contains("checksum mismatch"), resumed.skipped[1])
        XCTAssertEqual(restored.parameters.array(), set.parameters.array())
    }

    func testACheckpointOfAnotherModelOrAdapterIsRefused() throws {
        let (set, optimizer) = try adapters(.lora, seed: 1)
        let path = try Checkpoint.write(to: directory.path("run"), state: state(step: 10), adapters: set, optimizer: optimizer, keep: 1)
        XCTAssertThrowsError(try Checkpoint.read(path, into: set, optimizer: optimizer, modelFingerprint: "sha256:other")) { error in
            XCTAssertEqual("\(error)", "\(path): was trained on another base model (sha256:model, this one is sha256:other)")
        }
        let (tt, ttOptimizer) = try adapters(.ttLora, seed: 1)
        XCTAssertThrowsError(try Checkpoint.read(path, into: tt, optimizer: ttOptimizer, modelFingerprint: "sha256:model")) { error in
            XCTAssertEqual("\(error)", "\(path): holds lora adapters, the job has tt-lora")
        }
    }
}
