import Adapters
import Foundation
import HDF5
import Llama
import TestSupport
import XCTest

final class TensorTrainTests: XCTestCase {
    private let shape = TensorTrainShape(inFactors: [4, 6], outFactors: [3, 2, 5], rank: 3)
    private let rows = 7

    private func random(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { _ in generator.nextFloat(in: -scale..<scale) }
    }

    private func forward(_ train: TensorTrain, x: [Float], cores: [Float], path: TensorTrain.Path) -> [Float] {
        var y = [Float](repeating: 0.5, count: rows * shape.outFeatures)
        var scratch = [Float](repeating: 0, count: train.scratchCount(rows: rows))
        train.forward(x: x, cores: cores, into: &y, rows: rows, path: path, scratch: &scratch)
        return y
    }

    private func backward(_ train: TensorTrain, x: [Float], cores: [Float], dy: [Float], path: TensorTrain.Path) -> ([Float], [Float]) {
        var dx = [Float](repeating: 0, count: x.count)
        var dCores = [Float](repeating: 0, count: cores.count)
        var scratch = [Float](repeating: 0, count: train.scratchCount(rows: rows))
        train.backward(dy: dy, x: x, cores: cores, dx: &dx, coreGradients: &dCores, rows: rows, path: path, scratch: &scratch)
        return (dx, dCores)
    }

    private func relativeDifference(_ a: [Float], _ b: [Float]) -> Float {
        let difference = zip(a, b).map { abs($0 - $1) }.max()!
        return difference / max(b.map(abs).max()!, 1e-30)
    }

    func testShapeCountsAndFactorization() {
        XCTAssertEqual(shape.modes, [4, 6, 5, 2, 3])
        XCTAssertEqual(shape.bonds, [1, 3, 3, 3, 3, 1])
        XCTAssertEqual(shape.parameterCount, 1 * 4 * 3 + 3 * 6 * 3 + 3 * 5 * 3 + 3 * 2 * 3 + 3 * 3 * 1)
        XCTAssertEqual(TensorTrainShape.factorize(576), [8, 8, 9])
        XCTAssertEqual(TensorTrainShape.factorize(192), [4, 6, 8])
        XCTAssertEqual(TensorTrainShape.factorize(1536), [4, 6, 8, 8])
        XCTAssertEqual(TensorTrainShape.factorize(64), [8, 8])
        // 576 × 576 at rank 5: 40 + 200 + 225 + 225 + 200 + 40 (DESIGN.md: ~1,000 vs 9,216 for LoRA r 8).
        XCTAssertEqual(TensorTrainShape(inFactors: [8, 8, 9], outFactors: [8, 8, 9], rank: 5).parameterCount, 930)
    }

    func testReconstructionMatchesANaiveContractionOfTheCores() {
        let cores = random(shape.parameterCount, seed: 1)
        let train = TensorTrain(shape: shape, scale: 1)
        var weight = [Float](repeating: 0, count: shape.inFeatures * shape.outFeatures)
        var partials = [Float](repeating: 0, count: train.scratchCount(rows: 1))
        train.reconstruct(cores: cores, into: &weight, partials: &partials)
        // Entry (i, c) = G1[0,i1,:]·G2[:,i2,:]·G3[:,t1,:]·G4[:,t2,:]·G5[:,t3,0], i = i1·6 + i2, c = t1·6 + t2·3 + t3.
        func core(_ k: Int, _ a: Int, _ s: Int, _ b: Int) -> Float {
            let dims = shape.coreShape(k)
            return cores[shape.coreOffset(k) + (a * dims[1] + s) * dims[2] + b]
        }
        for (i1, i2, t1, t2, t3) in [(0, 0, 0, 0, 0), (3, 5, 4, 1, 2), (1, 2, 3, 0, 1)] {
            var vector: [Float] = (0..<3).map { core(0, 0, i1, $0) }
            for (k, mode) in [(1, i2), (2, t1), (3, t2)] {
                vector = (0..<3).map { b in (0..<3).reduce(0) { $0 + vector[$1] * core(k, $1, mode, b) } }
            }
            let expected = (0..<3).reduce(Float(0)) { $0 + vector[$1] * core(4, $1, t3, 0) }
            XCTAssertEqual(weight[(i1 * 6 + i2) * 30 + (t1 * 6 + t2 * 3 + t3)], expected, accuracy: 1e-5)
        }
    }

