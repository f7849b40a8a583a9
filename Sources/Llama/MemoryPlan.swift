import Kernels

/// The memory a model will take, from its file alone — for `validate` to say before a launch
/// what a rank and a node need. Weights as `LlamaWeights` stores them (factored weights counted
/// as their stored factors, a close estimate of their folded stages); buffers as `LlamaModel`
/// allocates them for a capacity.
public struct MemoryPlan: Sendable, Equatable {
    /// Bytes of the frozen weights (one copy per node when the ranks share it).
    public let weightBytes: Int
    /// Bytes of activations, gradients and output-head buffers with every layer's activations kept.
    public let storedActivationBytes: Int
    /// The same with `memory: {recompute: true}`.
    public let recomputedActivationBytes: Int
    /// Bytes of the scratch a quantized matrix is dequantized into.
    public let dequantizationBytes: Int

    public init(file: ModelFile, maxTokens: Int, maxSequenceLength: Int) {
        let config = file.config
        var weights = 0, widestTile = 0
        for (name, shape) in config.weightShapes {
            switch file.storage[name]! {
            case .dense: weights += shape.reduce(1, *) * MemoryLayout<Float>.size
            case .tucker(let tensorShape, _, let ranks):
                weights += (ranks.reduce(1, *) + zip(tensorShape, ranks).reduce(0) { $0 + $1.0 * $1.1 }) * MemoryLayout<Float>.size
            case .quantized(let format):
                weights += format.byteCount(values: shape.reduce(1, *))
                let matrix = QuantizedMatrix(format: format, offset: 0, rows: shape[0], columns: shape[1])
                widestTile = max(widestTile, LlamaWeights.tileRows(of: matrix) * shape[1])
            }
        }
        weightBytes = weights
        dequantizationBytes = widestTile * MemoryLayout<Float>.size
        let head = OutputHeadBuffers.floatCount(config: config) * MemoryLayout<Float>.size
        func activations(_ retention: LlamaActivations.Retention) -> Int {
            LlamaActivations.floatCount(config: config, maxTokens: maxTokens, maxSequenceLength: maxSequenceLength,
                                        retention: retention) * MemoryLayout<Float>.size + head
        }
        storedActivationBytes = activations(.everyLayer)
        recomputedActivationBytes = activations(.layerInputs)
    }
}
