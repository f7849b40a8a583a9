import Kernels

/// The memory a model will take, from its file alone — for `validate` to say before a launch
/// what a rank and a node need. Weights as `LlamaWeights` stores them; buffers as `LlamaModel`
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
        weightBytes = file.residentWeightBytes
        let formats = file.quantizedWeights
        let quantized = config.weightShapes.compactMap { name, shape in
            formats[name].map { QuantizedMatrix(format: $0, offset: 0, rows: shape[0], columns: shape[1]) }
        }
        dequantizationBytes = LlamaWeights.dequantizationScratchCount(of: quantized) * MemoryLayout<Float>.size
        let head = OutputHeadBuffers.floatCount(config: config) * MemoryLayout<Float>.size
        func activations(_ retention: LlamaActivations.Retention) -> Int {
            LlamaActivations.floatCount(config: config, maxTokens: maxTokens, maxSequenceLength: maxSequenceLength,
                                        retention: retention) * MemoryLayout<Float>.size + head
        }
        storedActivationBytes = activations(.everyLayer)
        recomputedActivationBytes = activations(.layerInputs)
    }
}
