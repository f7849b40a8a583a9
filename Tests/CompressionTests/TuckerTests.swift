import Compression
import Kernels
import Llama
import TestSupport
import XCTest

/// The decomposition against its defining properties: singular values against the Frobenius norm,
/// the reconstruction error against the discarded energy, full ranks reproducing the tensor, HOOI
/// not worse than HOSVD, and the factored stages against an independent mode-product
/// reconstruction for every kind of view.
final class TuckerTests: XCTestCase {
    private func random(_ shape: [Int], seed: UInt64) -> DenseTensor {
        var random = TestRandom(seed: seed)
        return DenseTensor(values: random.array(shape.reduce(1, *)), shape: shape)
    }

    private func squaredError(_ a: [Float], _ b: [Float]) -> Double {
        zip(a, b).reduce(0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
    }

    /// core ×₀ U₀ ×₁ U₁ (×₂ U₂), straight from the definition.
    private func definitionReconstruction(_ factors: TuckerFactors) -> [Float] {
        var tensor = DenseTensor(values: factors.core, shape: factors.ranks)
        for mode in factors.tensorShape.indices {
            tensor = tensor.modeProduct(mode, factors.factors[mode], rows: factors.tensorShape[mode])
        }
        return tensor.values
    }

    func testSingularValuesCarryTheFrobeniusNormAndVectorsAreOrthonormal() throws {
        let matrix = random([30, 12], seed: 1)
        let (vectors, values) = try SingularValues.leftVectors(of: matrix.values, rows: 30, columns: 12)
        XCTAssertEqual(values.count, 12)
        XCTAssertEqual(values.reduce(0) { $0 + Double($1) * Double($1) }, matrix.squaredNorm, accuracy: 1e-4 * matrix.squaredNorm)
        XCTAssertEqual(values, values.sorted(by: >))
        let gram = Matmul.product(Matmul.transposed(vectors, rows: 30, columns: 12), vectors, m: 12, k: 30, n: 12)
        for i in 0..<12 {
            for j in 0..<12 { XCTAssertEqual(gram[i * 12 + j], i == j ? 1 : 0, accuracy: 1e-5) }
        }
    }

    func testTruncatedSVDErrorIsTheDiscardedEnergy() throws {
        let matrix = random([48, 20], seed: 2)
        for rank in [1, 5, 12, 20] {
            let result = try TuckerDecomposition.decompose(matrix, outputModes: 1, ranks: .fixed([rank, rank]))
            let error = squaredError(result.factors.reconstructed(), matrix.values)
            let discarded = result.discardedEnergy
            XCTAssertEqual(discarded[0], discarded[1], accuracy: 1e-4 * matrix.squaredNorm, "both unfoldings of a matrix have its singular values")
            XCTAssertEqual(error, discarded.max()!, accuracy: 1e-5 * matrix.squaredNorm, "rank \(rank)")
        }
    }

    func testHOSVDErrorLiesBetweenTheLargestAndTheSumOfTheDiscardedEnergies() throws {
        let tensor = random([6, 16, 40], seed: 3)
        let oneMode = try TuckerDecomposition.decompose(tensor, outputModes: 2, ranks: .fixed([6, 7, 40]))
        XCTAssertEqual(squaredError(oneMode.factors.reconstructed(), tensor.values), oneMode.discardedEnergy.reduce(0, +),
                       accuracy: 1e-5 * tensor.squaredNorm, "one truncated mode: equality")
        let threeModes = try TuckerDecomposition.decompose(tensor, outputModes: 2, ranks: .fixed([4, 9, 30]))
        let error = squaredError(threeModes.factors.reconstructed(), tensor.values)
        XCTAssertGreaterThanOrEqual(error, threeModes.discardedEnergy.max()! * (1 - 1e-4))
        XCTAssertLessThanOrEqual(error, threeModes.discardedEnergy.reduce(0, +) * (1 + 1e-4))
        let refined = try TuckerDecomposition.decompose(tensor, outputModes: 2, ranks: .fixed([4, 9, 30]), refinements: 3)
        XCTAssertLessThanOrEqual(squaredError(refined.factors.reconstructed(), tensor.values), error * (1 + 1e-5), "HOOI does not lose to HOSVD")
    }

    func testFullRanksReproduceTheTensor() throws {
        let tensor = random([3, 8, 24], seed: 4)
        let result = try TuckerDecomposition.decompose(tensor, outputModes: 2, ranks: .fixed([3, 8, 24]))
        XCTAssertLessThan(squaredError(result.factors.reconstructed(), tensor.values), 1e-10 * tensor.squaredNorm)
    }

    func testFactoredStagesEqualTheDefinitionForEveryView() throws {
        let views: [([Int], Int, [Int])] = [([24, 40], 1, [7, 7]), ([4, 6, 40], 2, [3, 5, 11]), ([40, 4, 6], 1, [9, 3, 4]), ([4, 6, 40], 2, [4, 6, 24])]
        for (index, (shape, outputModes, ranks)) in views.enumerated() {
            let result = try TuckerDecomposition.decompose(random(shape, seed: 10 + UInt64(index)), outputModes: outputModes, ranks: .fixed(ranks))
            let definition = definitionReconstruction(result.factors)
            let staged = result.factors.reconstructed()
            XCTAssertLessThan(squaredError(staged, definition).squareRoot(), 1e-5 * (DenseTensor(values: definition, shape: shape).squaredNorm.squareRoot()),
                              "view \(shape) with \(outputModes) output modes")
            let stages = result.factors.stages()
            XCTAssertEqual(stages.first!.stage.inputWidth, result.factors.inFeatures)
            XCTAssertEqual(stages.last!.stage.outputWidth, result.factors.outFeatures)
        }
    }

    func testEnergyChoosesTheSmallestSufficientRank() {
        let values: [Float] = [3, 2, 1, 1]   // squares 9, 4, 1, 1 of 15
        XCTAssertEqual(TuckerDecomposition.rank(keeping: 0.6, of: values), 1)
        XCTAssertEqual(TuckerDecomposition.rank(keeping: 0.61, of: values), 2)
        XCTAssertEqual(TuckerDecomposition.rank(keeping: 14.0 / 15, of: values), 3)
        XCTAssertEqual(TuckerDecomposition.rank(keeping: 1, of: values), 4)
    }

    func testModeProductAndUnfoldingFollowTheDefinition() {
        let tensor = DenseTensor(values: (0..<24).map(Float.init), shape: [2, 3, 4])
        // Mode-1 unfolding: row j holds T[i, j, k] for i, k in order.
        XCTAssertEqual(Array(tensor.unfolded(1)[0..<8]), [0, 1, 2, 3, 12, 13, 14, 15])
        let summed = tensor.modeProduct(1, [1, 1, 1], rows: 1)
        XCTAssertEqual(summed.shape, [2, 1, 4])
        XCTAssertEqual(summed.values, [12, 15, 18, 21, 48, 51, 54, 57])
    }
}
