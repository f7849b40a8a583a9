import Foundation
import Kernels
import Training
import XCTest

final class OptimizerTests: XCTestCase {
    func testScheduleShapesMatchHuggingFace() {
        let linear = LearningRateSchedule(shape: .linear, peak: 1e-3, warmupSteps: 10, totalSteps: 110)
        XCTAssertEqual(linear.rate(at: 0), 0)
        XCTAssertEqual(linear.rate(at: 5), 5e-4, accuracy: 1e-15)
        XCTAssertEqual(linear.rate(at: 10), 1e-3, accuracy: 1e-15)
        XCTAssertEqual(linear.rate(at: 60), 5e-4, accuracy: 1e-15)
        XCTAssertEqual(linear.rate(at: 110), 0)
        XCTAssertEqual(linear.rate(at: 500), 0)
        let cosine = LearningRateSchedule(shape: .cosine, peak: 2e-4, warmupSteps: 0, totalSteps: 100)
        XCTAssertEqual(cosine.rate(at: 0), 2e-4, accuracy: 1e-15)
        XCTAssertEqual(cosine.rate(at: 50), 1e-4, accuracy: 1e-15)
        XCTAssertEqual(cosine.rate(at: 25), 1e-4 * (1 + cos(Double.pi / 4)), accuracy: 1e-15)
        XCTAssertEqual(cosine.rate(at: 100), 0, accuracy: 1e-18)
        let constant = LearningRateSchedule(shape: .constant, peak: 3e-4, warmupSteps: 4, totalSteps: 10)
        XCTAssertEqual(constant.rate(at: 2), 1.5e-4, accuracy: 1e-15)
        XCTAssertEqual(constant.rate(at: 9), 3e-4)
    }

    /// Three updates against PyTorch's AdamW written out in Double.
    func testAdamWMatchesPyTorchsUpdateRule() {
        let settings = AdamW.Settings(beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1)
        let parameters = FloatBuffer([0.5, -1.0, 2.0, 0.0])
        let masks = FloatBuffer([1, 1, 1, 0])
        let optimizer = AdamW(count: 4, settings: settings)
        var reference = [0.5, -1.0, 2.0]
        var (m, v) = ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
        let gradientSteps: [[Float]] = [[0.1, -0.2, 0.3, 5], [0.05, 0.4, -0.1, 5], [-0.3, 0.1, 0.2, 5]]
        for (t, gradient) in gradientSteps.enumerated() {
            let rate = 1e-2 * Double(t + 1)
            optimizer.step(parameters: parameters, gradients: FloatBuffer(gradient), masks: masks, rate: rate)
            for i in 0..<3 {
                let g = Double(gradient[i])
                reference[i] *= 1 - rate * 0.1
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.99 * v[i] + 0.01 * g * g
                let bias1 = 1 - pow(0.9, Double(t + 1))
                let bias2 = 1 - pow(0.99, Double(t + 1))
                reference[i] -= rate / bias1 * m[i] / (sqrt(v[i]) / sqrt(bias2) + 1e-8)
            }
        }
        for i in 0..<3 { XCTAssertEqual(Double(parameters.pointer[i]), reference[i], accuracy: 1e-6) }
        XCTAssertEqual(parameters.pointer[3], 0, "a masked parameter must not move")
        XCTAssertEqual(optimizer.firstMoment.pointer[3], 0)
        XCTAssertEqual(optimizer.secondMoment.pointer[3], 0)
        XCTAssertEqual(optimizer.steps, 3)
    }

    func testAdamWMinimisesAQuadratic() {
        let target: [Float] = [1, -2, 3, 0.5]
        let parameters = FloatBuffer(count: 4)
        let masks = FloatBuffer([Float](repeating: 1, count: 4))
        let optimizer = AdamW(count: 4, settings: AdamW.Settings(weightDecay: 0))
        for _ in 0..<2000 {
            let gradient = (0..<4).map { 2 * (parameters.pointer[$0] - target[$0]) }
            optimizer.step(parameters: parameters, gradients: FloatBuffer(gradient), masks: masks, rate: 0.01)
        }
        for i in 0..<4 { XCTAssertEqual(parameters.pointer[i], target[i], accuracy: 1e-3) }
    }

    func testClippingScalesToTheMaximumNormAndReportsTheOriginal() {
        let gradients = FloatBuffer([3, 4])
        XCTAssertEqual(clipGradientNorm(gradients, maxNorm: 1), 5, accuracy: 1e-12)
        XCTAssertEqual(Double(gradients.pointer[0]), 3 / (5 + 1e-6), accuracy: 1e-6)
        XCTAssertEqual(Double(gradients.pointer[1]), 4 / (5 + 1e-6), accuracy: 1e-6)
        let small = FloatBuffer([0.3, 0.4])
        XCTAssertEqual(clipGradientNorm(small, maxNorm: 1), 0.5, accuracy: 1e-7)
        XCTAssertEqual(small.array(), [0.3, 0.4])
    }
}
