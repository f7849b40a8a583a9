import CKernels
import Foundation
import Kernels
import TestSupport
import XCTest

/// The row-stable GEMM's promise, bit for bit: every element is the fused multiply-add chain over
/// k in increasing order, whatever the code path, the rows computed with it, the tiling or the
/// threads.
final class RowStableGEMMTests: XCTestCase {
    /// Shapes around the tile edges of every path (4×4, 6×16, 12×32) and the k-block of 256.
    private let shapes: [(m: Int, n: Int, k: Int)] = [(1, 1, 1), (5, 7, 3), (13, 33, 17), (12, 32, 256), (25, 100, 700), (50, 70, 513), (44, 192, 576)]

    private var threads = 1

    override func setUp() {
        threads = ComputeThreads.count
    }

    override func tearDown() {
        ComputeThreads.set(threads)
    }

    func testEveryPathGivesTheFusedMultiplyAddChainBitForBit() {
        var random = TestRandom(seed: 11)
        for shape in shapes {
            for transposed in [true, false] {
                for accumulate in [false, true] {
                    let a = random.array(shape.m * shape.k)
                    let b = random.array(shape.n * shape.k)
                    let initial = random.array(shape.m * shape.n)
                    let expected = chain(a, b, initial: accumulate ? initial : nil, shape: shape, transposed: transposed)
                    KernelPaths.each { path in
                        var c = initial
                        product(a, b, into: &c, shape: shape, transposed: transposed, accumulate: accumulate)
                        XCTAssertEqual(c.map(\.bitPattern), expected.map(\.bitPattern),
                                       "path \(path), \(shape), transposed \(transposed), accumulate \(accumulate)")
                    }
                }
            }
        }
        XCTAssertEqual(ComputePlatform.kernelPath != "portable", ttl_cpu_features() & UInt32(TTL_CPU_AVX2) != 0,
                       "an AVX2 machine runs a vector path")
    }

    func testARowsBitsDoNotDependOnItsBatchMatesOrTheThreads() {
        var random = TestRandom(seed: 12)
        let (m, n, k) = (61, 1536, 576)
        let a = random.array(m * k)
        let b = random.array(n * k)
        var whole = [Float](repeating: 0, count: m * n)
        ComputeThreads.set(1)
        product(a, b, into: &whole, shape: (m, n, k), transposed: true, accumulate: false)
        for (start, rows) in [(0, 1), (3, 7), (17, 44), (60, 1)] {
            var part = [Float](repeating: 0, count: rows * n)
            product(Array(a[(start * k)..<((start + rows) * k)]), b, into: &part, shape: (rows, n, k), transposed: true, accumulate: false)
            XCTAssertEqual(part.map(\.bitPattern), whole[(start * n)..<((start + rows) * n)].map(\.bitPattern), "rows \(start)..<\(start + rows)")
        }
        ComputeThreads.set(3)
        var threaded = [Float](repeating: 0, count: m * n)
        product(a, b, into: &threaded, shape: (m, n, k), transposed: true, accumulate: false)
        XCTAssertEqual(threaded.map(\.bitPattern), whole.map(\.bitPattern), "3 threads")
    }

