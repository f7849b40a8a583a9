import ArgumentParser
import Llama

/// `--model`: the base model file, shared by the commands that read one.
struct ModelOptions: ParsableArguments {
    @Option(name: .customLong("model"), help: ArgumentHelp("The base model (ttl-train's HDF5 format; scripts/import_gguf.py or scripts/import_hf.py make one).", valueName: "path"))
    var path: String

    /// The model file, opened and checked.
    func open() throws -> ModelFile {
        try ModelFile(path: path)
    }
}
