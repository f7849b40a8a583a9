import Foundation

/// Softmax cross-entropy over rows of logits, one target per row: the loss of the positions a
/// task supervises (every next token for language modelling, one answer token per example for
/// classification).
public enum CrossEntropy {
    /// Per-row `logsumexp(logits) − logits[target]` into `losses (rows)`, and the row's
    /// log-sum-exp into `logSumExp (rows)` for `backward`. Returns the summed loss in Double.
    /// `scratch` holds `rows` Doubles. Rows run on `ComputeThreads`; the sum is taken in row order.
    @discardableResult
    public static func forward(
        _ logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocabulary: Int,
        losses: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Double>
    ) -> Double {
        ComputeThreads.forEachRange(rows) { range in
            for row in range {
                let values = logits + row * vocabulary
                let peak = VectorMath.maximum(values, count: vocabulary)
                let lse = Double(peak) + Foundation.log(VectorMath.sumExpShifted(values, count: vocabulary, shift: peak))
                logSumExp[row] = Float(lse)
                scratch[row] = lse - Double(values[Int(targets[row])])
                losses[row] = Float(scratch[row])
            }
        }
        return (0..<rows).reduce(0.0) { $0 + scratch[$1] }
    }

    /// Overwrites `logits` with `scale · (softmax − onehot(target))`, the gradient of
    /// `scale · loss` — e.g. scale = 1 for an unnormalised sum that is divided later.
    public static func backward(
        _ logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, logSumExp: UnsafePointer<Float>,
        rows: Int, vocabulary: Int, scale: Float
    ) {
        ComputeThreads.forEachRange(rows) { range in
            for row in range {
                let values = logits + row * vocabulary
                let shift = logSumExp[row]
                for index in 0..<vocabulary { values[index] = scale * VectorMath.exp(values[index] - shift) }
                values[Int(targets[row])] -= scale
            }
        }
    }
}
