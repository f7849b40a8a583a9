import CKernels
import Foundation
import Kernels
import TestSupport
import XCTest

final class KernelTests: XCTestCase {
    func testVectorExpMatchesFoundation() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88.3 {
            let exact = Foundation.exp(Double(x))
            worst = max(worst, Float(abs(Double(VectorMath.exp(x)) - exact) / exact))
            x += 0.0137
        }
        XCTAssertLessThan(worst, 5e-7)
        XCTAssertEqual(VectorMath.exp(-100), 0)
        XCTAssertEqual(VectorMath.exp(0), 1)
        XCTAssertEqual(VectorMath.exp(100), .infinity)
        let values: [Float] = (0..<37).map { Float($0) * 0.25 - 4 }
        var out = [Float](repeating: 0, count: 37)
        let total = VectorMath.expShifted(values, into: &out, count: 37, shift: 1)
        XCTAssertEqual(total, values.reduce(0.0) { $0 + Foundation.exp(Double($1) - 1) }, accuracy: 1e-5)
        XCTAssertEqual(VectorMath.maximum(values, count: 37), 5)
    }

    func testLinearAndItsBackwardMatchNaiveProducts() {
        var random = TestRandom(seed: 1)
        let (rows, inFeatures, outFeatures) = (5, 7, 3)
        let x = random.array(rows * inFeatures)
        let w = random.array(outFeatures * inFeatures)
        var y = [Float](repeating: 1, count: rows * outFeatures)
        Matmul.linear(x, w, into: &y, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: true)
        for r in 0..<rows {
            for o in 0..<outFeatures {
                let expected = 1 + (0..<inFeatures).reduce(Float(0)) { $0 + x[r * inFeatures + $1] * w[o * inFeatures + $1] }
                XCTAssertEqual(y[r * outFeatures + o], expected, accuracy: 1e-5)
            }
        }
        let dy = random.array(rows * outFeatures)
        var dx = [Float](repeating: 0, count: rows * inFeatures)
        Matmul.linearBackward(dy, w, into: &dx, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures, accumulate: false)
        for r in 0..<rows {
            for i in 0..<inFeatures {
                let expected = (0..<outFeatures).reduce(Float(0)) { $0 + dy[r * outFeatures + $1] * w[$1 * inFeatures + i] }
                XCTAssertEqual(dx[r * inFeatures + i], expected, accuracy: 1e-5)
            }
        }
    }

    func testRMSNormForwardAndBackward() {
        var random = TestRandom(seed: 2)
        let (rows, dim) = (3, 40)
        var x = random.array(rows * dim)
        let weight = random.array(dim).map { 1 + $0 / 2 }
        let c = random.array(rows * dim)
        func forward(_ x: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: rows * dim)
            var rstd = [Float](repeating: 0, count: rows)
            RMSNorm.forward(x, weight: weight, into: &y, rstd: &rstd, rows: rows, dim: dim, epsilon: 1e-5)
            return y
        }
        let y = forward(x)
        for r in 0..<rows {
            let meanSquare = (0..<dim).reduce(0.0) { $0 + Double(x[r * dim + $1] * x[r * dim + $1]) } / Double(dim)
            XCTAssertEqual(Double(y[r * dim + 5]), Double(x[r * dim + 5] * weight[5]) / (meanSquare + 1e-5).squareRoot(), accuracy: 1e-5)
        }
        var rstd = [Float](repeating: 0, count: rows)
        var scratch = [Float](repeating: 0, count: rows * dim)
        RMSNorm.forward(x, weight: weight, into: &scratch, rstd: &rstd, rows: rows, dim: dim, epsilon: 1e-5)
        var dx = [Float](repeating: 0, count: rows * dim)
        RMSNorm.backward(c, x: x, weight: weight, rstd: rstd, addingInto: &dx, rows: rows, dim: dim)
        let error = FiniteDifferences.coordinateError(input: &x, indices: Array(0..<(rows * dim)), analytic: dx) {
            FiniteDifferences.probe(forward($0), c)
        }
        XCTAssertLessThan(error, 1e-3)
    }

    func testRotaryEmbeddingRotatesHalvesAndBackwardUndoesIt() {
        var random = TestRandom(seed: 3)
        let rope = RotaryEmbedding(headDim: 8, maxPositions: 16, theta: 10000)
        let (rows, heads) = (4, 2)
        let original = random.array(rows * heads * 8)
        var x = original
        rope.forward(&x, rows: rows, heads: heads, firstPosition: 3)
        // Row 1 is position 4; in head 1, element 2 pairs with element 6 at angle 4·θ^(−4/8).
        let angle = 4 * pow(10000.0, -4.0 / 8.0)
        let base = (1 * heads + 1) * 8
        XCTAssertEqual(Double(x[base + 2]), Double(original[base + 2]) * cos(angle) - Double(original[base + 6]) * sin(angle), accuracy: 1e-6)
        XCTAssertEqual(Double(x[base + 6]), Double(original[base + 6]) * cos(angle) + Double(original[base + 2]) * sin(angle), accuracy: 1e-6)
        rope.backward(&x, rows: rows, heads: heads, firstPosition: 3)
        for (a, b) in zip(x, original) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    func testSwiGLUForwardAndBackward() {
        var random = TestRandom(seed: 4)
        let count = 37
        var gate = random.array(count, scale: 4)
        var up = random.array(count)
        let c = random.array(count)
        func forward(_ gate: [Float], _ up: [Float]) -> [Float] {
            var a = [Float](repeating: 0, count: count)
            SwiGLU.forward(gate: gate, up: up, into: &a, count: count)
            return a
        }
        let a = forward(gate, up)
        XCTAssertEqual(Double(a[3]), Double(gate[3]) / (1 + exp(-Double(gate[3]))) * Double(up[3]), accuracy: 1e-6)
        var dGate = [Float](repeating: 0, count: count)
        var dUp = [Float](repeating: 0, count: count)
        SwiGLU.backward(c, gate: gate, up: up, gateGradient: &dGate, upGradient: &dUp, count: count)
        let upValues = up
        XCTAssertLessThan(FiniteDifferences.coordinateError(input: &gate, indices: Array(0..<count), analytic: dGate) {
            FiniteDifferences.probe(forward($0, upValues), c)
        }, 1e-3)
        let gateValues = gate
        XCTAssertLessThan(FiniteDifferences.coordinateError(input: &up, indices: Array(0..<count), analytic: dUp) {
            FiniteDifferences.probe(forward(gateValues, $0), c)
        }, 1e-3)
    }

    /// The vector lanes of SwiGLU and the shifted exponentials (AVX-512 and AVX2) give the bits of the scalar Swift
    /// arithmetic, over the whole range of VectorMath.exp: saturation, underflow to 0, ±0, subnormals.
    func testSwiGLUForwardLanesGiveTheScalarBits() {
        var random = TestRandom(seed: 15)
        let special: [Float] = [0, -0.0, 1e-40, -1e-40, 87.3, -87.3, 87.34, -87.34, 88.5, -88.5, 88.8, -88.8, 100, -100, 1e30, -1e30]
        let gate = special + random.array(4096, scale: 12) + random.array(1000, scale: 120) + random.array(7)
        let up = random.array(gate.count, scale: 3)
        let da = random.array(gate.count)
        KernelPaths.each { path in
            var a = [Float](repeating: .nan, count: gate.count)
            SwiGLU.forward(gate: gate, up: up, into: &a, count: gate.count)
            let scalar = zip(gate, up).map { g, u in g / (1 + VectorMath.exp(-g)) * u }
            XCTAssertEqual(a.map(\.bitPattern), scalar.map(\.bitPattern), path)
            var dGate = [Float](repeating: .nan, count: gate.count), dUp = dGate
            SwiGLU.backward(da, gate: gate, up: up, gateGradient: &dGate, upGradient: &dUp, count: gate.count)
            for index in gate.indices {
                let (d, g, u) = (da[index], gate[index], up[index])
                let sigmoid = 1 / (1 + VectorMath.exp(-g))
                XCTAssertEqual(dUp[index].bitPattern, (d * g * sigmoid).bitPattern, "dup at \(index), \(path)")
                XCTAssertEqual(dGate[index].bitPattern, (d * u * sigmoid * (1 + g * (1 - sigmoid))).bitPattern, "dgate at \(index), \(path)")
            }
            let shift: Float = 3.5
            var shifted = gate, scaled = gate
            let total = VectorMath.expShifted(gate, into: &shifted, count: gate.count, shift: shift)
            VectorMath.scaledExpShifted(&scaled, count: gate.count, shift: shift, scale: 0.25)
            XCTAssertEqual(shifted.map(\.bitPattern), gate.map { VectorMath.exp($0 - shift).bitPattern }, path)
            XCTAssertEqual(scaled.map(\.bitPattern), gate.map { (0.25 * VectorMath.exp($0 - shift)).bitPattern }, path)
            XCTAssertEqual(total, VectorMath.sum(shifted, count: shifted.count), path)
            XCTAssertEqual(ttl_swiglu_forward(gate, up, &a, gate.count) > 0, path != "portable", "the vector paths run their lanes")
        }
    }

    func testCausalGroupedQueryAttentionForwardAndBackward() {
        var random = TestRandom(seed: 5)
        let attention = CausalAttention(heads: 4, kvHeads: 2, headDim: 6)
        let length = 7
        var q = random.array(length * attention.queryWidth)
        var k = random.array(length * attention.kvWidth)
        var v = random.array(length * attention.kvWidth)
        let c = random.array(length * attention.queryWidth)
        func forward(_ q: [Float], _ k: [Float], _ v: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: length * attention.queryWidth)
            var probabilities = [Float](repeating: 0, count: attention.probabilityCount(length: length))
            attention.forward(q: q, k: k, v: v, into: &out, probabilities: &probabilities, length: length)
            return out
        }
        // Naive Double reference for head 3 (kv head 1), row 4.
        let out = forward(q, k, v)
        let (head, kvHead, row, d) = (3, 1, 4, 6)
        var scores = (0...row).map { s in
            (0..<d).reduce(0.0) { $0 + Double(q[row * 24 + head * d + $1]) * Double(k[s * 12 + kvHead * d + $1]) } / Double(d).squareRoot()
        }
        let peak = scores.max()!
        scores = scores.map { exp($0 - peak) }
        let total = scores.reduce(0, +)
        for j in 0..<d {
            let expected = (0...row).reduce(0.0) { $0 + scores[$1] / total * Double(v[$1 * 12 + kvHead * d + j]) }
            XCTAssertEqual(Double(out[row * 24 + head * d + j]), expected, accuracy: 1e-5)
        }

        var probabilities = [Float](repeating: 0, count: attention.probabilityCount(length: length))
        var scratchOut = [Float](repeating: 0, count: length * attention.queryWidth)
        attention.forward(q: q, k: k, v: v, into: &scratchOut, probabilities: &probabilities, length: length)
        var dq = [Float](repeating: 0, count: q.count)
        var dk = [Float](repeating: 0, count: k.count)
        var dv = [Float](repeating: 0, count: v.count)
        var scratch = [Float](repeating: 0, count: attention.kvHeads * length * length)
        attention.backward(c, q: q, k: k, v: v, probabilities: probabilities, dq: &dq, dk: &dk, dv: &dv,
                           scratch: &scratch, length: length)
        let (kFixed, vFixed) = (k, v)
        XCTAssertLessThan(FiniteDifferences.coordinateError(input: &q, indices: Array(0..<q.count), analytic: dq) {
            FiniteDifferences.probe(forward($0, kFixed, vFixed), c)
        }, 1e-3)
        let qFixed = q
        XCTAssertLessThan(FiniteDifferences.coordinateError(input: &k, indices: Array(0..<k.count), analytic: dk) {
            FiniteDifferences.probe(forward(qFixed, $0, vFixed), c)
        }, 1e-3)
        let kAgain = k
        XCTAssertLessThan(FiniteDifferences.coordinateError(input: &v, indices: Array(0..<v.count), analytic: dv) {
            FiniteDifferences.probe(forward(qFixed, kAgain, $0), c)
        }, 1e-3)
    }

    func testCrossEntropyForwardAndBackward() {
        var random = TestRandom(seed: 6)
        let (rows, vocabulary) = (3, 50)
        var logits = random.array(rows * vocabulary, scale: 3)
        let targets: [Int32] = [4, 49, 0]
        func loss(_ logits: [Float]) -> Double {
            var losses = [Float](repeating: 0, count: rows)
            var lse = [Float](repeating: 0, count: rows)
            var rowLosses = [Double](repeating: 0, count: rows)
            var scratch = [Float](repeating: 0, count: vocabulary)
            return CrossEntropy.forward(logits, targets: targets, rows: rows, vocabulary: vocabulary, losses: &losses,
                                        logSumExp: &lse, rowLosses: &rowLosses, scratch: &scratch, scratchRows: 1)
        }
        var expected = 0.0
        for r in 0..<rows {
            let row = logits[(r * vocabulary)..<((r + 1) * vocabulary)].map(Double.init)
            expected += log(row.map { exp($0) }.reduce(0, +)) - row[Int(targets[r])]
        }
        XCTAssertEqual(loss(logits), expected, accuracy: 1e-5)

        var losses = [Float](repeating: 0, count: rows)
        var lse = [Float](repeating: 0, count: rows)
        var rowLosses = [Double](repeating: 0, count: rows)
        var scratch = [Float](repeating: 0, count: vocabulary)
        CrossEntropy.forward(logits, targets: targets, rows: rows, vocabulary: vocabulary, losses: &losses, logSumExp: &lse,
                             rowLosses: &rowLosses, scratch: &scratch, scratchRows: 1)
        var gradient = logits
        CrossEntropy.backward(&gradient, targets: targets, logSumExp: lse, rows: rows, vocabulary: vocabulary, scale: 0.5)
        XCTAssertLessThan(FiniteDifferences.coordinateError(input: &logits, indices: Array(0..<logits.count), analytic: gradient) {
            0.5 * loss($0)
        }, 1e-3)
    }
}
