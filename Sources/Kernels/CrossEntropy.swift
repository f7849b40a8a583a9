import Foundation

/// Softmax cross-entropy over rows of logits, one target per row: the loss of the positions a
/// task supervises (every next token for language modelling, one answer token per example for
/// classification).
public enum CrossEntropy {
    /// Per-row `logsumexp(logits) − logits[target]` into `losses (rows)`, and the row's
    /// log-sum-exp into `logSumExp (rows)` for `backward`. Returns the summed loss in Double.
    /// `rowLosses` holds `rows` Doubles; `scratch` holds `scratchRows` rows of `vocabulary` floats,
    /// one per thread: rows run on up to that many of `ComputeThreads`, and the losses are summed
    /// in row order.
    @discardableResult
    public static func forward(
        _ logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocabulary: Int,
        losses: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>, rowLosses: UnsafeMutablePointer<Double>,
        scratch: UnsafeMutablePointer<Float>, scratchRows: Int
    ) -> Double {
        ComputeThreads.forEachRange(rows, maxParts: scratchRows) { part, range in
            for row in range {
                let values = logits + row * vocabulary
                let peak = VectorMath.maximum(values, count: vocabulary)
                let sum = VectorMath.expShifted(values, into: scratch + part * vocabulary, count: vocabulary, shift: peak)
                let lse = Double(peak) + Foundation.log(sum)
                logSumExp[row] = Float(lse)
                rowLosses[row] = lse - Double(values[Int(targets[row])])
                losses[row] = Float(rowLosses[row])
            }
        }
        return (0..<rows).reduce(0.0) { $0 + rowLosses[$1] }
    }

    /// Overwrites `logits` with `scale · (softmax − onehot(target))`, the gradient of
    /// `scale · loss` — e.g. scale = 1 for an unnormalised sum that is divided later.
    public static func backward(
        _ logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>, logSumExp: UnsafePointer<Float>,
        rows: Int, vocabulary: Int, scale: Float
    ) {
        ComputeThreads.forEachRange(rows) { _, range in
            for row in range {
                let values = logits + row * vocabulary
                let shift = logSumExp[row]
                VectorMath.scaledExpShifted(values, count: vocabulary, shift: shift, scale: scale)
                values[Int(targets[row])] -= scale
            }
        }
    }
}
