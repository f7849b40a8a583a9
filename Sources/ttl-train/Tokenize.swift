import ArgumentParser
import Foundation
import SpecFiles
import Tokenizer

/// `ttl-train tokenize --tokenizer T FILE`: the ids of a text file, or with `--decode` the text of
/// an id file; `--lines` treats every line as one JSON string and prints one line of ids each.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize a UTF-8 text file into token ids (or decode ids into text) with a tokenizer.json.")

    @Argument(help: ArgumentHelp("The text file (or, with --decode, the id file).", valueName: "file"))
    var file: String

    @Option(help: ArgumentHelp("The tokenizer (Hugging Face tokenizer.json, byte-level BPE).", valueName: "path"))
    var tokenizer: String

    @Flag(help: "Decode whitespace-separated ids into text (special tokens kept).")
    var decode = false

    @Flag(help: "Each line of the file is a JSON string; print one line of ids per line.")
    var lines = false

    func run() throws {
        let tokenizer = try Tokenizer(path: self.tokenizer)
        if decode {
            let ids = try TokenFile.read(file, vocabulary: tokenizer.vocabularySize)
            print(tokenizer.decode(ids, keepingSpecial: true), terminator: "")
            return
        }
        let content: String
        switch TextFile.read(file, limit: TokenFile.maxBytes) {
        case .success(let read): content = read
        case .failure(let error): throw CommandError("\(file): \(error.problem)")
        }
        guard lines else {
            print(tokenizer.encode(content).map(String.init).joined(separator: " "))
            return
        }
        var output = ""
        for (index, line) in content.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            guard let text = try? JSONSerialization.jsonObject(with: Data(line.utf8), options: .fragmentsAllowed) as? String else {
                throw CommandError("\(file): line \(index + 1) is not a JSON string")
            }
            output += tokenizer.encode(text).map(String.init).joined(separator: " ") + "\n"
        }
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}
