import Foundation

/// Root-mean-square normalisation (Zhang & Sennrich 2019), llama's only norm:
/// `y = x / sqrt(mean(x²) + ε) · w`, per row.
public enum RMSNorm {
    /// `y (rows, dim)` from `x (rows, dim)`; keeps `rstd (rows)` = 1/sqrt(mean(x²)+ε) for backward.
    public static func forward(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
        rstd: UnsafeMutablePointer<Float>, rows: Int, dim: Int, epsilon: Float
    ) {
        for row in 0..<rows {
            let input = x + row * dim
            let output = y + row * dim
            var squares: Float = 0
            for i in 0..<dim { squares += input[i] * input[i] }
            let scale = 1 / (squares / Float(dim) + epsilon).squareRoot()
            rstd[row] = scale
            for i in 0..<dim { output[i] = input[i] * scale * weight[i] }
        }
    }

    /// Adds `dx (rows, dim)` for upstream `dy`:
    /// `dx = r·(w⊙dy) − r³/dim · x · Σ(w⊙dy⊙x)`, with r the stored rstd.
    public static func backward(
        _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
        addingInto dx: UnsafeMutablePointer<Float>, rows: Int, dim: Int
    ) {
        for row in 0..<rows {
            let input = x + row * dim
            let upstream = dy + row * dim
            let output = dx + row * dim
            let scale = rstd[row]
            var dot: Float = 0
            for i in 0..<dim { dot += weight[i] * upstream[i] * input[i] }
            let correction = scale * scale * scale / Float(dim) * dot
            for i in 0..<dim { output[i] += scale * weight[i] * upstream[i] - correction * input[i] }
        }
    }
}
