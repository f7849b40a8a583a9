import Adapters
import ArgumentParser
import Foundation
import HDF5
import Kernels
import Llama
import SpecFiles
import Training

/// `ttl-train perplexity`: next-token perplexity of a token file under the base model, or under
/// the base model with a checkpoint's adapters.
struct Perplexity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Next-token perplexity of a file of token ids (or of text), in non-overlapping windows.")

    @OptionGroup var model: ModelOptions

    @OptionGroup var input: TokenInput

    @Option(name: .long, help: "Window length in tokens; each window is evaluated on its own. (default: 2048, or the model's context if shorter)")
    var ctx: Int?

    @OptionGroup var threads: ThreadOptions

    @Option(help: ArgumentHelp("Apply this checkpoint's adapters (trained on this model).", valueName: "checkpoint.h5"))
    var checkpoint: String?

    @Option(name: .customLong("logits-out"), help: ArgumentHelp("Also write the last window's logits (tokens × vocab, float32) and ids to this HDF5 file.", valueName: "path"))
    var logitsOut: String?

    func validate() throws {
        guard (ctx ?? 2) >= 2 else { throw ValidationError("--ctx must be at least 2 (one token predicts the next)") }
    }

    func run() throws {
        let file = try model.open()
        if let ctx, ctx > file.config.contextLength {
            throw CommandError("--ctx \(ctx) exceeds the model's context of \(file.config.contextLength) tokens")
        }
        let ctx = ctx ?? min(2048, file.config.contextLength)
        let tokens = try input.tokens(model: file)
        threads.apply()
        let window = min(ctx, tokens.count)
        let inference = InferenceModel(weights: try LlamaWeights(file: file), fingerprint: file.fingerprint, maxTokens: window, maxSequenceLength: window)
        if let checkpoint { try inference.load(checkpoint: checkpoint) }
        let llama = inference.model
        let (total, count) = try llama.windowedLoss(of: tokens, window: window)
        let lastBatch = llama.batch!
        let lastLogits = llama.logits(row: lastBatch.count - 1)
        if let logitsOut {
            try HDF5File.writeAtomically(to: logitsOut) { output in
                try output.root.write("logits", llama.logits(rows: 0..<lastBatch.count), shape: [lastBatch.count, file.config.vocabSize])
                try output.root.write("ids", lastBatch.tokens)
            }
        }
        guard count > 0 else { throw CommandError("\(input.source): a window needs at least 2 tokens to predict one") }
        let top5 = lastLogits.indices.sorted { lastLogits[$0] > lastLogits[$1] }.prefix(5)
        print("tokens=\(tokens.count)")
        print("perplexity=\(String(format: "%.6f", Foundation.exp(total / Double(count))))")
        print("top5=" + top5.map(String.init).joined(separator: ","))
    }
}

/// Reads whitespace-separated token ids, refusing what the model cannot take.
enum TokenFile {
    /// 256 MiB of text: tens of millions of ids, more than one evaluation needs.
    static let maxBytes = 1 << 28

    static func read(_ path: String, vocabulary: Int) throws -> [Int32] {
        let text: String
        switch TextFile.read(path, limit: maxBytes) {
        case .success(let read): text = read
        case .failure(let error): throw CommandError("\(path): \(error.problem)")
        }
        var tokens: [Int32] = []
        for (index, word) in text.split(whereSeparator: \.isWhitespace).enumerated() {
            guard let id = Int32(word) else { throw CommandError("\(path): token \(index) ('\(word.prefix(20))') is not an integer id") }
            guard id >= 0 && Int(id) < vocabulary else {
                throw CommandError("\(path): token \(index) has id \(id), outside the model's vocabulary 0..<\(vocabulary)")
            }
            tokens.append(id)
        }
        guard !tokens.isEmpty else { throw CommandError("\(path): no token ids in the file") }
        return tokens
    }
}

/// A failure of a command's input, printed as one line.
struct CommandError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
