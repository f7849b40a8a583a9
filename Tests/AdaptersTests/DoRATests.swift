import Adapters
import Foundation
import Llama
import TestSupport
import XCTest

/// DoRA against an independent Double implementation of PEFT's formula on one linear layer, on
/// dense and quantized bases: the output with the true row norm, and the gradients with the norm
/// held constant (PEFT's `weight_norm.detach()`).
final class DoRATests: XCTestCase {
    private let rows = 5

    func testSmolLM2QueryValueRank8HasLoRAsParametersPlusOneMagnitudePerOutputRow() throws {
        let smol = LlamaConfig.smolLM2
        let layout = try AdapterLayout(spec: AdapterSpec(kind: .dora, rank: 8, alpha: 16, targets: [.qProj, .vProj]), config: smol)
        // LoRA's 460,800 plus 30·(576 + 192) magnitudes.
        XCTAssertEqual(layout.parameterCount, 483_840)
        XCTAssertEqual(layout.entries[0].tensors.map(\.name), ["A", "B", "magnitude"])
    }

    func testInitialMagnitudesAreTheBaseRowNorms() throws {
        let (model, set) = try doraOnTinyModel(quantized: false, randomize: false)
        for entry in set.layout.entries {
            let weight = try weightRows(model, entry)
            for o in 0..<entry.outFeatures {
                let norm = (0..<entry.inFeatures).reduce(0.0) { $0 + weight[o][$1] * weight[o][$1] }.squareRoot()
                XCTAssertEqual(Double(set.parameters.pointer[entry.tensor("magnitude").offset + o]), norm, accuracy: 1e-6 * norm)
            }
        }
    }

    func testForwardAndBackwardMatchPEFTsFormulaOnDenseAndQuantizedBases() throws {
        for quantized in [false, true] {
            let (model, set) = try doraOnTinyModel(quantized: quantized, randomize: true)
            for entry in set.layout.entries {
                try check(entry, set: set, model: model, label: "\(entry.target)\(quantized ? " q8_0" : "")")
            }
        }
    }

    /// The tiny model (its linear layers q8_0 when `quantized`) with DoRA r 3 on q, v and down;
    /// `randomize` makes B and the magnitudes non-trivial.
    private func doraOnTinyModel(quantized: Bool, randomize: Bool) throws -> (LlamaModel, AdapterSet) {
        let directory = try TemporaryDirectory()
        let path = directory.path("tiny.h5")
        try ModelWriter.writeRandom(to: path, config: .tiny, seed: 21, scale: 0.15)
        var file = try ModelFile(path: path)
        if quantized {
            let quantizedPath = directory.path("tiny-q8_0.h5")
            _ = try ModelQuantizer.quantize(model: file, to: .q8_0, path: quantizedPath)
            file = try ModelFile(path: quantizedPath)
        }
        let model = LlamaModel(weights: try LlamaWeights(file: file), maxTokens: 16, maxSequenceLength: 8, trainable: true)
        let spec = AdapterSpec(kind: .dora, rank: 3, alpha: 6, targets: [.qProj, .vProj, .downProj])
        let set = AdapterSet(layout: try AdapterLayout(spec: spec, config: .tiny), maxRows: 8)
        set.initialize(seed: 3, model: model)
        if randomize {
            var random = TestRandom(seed: 8)
            for entry in set.layout.entries {
                for index in entry.tensor("B").range { set.parameters.pointer[index] = 0.2 * random.next() }
                for index in entry.tensor("magnitude").range { set.parameters.pointer[index] *= 1 + 0.3 * random.next() }
            }
        }
        return (model, set)
    }

    /// `W (out, in)` as the model computes with it, in Double.
    private func weightRows(_ model: LlamaModel, _ entry: AdapterEntry) throws -> [[Double]] {
        let base = model.frozenLinear(layer: entry.layer, site: entry.site)
        var identity = [Float](repeating: 0, count: entry.inFeatures * entry.inFeatures)
        for i in 0..<entry.inFeatures { identity[i * entry.inFeatures + i] = 1 }
        var transposed = [Float](repeating: 0, count: entry.inFeatures * entry.outFeatures)
        base.product(identity, rows: entry.inFeatures, into: &transposed)
        return (0..<entry.outFeatures).map { o in (0..<entry.inFeatures).map { Double(transposed[$0 * entry.outFeatures + o]) } }
    }

