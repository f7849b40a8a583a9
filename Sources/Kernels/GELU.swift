import Foundation

/// The Gaussian error linear unit (Hendrycks & Gimpel 2016) in its exact form, PyTorch's
/// `nn.GELU()` default: `GELU(x) = x·Φ(x)`, `Φ` the standard normal CDF.
public enum GELU {
    /// `y = GELU(x)` over `count` elements.
    public static func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for index in 0..<count {
            let value = x[index]
            y[index] = value * 0.5 * (1 + erff(value * Float(0.5.squareRoot())))
        }
    }

    /// `dx = dy · GELU'(x)` with `GELU'(x) = Φ(x) + x·φ(x)`, in place over `dy`.
    public static func backward(_ dy: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        let inverseRootTwoPi = Float(1 / (2 * Double.pi).squareRoot())
        for index in 0..<count {
            let value = x[index]
            let cdf = 0.5 * (1 + erff(value * Float(0.5.squareRoot())))
            let density = inverseRootTwoPi * Foundation.exp(-0.5 * value * value)
            dy[index] *= cdf + value * density
        }
    }
}
