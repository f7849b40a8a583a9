import Adapters
import Llama
import TestSupport
import XCTest

/// Checks `set`'s parameter gradients through the whole model against a directional finite
/// difference (see `FiniteDifferences.direction` for why a direction, and LlamaGradientTests for
/// the step): perturbing only unmasked parameters (and, given `tensors`, only those tensors), with
/// h = 1e-4, to 1e-3 relative.
func assertParameterGradientsMatchFiniteDifferences(
    _ set: AdapterSet, model: LlamaModel, batch: TokenBatch, label: String, tensors: Set<String>? = nil,
    file: StaticString = #filePath, line: UInt = #line
) throws {
    model.linearHook = set
    let targets = batch.nextTokenTargets
    set.zeroGradients()
    try model.forward(batch)
    _ = try model.crossEntropy(targets, gradientScale: 1)
    model.backward()
    let gradient = set.gradients.array()
    let original = set.parameters.array()
    var mask = set.masks.array()
    if let tensors {
        for entry in set.layout.entries {
            for tensor in entry.tensors where !tensors.contains(tensor.name) {
                for index in tensor.range { mask[index] = 0 }
            }
        }
    }
    let direction = FiniteDifferences.direction(along: gradient, seed: 5, mask: mask)
    let step: Float = 1e-4
    let (numeric, analytic) = try FiniteDifferences.directionalDerivative(gradient: gradient, direction: direction, step: step) { sign in
        set.parameters.copy(from: zip(original, direction).map { $0 + sign * step * $1 })
        try model.forward(batch)
        return try model.crossEntropy(targets)
    }
    set.parameters.copy(from: original)
    XCTAssertEqual(numeric, analytic, accuracy: 1e-3 * abs(analytic), label, file: file, line: line)
}
