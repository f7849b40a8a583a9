import ArgumentParser
import Foundation
import Kernels
import Llama

/// `ttl-train quantize --model M.h5 --to q4_0 --out Q.h5`: a model whose matrices are stored in a
/// GGUF block format, which every command runs with the weights dequantized right before each
/// product (so ~5× less memory for the base, and the same compute path).
struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store a model's matrices in a 4- or 8-bit block format (GGUF's q8_0, q4_0, q4_1).",
        discussion: """
            Every matrix whose rows are whole blocks of 32 values (the linear layers, the embedding, \
            an untied lm_head) takes --to unless a --keep rule names another format for it; norm \
            weights and Tucker factors stay float32. Quantization is llama.cpp's reference \
            algorithm; a matrix already stored in its target format is copied block for block. \
            Prints each matrix's relative error ‖W − Ŵ‖/‖W‖ and its bytes before and after.
            """)

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: ArgumentHelp("The block format: q8_0 (8.5 bits a value), q4_0 (4.5) or q4_1 (5).", valueName: "format"))
    var to: QuantizationFormat

    @Option(name: .long, parsing: .singleValue,
            help: ArgumentHelp("A matrix in another format, e.g. embed_tokens=q8_0, lm_head=f32 or model.layers.0.mlp.down_proj=q8_0; repeatable, the last match wins.", valueName: "name=format"))
    var keep: [String] = []

    @OptionGroup var output: OutputFileOptions

    func run() throws {
        let file = try model.open()
        let rules = try keep.map(ModelQuantizer.Rule.init(parsing:))
        let report = try ModelQuantizer.quantize(model: file, to: to, rules: rules, path: output.out) { weight in
            print("\(weight.name)  \(weight.format?.rawValue ?? "f32")  bytes \(weight.bytesBefore) -> \(weight.bytesAfter)  relative_error \(String(format: "%.5f", weight.relativeError))")
        }
        let quantized = try ModelFile(path: output.out)
        let worst = report.max { $0.relativeError < $1.relativeError }
        print("weight_storage=\(quantized.storageDescription)")
        print("weight_bytes_before=\(file.residentWeightBytes)")
        print("weight_bytes_after=\(quantized.residentWeightBytes)")
        if let worst { print("max_relative_error=\(String(format: "%.5f", worst.relativeError)) (\(worst.name))") }
        print("file_bytes_before=\(try ModelFile.sizeOnDisk(model.path))")
        print("file_bytes_after=\(try ModelFile.sizeOnDisk(output.out))")
        print("fingerprint=\(quantized.fingerprint)")
        print("out=\(output.out)")
    }
}

extension QuantizationFormat: ExpressibleByArgument {}
