extension LlamaConfig {
    /// Matrix-multiply FLOPs per token that the implementation performs, for MFU.
    ///
    /// Forward: `2·params` of every linear layer, the vocabulary projection at every supervised
    /// position (all positions in `ttl-train bench`), and attention's `Q·Kᵀ` and `P·V` over the
    /// full `L × L` square it computes (causal masking does not skip work). Training adds the
    /// activation backward only: `dX = dY·W` for each linear and the projection (same FLOPs as
    /// forward), and four attention products (`dP`, `dV`, `dQ`, `dK`). No weight gradients: the
    /// base is frozen. Elementwise work (norms, RoPE, softmax, SiLU) is not counted.
    /// `linearMultiplyAdds` is the per-token multiply-adds of all linear layers when some are
    /// factored (`LlamaWeights.linearMultiplyAddsPerToken`); by default, the dense model's.
    public func matmulFLOPsPerToken(sequenceLength: Int, training: Bool, linearMultiplyAdds: Int? = nil) -> Double {
        let queryWidth = attentionHeads * headDim
        let kvWidth = keyValueHeads * headDim
        let dense = hiddenSize * queryWidth * 2 + hiddenSize * kvWidth * 2 + hiddenSize * intermediateSize * 3
        let linear = Double(linearMultiplyAdds ?? layerCount * dense) / Double(layerCount)
        let head = Double(hiddenSize * vocabSize)
        let attention = Double(sequenceLength * queryWidth)  // one L×L×d product per head, per token
        let forward = 2 * (Double(layerCount) * linear + head) + 2 * 2 * Double(layerCount) * attention
        guard training else { return forward }
        return forward + 2 * (Double(layerCount) * linear + head) + 4 * 2 * Double(layerCount) * attention
    }
}
