import Foundation

/// Rotary position embedding (Su et al. 2021) in Hugging Face's rotate-half form: within each
/// head, element `i` pairs with `i + d/2` and the pair turns by `p · θ^(−2i/d)` at position `p`.
///
/// The cos/sin table is computed once in Double for all positions up to the model's context, from
/// the frequencies the model's RoPE scaling gives (plain `θ^(−2i/d)` without one).
public final class RotaryEmbedding {
    public let headDim: Int
    public let maxPositions: Int
    private let cosines: [Float]  // (maxPositions, headDim/2)
    private let sines: [Float]

    public convenience init(headDim: Int, maxPositions: Int, theta: Double) {
        let frequencies = (0..<(headDim / 2)).map { Foundation.pow(theta, -2 * Double($0) / Double(headDim)) }
        self.init(headDim: headDim, maxPositions: maxPositions, inverseFrequencies: frequencies)
    }

    /// A table for `headDim / 2` angular frequencies: pair `i` turns by `p · inverseFrequencies[i]`.
    public init(headDim: Int, maxPositions: Int, inverseFrequencies: [Double]) {
        precondition(headDim % 2 == 0, "RoPE needs an even head dimension")
        precondition(inverseFrequencies.count == headDim / 2, "RoPE needs headDim / 2 frequencies")
        self.headDim = headDim
        self.maxPositions = maxPositions
        let half = headDim / 2
        var cosines = [Float](repeating: 0, count: maxPositions * half)
        var sines = [Float](repeating: 0, count: maxPositions * half)
        for position in 0..<maxPositions {
            for i in 0..<half {
                let angle = Double(position) * inverseFrequencies[i]
                cosines[position * half + i] = Float(Foundation.cos(angle))
                sines[position * half + i] = Float(Foundation.sin(angle))
            }
        }
        self.cosines = cosines
        self.sines = sines
    }

    /// Rotates `rows` rows of `heads` heads in place; row `r` is at position `firstPosition + r`.
    public func forward(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, firstPosition: Int = 0) {
        rotate(x, rows: rows, heads: heads, firstPosition: firstPosition, direction: 1)
    }

    /// The backward of `forward`: a rotation is orthogonal, so the gradient turns back by −angle.
    public func backward(_ dx: UnsafeMutablePointer<Float>, rows: Int, heads: Int, firstPosition: Int = 0) {
        rotate(dx, rows: rows, heads: heads, firstPosition: firstPosition, direction: -1)
    }

    private func rotate(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, firstPosition: Int, direction: Float) {
        precondition(firstPosition + rows <= maxPositions, "position \(firstPosition + rows - 1) beyond the RoPE table")
        let half = headDim / 2
        cosines.withUnsafeBufferPointer { cosines in
            sines.withUnsafeBufferPointer { sines in
                for row in 0..<rows {
                    let table = (firstPosition + row) * half
                    for head in 0..<heads {
                        let vector = x + (row * heads + head) * headDim
                        for i in 0..<half {
                            let c = cosines[table + i]
                            let s = direction * sines[table + i]
                            let a = vector[i]
                            let b = vector[i + half]
                            vector[i] = a * c - b * s
                            vector[i + half] = b * c + a * s
                        }
                    }
                }
            }
        }
    }
}