    /// A weight in panels multiplies to the same chains as the row-major weight: forward (x·Wᵀ,
    /// split by rows and by columns over threads) and backward (dy·W), on every path, with rows
    /// past the last whole band of 32 and k-blocks that start inside a band.
    func testWeightPanelsGiveTheChainsOfTheRowMajorWeight() {
        var random = TestRandom(seed: 13)
        for shape in shapes + [(200, 100, 288), (300, 64, 600)] {
            let x = random.array(shape.m * shape.k)
            let w = random.array(shape.n * shape.k)
            let dy = random.array(shape.m * shape.n)
            let initial = random.array(shape.m * shape.k)
            var panels = [Float](repeating: .nan, count: WeightPanels.floatCount(rows: shape.n, columns: shape.k))
            panels.withUnsafeMutableBufferPointer { WeightPanels.pack(w, rows: shape.n, columns: shape.k, into: $0.baseAddress!) }
            let forward = chain(x, w, initial: nil, shape: shape, transposed: true)
            let backward = chain(dy, w, initial: initial, shape: (shape.m, shape.k, shape.n), transposed: false)
            KernelPaths.each { path in
                for threads in [1, 2, 3] {
                    ComputeThreads.set(threads)
                    var y = [Float](repeating: 0, count: shape.m * shape.n)
                    var dx = initial
                    x.withUnsafeBufferPointer { x in
                        dy.withUnsafeBufferPointer { dy in
                            panels.withUnsafeBufferPointer { panels in
                                y.withUnsafeMutableBufferPointer { y in
                                    Matmul.linear(x.baseAddress!, panels: panels.baseAddress!, into: y.baseAddress!, rows: shape.m,
                                                  inFeatures: shape.k, outFeatures: shape.n)
                                }
                                dx.withUnsafeMutableBufferPointer { dx in
                                    Matmul.linearBackward(dy.baseAddress!, panels: panels.baseAddress!, into: dx.baseAddress!, rows: shape.m,
                                                          inFeatures: shape.k, outFeatures: shape.n, accumulate: true)
                                }
                            }
                        }
                    }
                    XCTAssertEqual(y.map(\.bitPattern), forward.map(\.bitPattern), "forward, path \(path), \(threads) threads, \(shape)")
                    XCTAssertEqual(dx.map(\.bitPattern), backward.map(\.bitPattern), "backward, path \(path), \(threads) threads, \(shape)")
                }
            }
            var row = [Float](repeating: 0, count: shape.k)
            for index in Set([0, shape.n / 2, shape.n - 1]) {
                panels.withUnsafeBufferPointer { panels in
                    row.withUnsafeMutableBufferPointer { WeightPanels.copyRow(index, of: panels.baseAddress!, columns: shape.k, into: $0.baseAddress!) }
                }
                XCTAssertEqual(row, Array(w[(index * shape.k)..<((index + 1) * shape.k)]), "row \(index) of \(shape)")
            }
        }
    }

    /// One row times a weight in panels (generation) agrees with the product in Double.
    func testMatrixVectorOnPanelsMatchesTheProduct() {
        var random = TestRandom(seed: 14)
        for (n, k) in [(1, 1), (33, 7), (100, 577), (576, 576)] {
            let x = random.array(k)
            let w = random.array(n * k)
            var panels = [Float](repeating: 0, count: WeightPanels.floatCount(rows: n, columns: k))
            panels.withUnsafeMutableBufferPointer { WeightPanels.pack(w, rows: n, columns: k, into: $0.baseAddress!) }
            KernelPaths.each { path in
                var y = [Float](repeating: .nan, count: n)
                x.withUnsafeBufferPointer { x in
                    panels.withUnsafeBufferPointer { panels in
                        y.withUnsafeMutableBufferPointer {
                            Matmul.matrixVector(x.baseAddress!, panels: panels.baseAddress!, into: $0.baseAddress!, inFeatures: k, outFeatures: n)
                        }
                    }
                }
                for row in 0..<n {
                    let exact = (0..<k).reduce(0.0) { $0 + Double(w[row * k + $1]) * Double(x[$1]) }
                    XCTAssertEqual(Double(y[row]), exact, accuracy: 1e-4 * Double(k).squareRoot(), "row \(row) of (\(n), \(k)), path \(path)")
                }
            }
        }
    }

    private func product(_ a: [Float], _ b: [Float], into c: inout [Float], shape: (m: Int, n: Int, k: Int), transposed: Bool, accumulate: Bool) {
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in
                    Matmul.rowStable(a.baseAddress!, b.baseAddress!, into: c.baseAddress!, m: shape.m, n: shape.n, k: shape.k,
                                     transposeB: transposed, lda: shape.k, ldb: transposed ? shape.k : shape.n, ldc: shape.n,
                                     accumulate: accumulate)
                }
            }
        }
    }

    /// The reference: one chain of fused multiply-adds (`addProduct`) per element, k ascending, from 0 or from the initial value.
    private func chain(_ a: [Float], _ b: [Float], initial: [Float]?, shape: (m: Int, n: Int, k: Int), transposed: Bool) -> [Float] {
        var c = initial ?? [Float](repeating: 0, count: shape.m * shape.n)
        for i in 0..<shape.m {
            for j in 0..<shape.n {
                var value = c[i * shape.n + j]
                for p in 0..<shape.k {
                    let bValue = transposed ? b[j * shape.k + p] : b[p * shape.n + j]
                    value.addProduct(a[i * shape.k + p], bValue)
                }
                c[i * shape.n + j] = value
            }
        }
        return c
    }
}
