import Llama

/// Sparse LoRA ("SALOR"): LoRA whose `A` and `B` are magnitude-pruned by `adapter.sparsity`
/// (`AdapterSet+Sparsity`); pruned entries are zero and their gradients masked.
struct SparseLoRAKind: AdapterKind {
    var name: String { "sparse-lora" }
    var summary: String { "sparse LoRA: LoRA with magnitude-pruned A and B" }

    var takesDropout: Bool { true }
    var isMasked: Bool { true }
    var takesRecovery: Bool { false }

    func tensorShapes(rank: Int, inFeatures: Int, outFeatures: Int, attributes: [String: [Int]]) -> [(name: String, shape: [Int])] {
        LoRA.shapes(rank: rank, inFeatures: inFeatures, outFeatures: outFeatures)
    }

    func makeAdapter(entry: AdapterEntry, spec: AdapterSpec) -> Adapter {
        LoRAAdapter(entry: entry, masked: true, dropout: spec.dropout)
    }

    /// A dense LoRA whose pruned entries are the zeros they are.
    func peftModule(_ adapter: StoredAdapter) throws -> PEFTModule {
        try LoRA.peftModule(adapter, method: "sparse LoRA of rank \(adapter.rank), exported as a dense LoRA (pruned entries are zeros)")
    }
}

extension AdapterSpec.Kind {
    public static let sparseLora = Self(SparseLoRAKind())
}
