import Distributed
import Foundation
import Llama
import Training
import XCTest

/// The exact reduction must give the same bits for any world size and any assignment of
/// micro-batches to ranks. These tests run in one process and again under `mpirun -np 2/3/4`
/// (scripts/test.sh), where each rank takes micro-batches `i ≡ rank (mod size)` and compares
/// with the one-process reduction of all of them, computed locally.
final class GradientReducerTests: XCTestCase {
    static let count = 301
    static let microBatches = 12

    /// Micro-batch `index`'s gradient: wide dynamic range (1e-9…1e3) and both signs, so Float
    /// sums in different orders would round differently.
    static func gradient(_ index: Int) -> [Float] {
        var generator = SplitMix64(seed: UInt64(index) &* 7919 &+ 1)
        return (0..<count).map { _ in
            let magnitude = Foundation.pow(10, Float(generator.nextFloat(in: -9..<3)))
            return generator.nextFloat(in: -1..<1) * magnitude
        }
    }

    static func loss(_ index: Int) -> Double { 3.25 + Double(index) / 7 }

    /// The reference: one process reducing `order`.
    static func reduceAlone(order: [Int], mode: GradientReducer.Mode = .exact) throws -> GradientReducer.Step {
        let reducer = GradientReducer(communicator: SingleProcessCommunicator(), microBatchesPerStep: microBatches, mode: mode)
        for index in order { reducer.add(gradient: gradient(index), lossSum: loss(index), tokens: 10 + index, processedTokens: 40 + index) }
        return try reducer.reduce()
    }

    func testExactSumIsIndependentOfOrderAndCloseToTheTrueSum() throws {
        let forward = try Self.reduceAlone(order: Array(0..<Self.microBatches))
        let shuffled = try Self.reduceAlone(order: [7, 2, 11, 0, 5, 9, 1, 4, 10, 3, 8, 6])
        XCTAssertEqual(forward, shuffled)
        XCTAssertEqual(forward.tokens, (0..<Self.microBatches).reduce(0) { $0 + 10 + $1 })
        XCTAssertEqual(forward.processedTokens, (0..<Self.microBatches).reduce(0) { $0 + 40 + $1 })
        XCTAssertEqual(forward.lossSum, (0..<Self.microBatches).reduce(0.0) { $0 + Self.loss($1) }, accuracy: 1e-8)
        for entry in 0..<Self.count {
            let exact = (0..<Self.microBatches).reduce(0.0) { $0 + Double(Self.gradient($1)[entry]) }
            // Resolution 2⁻⁶¹·2^(e+4) of the largest magnitude (~1e3): ~1e-14 absolute, plus Float rounding.
            XCTAssertEqual(Double(forward.gradient[entry]), exact, accuracy: abs(exact) * 1e-7 + 1e-12)
        }
    }

    func testFastModeAgreesWithExactToFloatPrecision() throws {
        let exact = try Self.reduceAlone(order: Array(0..<Self.microBatches))
        let fast = try Self.reduceAlone(order: Array(0..<Self.microBatches), mode: .fast)
        for (a, b) in zip(fast.gradient, exact.gradient) { XCTAssertEqual(a, b, accuracy: abs(b) * 1e-5 + 1e-9) }
        XCTAssertEqual(fast.tokens, exact.tokens)
    }

    func testWorldSizeDoesNotChangeTheBits() throws {
        let world = try MPICommunicator.world()
        let reducer = GradientReducer(communicator: world, microBatchesPerStep: Self.microBatches, mode: .exact)
        for index in stride(from: world.rank, to: Self.microBatches, by: world.size) {
            reducer.add(gradient: Self.gradient(index), lossSum: Self.loss(index), tokens: 10 + index, processedTokens: 40 + index)
        }
        let distributed = try reducer.reduce()
        XCTAssertEqual(distributed, try Self.reduceAlone(order: Array(0..<Self.microBatches)), "world size \(world.size)")
    }

    func testANonFiniteGradientOnOneRankStopsEveryRank() throws {
        let world = try MPICommunicator.world()
        let reducer = GradientReducer(communicator: world, microBatchesPerStep: world.size, mode: .exact)
        var gradient = Self.gradient(world.rank)
        if world.rank == world.size - 1 { gradient[3] = .nan }
        reducer.add(gradient: gradient, lossSum: 1, tokens: 1)
        XCTAssertThrowsError(try reducer.reduce()) { error in
            XCTAssertEqual(error as? GradientReducerError, .nonFinite)
        }
    }

    func testBytesPerStep() {
        XCTAssertEqual(GradientReducer.bytesPerStep(count: 460_800, mode: .exact), (460_800 + 3) * 8 + 8)
        XCTAssertEqual(GradientReducer.bytesPerStep(count: 460_800, mode: .fast), (460_800 + 3) * 4)
    }
}
