import Llama

extension LlamaConfig {
    /// SmolLM2-135M-Instruct's shape, for counting parameters without the model file.
    public static let smolLM2 = LlamaConfig(
        vocabSize: 49152, hiddenSize: 576, intermediateSize: 1536, layerCount: 30, attentionHeads: 9,
        keyValueHeads: 3, headDim: 64, contextLength: 8192, ropeTheta: 100_000, rmsNormEpsilon: 1e-5,
        tiedEmbeddings: true)
}