    private func check(_ entry: AdapterEntry, set: AdapterSet, model: LlamaModel, label: String) throws {
        let (n, i, o, r) = (rows, entry.inFeatures, entry.outFeatures, entry.rank)
        let s = Double(entry.scale)
        let p = set.parameters.array()
        func tensor(_ name: String, _ row: Int, _ column: Int, _ columns: Int) -> Double { Double(p[entry.tensor(name).offset + row * columns + column]) }
        let w = try weightRows(model, entry)
        var random = TestRandom(seed: 31)
        let x = random.array(n * i), dy = random.array(n * o)
        // Reference: V = W + s·B·A, c = m / ‖V_row‖, y = c ⊙ (x·Vᵀ); gradients with c constant.
        let v = (0..<o).map { row in (0..<i).map { col in w[row][col] + s * (0..<r).reduce(0.0) { $0 + tensor("B", row, $1, r) * tensor("A", $1, col, i) } } }
        let norm = v.map { $0.reduce(0.0) { $0 + $1 * $1 }.squareRoot() }
        let c = (0..<o).map { tensor("magnitude", 0, $0, o) / norm[$0] }
        func xv(_ row: Int, _ out: Int) -> Double { (0..<i).reduce(0.0) { $0 + Double(x[row * i + $1]) * v[out][$1] } }
        let unscaled = (0..<n).map { row in (0..<o).map { xv(row, $0) } }
        let upstream = (0..<n).map { row in (0..<o).map { c[$0] * Double(dy[row * o + $0]) } }
        let expectedY = (0..<n).flatMap { row in (0..<o).map { c[$0] * unscaled[row][$0] } }
        let expectedDm = (0..<o).map { out in (0..<n).reduce(0.0) { $0 + Double(dy[$1 * o + out]) * unscaled[$1][out] } / norm[out] }
        let expectedDx = (0..<n).flatMap { row in (0..<i).map { col in (0..<o).reduce(0.0) { $0 + upstream[row][$1] * v[$1][col] } } }
        let t = (0..<n).map { row in (0..<r).map { k in (0..<i).reduce(0.0) { $0 + Double(x[row * i + $1]) * tensor("A", k, $1, i) } } }
        let expectedDb = (0..<o).flatMap { out in (0..<r).map { k in s * (0..<n).reduce(0.0) { $0 + upstream[$1][out] * t[$1][k] } } }
        let dt = (0..<n).map { row in (0..<r).map { k in s * (0..<o).reduce(0.0) { $0 + upstream[row][$1] * tensor("B", $1, k, r) } } }
        let expectedDa = (0..<r).flatMap { k in (0..<i).map { col in (0..<n).reduce(0.0) { $0 + dt[$1][k] * Double(x[$1 * i + col]) } } }

        let base = model.frozenLinear(layer: entry.layer, site: entry.site)
        let call = LinearCall(layer: entry.layer, site: entry.site, firstRow: 0, rows: n, inFeatures: i, outFeatures: o)
        var y = [Float](repeating: 0, count: n * o)
        var dx = [Float](repeating: 0, count: n * i)
        base.product(x, rows: n, into: &y)
        base.productBackward(dy, rows: n, into: &dx, accumulate: false)
        set.zeroGradients()
        x.withUnsafeBufferPointer { input in
            y.withUnsafeMutableBufferPointer { set.forward(call, input: input.baseAddress!, output: $0.baseAddress!, base: base) }
            dy.withUnsafeBufferPointer { gradient in
                dx.withUnsafeMutableBufferPointer {
                    set.backward(call, input: input.baseAddress!, outputGradient: gradient.baseAddress!, inputGradient: $0.baseAddress!, base: base)
                }
            }
        }
        let g = set.gradients.array()
        assertClose(y, expectedY, "\(label) y")
        assertClose(dx, expectedDx, "\(label) dx")
        assertClose(Array(g[entry.tensor("A").range]), expectedDa, "\(label) dA")
        assertClose(Array(g[entry.tensor("B").range]), expectedDb, "\(label) dB")
        assertClose(Array(g[entry.tensor("magnitude").range]), expectedDm, "\(label) dm")
    }

    private func assertClose(_ actual: [Float], _ expected: [Double], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, label, file: file, line: line)
        let scale = max(expected.map(abs).max() ?? 0, 1e-3)
        let worst = zip(actual, expected).map { abs(Double($0) - $1) }.max() ?? 0
        XCTAssertLessThan(worst, 2e-5 * scale, label, file: file, line: line)
        XCTAssertTrue(expected.contains { $0 != 0 }, "\(label) must not be all zeros", file: file, line: line)
    }
}
