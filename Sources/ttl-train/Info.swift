import ArgumentParser
import Kernels
import Llama

/// `ttl-train info [--model M.h5]`: what this machine computes with, and what the trainer reads
/// from a model file.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the CPU's features and the BLAS kernel in use, and a model file's config, parameter count and fingerprint.",
        discussion: """
            blas_core is OpenBLAS's kernel; blas_core_chosen_by says whether OpenBLAS picked it, \
            ttl-train did (OpenBLAS fell back to a generic kernel on a CPU that supports a better one, \
            so ttl-train restarted itself with OPENBLAS_CORETYPE set), or the user set OPENBLAS_CORETYPE.
            """)

    @Option(name: .long, help: ArgumentHelp("The base model in ttl-train's HDF5 format (see scripts/import_gguf.py).", valueName: "path"))
    var model: String?

    @Flag(name: .long, help: "Also recompute the fingerprint from the weights and check it against the stored one.")
    var verify = false

    func validate() throws {
        if verify && model == nil { throw ValidationError("--verify needs --model") }
    }

    func run() throws {
        guard let model else {
            for (key, value) in ComputePlatform.report { print("\(key)=\(value)") }
            return
        }
        let file = try ModelFile(path: model)
        if verify {
            let computed = try file.computeFingerprint()
            guard computed == file.fingerprint else {
                throw ModelFileError.fingerprintMismatch(file: file.path, stored: file.fingerprint, computed: computed)
            }
        }
        let config = file.config
        let rows: [(String, String)] = [
            ("model", file.path),
            ("source", file.source),
            ("architecture", config.family.rawValue),
            ("vocab_size", "\(config.vocabSize)"),
            ("hidden_size", "\(config.hiddenSize)"),
            ("intermediate_size", "\(config.intermediateSize)"),
            ("num_hidden_layers", "\(config.layerCount)"),
            ("num_attention_heads", "\(config.attentionHeads)"),
            ("num_key_value_heads", "\(config.keyValueHeads)"),
            ("head_dim", "\(config.headDim)"),
            ("max_position_embeddings", "\(config.contextLength)"),
            ("rope_theta", "\(config.ropeTheta)"),
            ("rms_norm_eps", "\(config.rmsNormEpsilon)"),
            ("tie_word_embeddings", "\(config.tiedEmbeddings)"),
        ] + config.familySettings + [
            ("parameters", "\(file.storedParameterCount)"),
            ("weight_storage", file.storageDescription),
            ("weight_bytes", "\(file.residentWeightBytes)"),
            ("fingerprint", file.fingerprint),
        ] + (file.compressedFrom.isEmpty ? [] : [
            ("dense_parameters", "\(config.parameterCount)"),
            ("factored_weights", "\(file.factoredWeights.count)"),
            ("compressed_from", file.compressedFrom),
        ])
        for (key, value) in ComputePlatform.report + rows { print("\(key)=\(value)") }
        if verify { print("fingerprint_verified=true") }
    }
}
