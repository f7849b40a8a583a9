import Kernels

/// The frozen weight `W (out, in)` of one linear layer, as the model computes with it — dense,
/// quantized (decoded tile by tile) or factored — for a hook whose arithmetic involves `W`
/// itself (DoRA's weight norm) without knowing how the model stores it.
public struct FrozenLinear {
    let model: LlamaModel
    public let layer: Int
    public let site: LinearSite
    public let inFeatures: Int
    public let outFeatures: Int

    var weight: LlamaWeights.Linear { model.weights.layers[layer].linear(site) }

    /// `y (rows, out) = x·Wᵀ`: the bits of the model's own product of these rows (row-stable),
    /// in chunks the model's scratch holds.
    public func product(_ x: UnsafePointer<Float>, rows: Int, into y: UnsafeMutablePointer<Float>) {
        for start in stride(from: 0, to: rows, by: model.maxTokens) {
            let count = min(model.maxTokens, rows - start)
            model.product(weight, x + start * inFeatures, into: y + start * outFeatures, rows: count,
                          inFeatures: inFeatures, outFeatures: outFeatures)
        }
    }

    /// `dx (rows, in) (+)= dy·W`.
    public func productBackward(_ dy: UnsafePointer<Float>, rows: Int, into dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        for start in stride(from: 0, to: rows, by: model.maxTokens) {
            let count = min(model.maxTokens, rows - start)
            model.productBackward(weight, dy + start * outFeatures, into: dx + start * inFeatures, rows: count,
                                  inFeatures: inFeatures, outFeatures: outFeatures, accumulate: accumulate)
        }
    }

    /// `Σ_i W[o, i]²` for every output row `o`, summed in Double: rows decoded one at a time, or
    /// for a factored weight read off `I·Wᵀ` in chunks of identity rows. Computed once per model
    /// and layer (the weights are frozen).
    public func rowSquaredNorms() -> [Double] {
        let key = layer * LinearSite.allCases.count + LinearSite.allCases.firstIndex(of: site)!
        if let cached = model.rowSquaredNorms[key] { return cached }
        let norms = computeRowSquaredNorms()
        model.rowSquaredNorms[key] = norms
        return norms
    }

    private func computeRowSquaredNorms() -> [Double] {
        var norms = [Double](repeating: 0, count: outFeatures)
        if case .factored = weight {
            let chunk = min(inFeatures, model.maxTokens)
            var identity = [Float](repeating: 0, count: chunk * inFeatures)
            var columns = [Float](repeating: 0, count: chunk * outFeatures)
            for start in stride(from: 0, to: inFeatures, by: chunk) {
                let count = min(chunk, inFeatures - start)
                for index in identity.indices { identity[index] = 0 }
                for row in 0..<count { identity[row * inFeatures + start + row] = 1 }
                product(identity, rows: count, into: &columns)
                for row in 0..<count {
                    for o in 0..<outFeatures { norms[o] += Double(columns[row * outFeatures + o]) * Double(columns[row * outFeatures + o]) }
                }
            }
        } else {
            var row = [Float](repeating: 0, count: inFeatures)
            for o in 0..<outFeatures {
                row.withUnsafeMutableBufferPointer { model.weights.copyRow(o, of: weight, width: inFeatures, into: $0.baseAddress!) }
                norms[o] = row.reduce(0.0) { $0 + Double($1) * Double($1) }
            }
        }
        return norms
    }
}

extension LlamaModel {
    /// The frozen weight of `layer`'s `site`.
    public func frozenLinear(layer: Int, site: LinearSite) -> FrozenLinear {
        let (inFeatures, outFeatures) = config.linearShape(site)
        return FrozenLinear(model: self, layer: layer, site: site, inFeatures: inFeatures, outFeatures: outFeatures)
    }
}
