import Adapters
import Foundation
import HDF5
import Llama
import TestSupport
import Training
import XCTest

final class CheckpointTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    private func tinyModel() throws -> LlamaModel {
        let path = directory.path("tiny.h5")
        if !FileManager.default.fileExists(atPath: path) { try ModelWriter.writeRandom(to: path, config: .tiny, seed: 5) }
        return LlamaModel(weights: try LlamaWeights(file: try ModelFile(path: path)), maxTokens: 8, maxSequenceLength: 8, trainable: false)
    }

    private func adapters(_ kind: AdapterSpec.Kind, seed: UInt64) throws -> (AdapterSet, AdamW) {
        let spec = AdapterSpec(kind: kind, rank: 3, alpha: 4, targets: [.qProj, .downProj],
                               sparsity: kind == .sparseLora ? SparsitySchedule(final: 0.5, startStep: 0, endStep: 4, every: 2) : nil)
        let set = AdapterSet(layout: try AdapterLayout(spec: spec, config: .tiny), maxRows: 8)
        let model = try tinyModel()
        set.initialize(seed: seed, model: model)
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

        // Two foreign files under newer checkpoint names: an HDF5 file of something else, and text.
        let foreign = try HDF5.HDF5File.create((runs as NSString).appendingPathComponent("step-000300.h5"))
        try foreign.root.write("weights", [Float](repeating: 1, count: 8))
        try foreign.close()
        try Data("not a checkpoint\n".utf8).write(to: URL(fileURLWithPath: (runs as NSString).appendingPathComponent("step-000250.h5")))

        let (restored, restoredOptimizer) = try adapters(.lora, seed: 7)
        let before = restored.parameters.array()
        for (damaged, problem) in zip(Checkpoint.list(runs).prefix(4), ["not a ttl-train checkpoint", "not a readable HDF5 file", "truncated", "checksum mismatch"]) {
            XCTAssertThrowsError(try Checkpoint.read(damaged, into: restored, optimizer: restoredOptimizer, modelFingerprint: "sha256:model")) { error in
                XCTAssertTrue("\(error)".contains(damaged) && "\(error)".contains(problem), "\(error)")
                XCTAssertFalse("\(error)".contains("\n"))
            }
            XCTAssertThrowsError(try Checkpoint.summary(of: damaged))
        }
        XCTAssertEqual(restored.parameters.array(), before, "a refused checkpoint changed nothing")
        let resumed = try XCTUnwrap(Checkpoint.resumeNewest(in: runs, adapters: restored, optimizer: restoredOptimizer, modelFingerprint: "sha256:model"))
        XCTAssertEqual(resumed.state.step, 100)
        XCTAssertEqual(resumed.skipped.count, 4)
        XCTAssertTrue(resumed.skipped[2].contains("step-000200.h5") && resumed.skipped[2].contains("truncated"), resumed.skipped[2])
        XCTAssertTrue(resumed.skipped[3].contains("step-000150.h5") && resumed.skipped[3].contains("checksum mismatch"), resumed.skipped[3])
        XCTAssertEqual(restored.parameters.array(), set.parameters.array())
    }

    func testTheSummaryReadsEveryTensor() throws {
        let (set, optimizer) = try adapters(.sparseLora, seed: 4)
        let path = try Checkpoint.write(to: directory.path("run"), state: state(step: 30), adapters: set, optimizer: optimizer, keep: 1)
        let summary = try Checkpoint.summary(of: path)
        XCTAssertEqual(summary.state, state(step: 30))
        XCTAssertEqual(summary.adapterKind, "sparse-lora")
        XCTAssertEqual(summary.adapters.map(\.target), set.layout.entries.map(\.target).sorted())
        XCTAssertEqual(summary.datasets, 2 * 2 * set.layout.entries.count + 2)
        for entry in set.layout.entries {
            let stored = try XCTUnwrap(summary.adapters.first { $0.target == entry.target })
            XCTAssertEqual(stored.site, entry.site)
            XCTAssertEqual(stored.rank, entry.rank)
            for tensor in entry.tensors {
                let read = try XCTUnwrap(stored.tensor(tensor.name))
                XCTAssertEqual(read.shape, tensor.shape)
                XCTAssertEqual(read.values, set.parameters.array(tensor.range))
                XCTAssertEqual(read.mask?.map(Float.init), set.masks.array(tensor.range))
            }
        }
        XCTAssertEqual(summary.optimizerSteps, 2)
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
        let otherRank = AdapterSet(layout: try AdapterLayout(spec: AdapterSpec(kind: .lora, rank: 3, alpha: 6, targets: [.qProj, .downProj]), config: .tiny), maxRows: 8)
        XCTAssertThrowsError(try Checkpoint.read(path, into: otherRank, optimizer: optimizer, modelFingerprint: "sha256:model")) { error in
            XCTAssertEqual("\(error)", "\(path): layers.0.self_attn.q_proj has rank 3, alpha 4.0; the job has rank 3, alpha 6.0")
        }
        let fewer = AdapterSet(layout: try AdapterLayout(spec: AdapterSpec(kind: .lora, rank: 3, alpha: 4, targets: [.qProj]), config: .tiny), maxRows: 8)
        XCTAssertThrowsError(try Checkpoint.read(path, into: fewer, optimizer: AdamW(count: fewer.parameters.count, settings: AdamW.Settings()),
                                                 modelFingerprint: "sha256:model")) { error in
            XCTAssertEqual("\(error)", "\(path): has an adapter for layers.0.mlp.down_proj, which the job does not adapt")
        }
    }
}
