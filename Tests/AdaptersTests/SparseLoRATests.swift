import Adapters
import Foundation
import Llama
import TestSupport
import XCTest

final class SparseLoRATests: XCTestCase {
    private let schedule = SparsitySchedule(initial: 0, final: 0.8, startStep: 10, endStep: 50, every: 5)

    private func sparseSet(config: LlamaConfig = .tiny, final: Double = 0.8) throws -> AdapterSet {
        var schedule = self.schedule
        schedule.final = final
        let spec = AdapterSpec(kind: .sparseLora, rank: 4, alpha: 8, targets: [.qProj, .vProj, .downProj], sparsity: schedule)
        let set = AdapterSet(layout: try AdapterLayout(spec: spec, config: config), maxRows: 8)
        var generator = SplitMix64(seed: 4)
        for index in 0..<set.parameters.count { set.parameters.pointer[index] = generator.nextFloat(in: -1..<1) }
        return set
    }

    func testCubicScheduleValuesAndPruningSteps() {
        XCTAssertEqual(schedule.sparsity(at: 0), 0)
        XCTAssertEqual(schedule.sparsity(at: 10), 0)
        // Halfway: s_f + (s_i − s_f)·0.5³ = 0.8 − 0.8/8.
        XCTAssertEqual(schedule.sparsity(at: 30), 0.7, accuracy: 1e-12)
        XCTAssertEqual(schedule.sparsity(at: 50), 0.8)
        XCTAssertEqual(schedule.sparsity(at: 900), 0.8)
        XCTAssertEqual((0...60).filter(schedule.prunes(at:)), [10, 15, 20, 25, 30, 35, 40, 45, 50])
    }

    func testAfterTheScheduleEveryTensorHasTheTargetSparsityAndPrunedEntriesStayZero() throws {
        let set = try sparseSet()
        var pruned = Set<Int>()
        var generator = SplitMix64(seed: 8)
        for step in 0...60 {
            if set.prune(step: step) {
                let now = Set((0..<set.masks.count).filter { set.masks.pointer[$0] == 0 })
                XCTAssertTrue(pruned.isSubset(of: now), "step \(step) revived a pruned entry")
                pruned = now
            }
            // A stand-in optimizer step with masked gradients: pruned values must not move.
            for index in 0..<set.gradients.count { set.gradients.pointer[index] = generator.nextFloat(in: -1..<1) * set.masks.pointer[index] }
            for index in 0..<set.parameters.count { set.parameters.pointer[index] -= 0.01 * set.gradients.pointer[index] }
        }
        for entry in set.layout.entries {
            for tensor in entry.tensors {
                let zeros = tensor.range.filter { set.parameters.pointer[$0] == 0 }.count
                XCTAssertEqual(Double(zeros), 0.8 * Double(tensor.count), accuracy: 1, "\(entry.target).\(tensor.name)")
                XCTAssertEqual(set.sparsity(of: tensor), 0.8, accuracy: 1 / Double(tensor.count))
                XCTAssertTrue(tensor.range.allSatisfy { set.masks.pointer[$0] != 0 || set.parameters.pointer[$0] == 0 })
            }
        }
    }

    func testPruningKeepsTheLargestMagnitudes() throws {
        let set = try sparseSet()
        let before = set.parameters.array()
        XCTAssertTrue(set.prune(step: 50))
        let tensor = set.layout.entries[0].tensor("A")
        let kept = tensor.range.filter { set.masks.pointer[$0] != 0 }.map { abs(before[$0]) }
        let dropped = tensor.range.filter { set.masks.pointer[$0] == 0 }.map { abs(before[$0]) }
        XCTAssertLessThanOrEqual(dropped.max()!, kept.min()!)
    }

    func testPackedGradientCarriesExactlyTheUnprunedEntries() throws {
        let set = try sparseSet()
        set.prune(step: 50)
        for index in 0..<set.gradients.count { set.gradients.pointer[index] = Float(index % 97) + 1 }
        let packed = set.packedGradients()
        XCTAssertEqual(packed.count, set.trainableCount)
        XCTAssertEqual(packed.count, set.layout.entries.reduce(0) { total, entry in
            total + entry.tensors.reduce(0) { $0 + SparsitySchedule.kept(count: $1.count, sparsity: 0.8) }
        })
        set.unpackGradients(packed.map { $0 * 2 })
        for index in 0..<set.gradients.count {
            XCTAssertEqual(set.gradients.pointer[index], set.masks.pointer[index] == 0 ? 0 : 2 * (Float(index % 97) + 1))
        }
    }

    func testMaskedGradientsThroughTheModelAreZeroAndTheRestMatchFiniteDifferences() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("tiny.h5")
        try ModelWriter.writeRandom(to: path, config: .tiny, seed: 21, scale: 0.15)
        let model = LlamaModel(weights: try LlamaWeights(file: try ModelFile(path: path)), maxTokens: 16, maxSequenceLength: 8, trainable: true)
        let set = try sparseSet()
        for index in 0..<set.parameters.count { set.parameters.pointer[index] *= 0.1 }
        set.prune(step: 30)
        let batch = TokenBatch(sequences: [[5, 17, 200, 3, 99, 42, 7], [1, 250, 8, 8, 64]])
        try assertParameterGradientsMatchFiniteDifferences(set, model: model, batch: batch, label: "sparse-lora")
        let gradient = set.gradients.array()
        XCTAssertTrue((0..<gradient.count).allSatisfy { set.masks.pointer[$0] != 0 || gradient[$0] == 0 })
    }

    func testSmolLM2TrainableCountsAtFiftyEightyNinetyPercent() throws {
        let smol = LlamaConfig.smolLM2
        // Per layer at rank 8: A_q, B_q, A_v have 4,608 entries, B_v 1,536; each keeps count − round(s·count).
        for (sparsity, perLayer) in [(0.5, 3 * 2304 + 768), (0.8, 3 * 922 + 307), (0.9, 3 * 461 + 154)] {
            let spec = AdapterSpec(kind: .sparseLora, rank: 8, alpha: 16, targets: [.qProj, .vProj],
                                   sparsity: SparsitySchedule(final: sparsity, startStep: 0, endStep: 10, every: 1))
            let layout = try AdapterLayout(spec: spec, config: smol)
            let kept = layout.entries.reduce(0) { total, entry in
                total + entry.tensors.reduce(0) { $0 + SparsitySchedule.kept(count: $1.count, sparsity: sparsity) }
            }
            XCTAssertEqual(kept, 30 * perLayer, "sparsity \(sparsity)")
            XCTAssertEqual(layout.parameterCount, 460_800)
        }
    }

    func testBadScheduleNamesTheSetting() {
        func error(_ schedule: SparsitySchedule?) -> String {
            let spec = AdapterSpec(kind: .sparseLora, rank: 2, alpha: 4, targets: [.qProj], sparsity: schedule)
            do {
                _ = try AdapterLayout(spec: spec, config: .tiny)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(error(SparsitySchedule(final: 1, startStep: 0, endStep: 10, every: 1)), "adapter.sparsity.final: must be in [0, 1), got 1.0")
        XCTAssertEqual(error(SparsitySchedule(final: 0.5, startStep: 10, endStep: 10, every: 1)), "adapter.sparsity.end_step: must come after start_step 10, got 10")
        XCTAssertEqual(error(nil), "adapter.sparsity: sparse-lora needs a sparsity schedule")
    }
}