    func testReconstructAndContractPathsAgreeInForwardAndBackward() {
        let train = TensorTrain(shape: shape, scale: 0.7)
        let x = random(rows * shape.inFeatures, seed: 2)
        let cores = random(shape.parameterCount, seed: 3)
        let dy = random(rows * shape.outFeatures, seed: 4)
        XCTAssertLessThan(relativeDifference(forward(train, x: x, cores: cores, path: .contract),
                                             forward(train, x: x, cores: cores, path: .reconstruct)), 1e-5)
        let (dxContract, dCoresContract) = backward(train, x: x, cores: cores, dy: dy, path: .contract)
        let (dxReconstruct, dCoresReconstruct) = backward(train, x: x, cores: cores, dy: dy, path: .reconstruct)
        XCTAssertLessThan(relativeDifference(dxContract, dxReconstruct), 1e-5)
        XCTAssertLessThan(relativeDifference(dCoresContract, dCoresReconstruct), 1e-5)
        for k in 0..<shape.modes.count {
            let range = shape.coreOffset(k)..<shape.coreOffset(k + 1)
            XCTAssertLessThan(relativeDifference(Array(dCoresContract[range]), Array(dCoresReconstruct[range])), 1e-5, "core \(k)")
        }
    }

    func testContractBackwardMatchesFiniteDifferences() {
        let train = TensorTrain(shape: shape, scale: 0.7)
        var x = random(rows * shape.inFeatures, seed: 5)
        var cores = random(shape.parameterCount, seed: 6)
        let c = random(rows * shape.outFeatures, seed: 7)
        let (dx, dCores) = backward(train, x: x, cores: cores, dy: c, path: .contract)
        let coresNow = cores
        // forward adds into y = 0.5, a constant that cancels in the differences.
        XCTAssertLessThan(FiniteDifferences.coordinateError(input: &x, indices: Array(x.indices), analytic: dx) {
            FiniteDifferences.probe(forward(train, x: $0, cores: coresNow, path: .contract), c)
        }, 1e-3)
        let xNow = x
        XCTAssertLessThan(FiniteDifferences.coordinateError(input: &cores, indices: Array(cores.indices), analytic: dCores) {
            FiniteDifferences.probe(forward(train, x: xNow, cores: $0, path: .contract), c)
        }, 1e-3)
    }

    func testCheaperPathFollowsTheFLOPCount() {
        let train = TensorTrain(shape: TensorTrainShape(inFactors: [8, 8, 9], outFactors: [8, 8, 9], rank: 5), scale: 1)
        XCTAssertEqual(train.cheaperPath(rows: 128), .contract)
        XCTAssertLessThan(train.flops(rows: 128, path: .contract), train.flops(rows: 128, path: .reconstruct) / 10)
        let wide = TensorTrain(shape: TensorTrainShape(inFactors: [2, 2], outFactors: [2, 2], rank: 16), scale: 1)
        XCTAssertEqual(wide.cheaperPath(rows: 1), .reconstruct)
    }

    func testNumpyReconstructsTheSameDeltaW() throws {
        let cores = random(shape.parameterCount, seed: 8)
        let train = TensorTrain(shape: shape, scale: 1)
        var weight = [Float](repeating: 0, count: shape.inFeatures * shape.outFeatures)
        var partials = [Float](repeating: 0, count: train.scratchCount(rows: 1))
        train.reconstruct(cores: cores, into: &weight, partials: &partials)
        let directory = try TemporaryDirectory()
        let path = directory.path("tt.h5")
        do {
            let file = try HDF5File.create(path)
            try file.root.attributes.set("in_factors", shape.inFactors.map(Int64.init))
            try file.root.attributes.set("out_factors", shape.outFactors.map(Int64.init))
            for k in 0..<shape.modes.count {
                try file.root.write("core_\(k)", Array(cores[shape.coreOffset(k)..<shape.coreOffset(k + 1)]), shape: shape.coreShape(k))
            }
            try file.root.write("delta_w", weight, shape: [shape.inFeatures, shape.outFeatures])
        }
        let run = try ChildProcess.run(try Repository.python(), [Repository.path("scripts/tt_reconstruct.py"), path])
        XCTAssertEqual(run.status, 0, run.stdout + run.stderr)
        XCTAssertTrue(run.stdout.hasPrefix("max_relative_difference="), run.stdout)
    }
}
