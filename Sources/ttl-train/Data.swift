import ArgumentParser
import ChatTemplates
import DataImport
import Foundation
import HDF5
import Llama
import SpecFiles
import Tokenizer
import Training

/// `ttl-train data import|inspect`: a user's JSON Lines data in, and a look at what came out.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Import JSON Lines data (chat, completions, text, alpaca) into a dataset file, or inspect one.",
        subcommands: [DataImportCommand.self, DataInspect.self])
}

extension ExampleFormat: ExpressibleByArgument {}
extension TrainOn: ExpressibleByArgument {}

/// What one import needs beyond PATH: how to read the data and what to supervise.
struct ImportSettings: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The shape of the data (default: each file's, from its first object's keys).",
            valueName: "auto|chat|completions|text|alpaca"))
    var format: String = "auto"

    @Option(
        help: ArgumentHelp(
            "A Jinja chat template instead of the tokenizer's (tokenizer_config.json beside it).", valueName: "path"))
    var template: String?

    @Option(
        name: .customLong("train-on"),
        help: "Which tokens the loss is taken on: each assistant turn, every token, or the last assistant turn.")
    var trainOn: TrainOn = .assistant

    @Option(
        name: .customLong("max-length"),
        help: ArgumentHelp("The longest example in tokens (default: the model's context).", valueName: "tokens"))
    var maxLength: Int?

    @Flag(help: "Keep the last --max-length tokens of a longer example instead of refusing it.")
    var truncate = false

    @Flag(help: "Refuse an example longer than --max-length, naming its line (the default).")
    var refuse = false

    @Option(
        help: ArgumentHelp("Percent of a single file for train/validation/test.", valueName: "train/validation/test"))
    var split: String = "80/10/10"

    @Option(help: "Seed of a single file's split.")
    var seed: UInt64 = 1234

    @Option(help: ArgumentHelp("tokenizer.json (default: the one beside the model).", valueName: "path"))
    var tokenizer: String?

    func validate() throws {
        guard !(truncate && refuse) else { throw ValidationError("give one of --truncate and --refuse") }
        guard format == "auto" || ExampleFormat(rawValue: format) != nil else {
            throw ValidationError(
                "--format must be auto, \(ExampleFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard maxLength.map({ (2...(1 << 20)).contains($0) }) ?? true else {
            throw ValidationError("--max-length must be in 2...1048576")
        }
        _ = try fractions()
    }

    func fractions() throws -> [Int] {
        let parts = split.split(separator: "/").map { Int($0) }
        guard parts.count == 3, let values = parts as? [Int], values.allSatisfy({ $0 >= 0 }),
            values.reduce(0, +) == 100, values[0] > 0
        else {
            throw ValidationError(
                "--split must be three percentages that add up to 100, train first and above 0 (e.g. 80/10/10), got "
                    + "'\(split)'"
            )
        }
        return values
    }

    /// Imports PATH for `model` into `out`; returns the closing lines.
    func run(path: String, model modelPath: String, out: String) throws -> [String] {
        let model = try ModelFile(path: modelPath)
        let (tokenizer, tokenizerPath, fingerprint) = try TokenizerFile.open(self.tokenizer, model: model)
        let config = try TokenizerConfig.beside(tokenizer: tokenizerPath)
        let template = try TokenizerFile.chatTemplate(self.template, config: config)
        let length = maxLength ?? model.config.contextLength
        let encoder = ExampleEncoder(
            tokenizer: tokenizer, template: template, endOfSequence: config?.eosToken ?? template?.eosToken,
            trainOn: trainOn, maxLength: length, truncate: truncate)
        let started = Date()
        let imported = try DatasetImport(
            path: path, encoder: encoder,
            options: .init(format: ExampleFormat(rawValue: format), fractions: try fractions(), seed: seed))
        try imported.write(
            to: out,
            provenance: .init(
                tokenizerFingerprint: fingerprint, templateSource: template?.source, trainOn: trainOn,
                maxLength: length, seed: seed, path: path))
        let seconds = Date().timeIntervalSince(started)
        let examples = imported.splits.reduce(0) { $0 + $1.examples }
        var lines = [
            "imported \(path) -> \(out): \(examples) examples in \(String(format: "%.1f", seconds)) s "
                + "(\(Int(Double(examples) / max(seconds, 1e-9))) examples/s); format "
                + "\(Set(imported.formats.values.map(\.rawValue)).sorted().joined(separator: ",")), "
                + "train on \(trainOn.rawValue), max length \(length)"
                + (template.map { "; template \($0.origin)" } ?? "")
        ]
        for split in imported.splits {
            lines.append(
                SplitSummary(
                    name: split.name, offsets: split.offsets.map { Int($0) }, mask: split.mask,
                    truncated: split.truncatedExamples
                ).line)
        }
        if let train = imported.splits.first {
            let end = Int(train.offsets[1])
            lines.append("first training example, supervised tokens between ⟦ ⟧:")
            lines.append(
                SplitSummary.marked(
                    tokens: Array(train.tokens[..<end]), mask: Array(train.mask[..<end]), tokenizer: tokenizer))
        }
        return lines
    }
}

struct DataImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import a .jsonl file, or a directory of train/valid/test.jsonl, into a dataset file (task lm).",
        discussion: """
            Shapes: chat {"messages": [{"role", "content"}, …]} (the assistant's turns supervised), \
            completions {"prompt", "completion"} (the completion and the end-of-sequence token), \
            text {"text"} (every token), alpaca {"instruction", "input", "output"} (a user turn and an \
            assistant turn). Conversations are rendered with the model's chat template; which tokens \
            are the assistant's comes from rendering the conversation's beginnings. A bad line is one \
            error naming the file, line and key; nothing is written then.
            """)

    @Argument(
        help: ArgumentHelp(
            "A .jsonl file or a directory holding train.jsonl, valid.jsonl and optionally test.jsonl.",
            valueName: "path"))
    var path: String

    @OptionGroup var model: ModelOptions
    @OptionGroup var output: OutputFileOptions
    @OptionGroup var settings: ImportSettings

    func run() throws {
        for line in try settings.run(path: path, model: model.path, out: output.out) { print(line) }
    }
}

struct DataInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract:
            "Summarise a dataset file: examples, tokens and supervised tokens per split, lengths, an example with its "
                + "supervised part marked."
    )

    @Argument(help: ArgumentHelp("The dataset file.", valueName: "data.h5"))
    var file: String

    @Option(help: ArgumentHelp("tokenizer.json to show the example with.", valueName: "path"))
    var tokenizer: String?

    @Option(help: "Which example of the first split to show.")
    var example = 0

    func run() throws {
        let dataset = try TokenDataset(path: file, vocabulary: Int(Int32.max))
        print("\(file): task \(dataset.task), tokenizer \(dataset.tokenizerFingerprint)")
        let order = ["train", "validation", "test"]
        let names = dataset.splits.keys.sorted {
            (order.firstIndex(of: $0) ?? 99, $0) < (order.firstIndex(of: $1) ?? 99, $1)
        }
        let raw = try HDF5File.open(file)
        for name in names {
            let split = dataset.splits[name]!
            let attributes = try raw.root.openGroup(name).attributes
            // Written by `data import`; range-checked like every number read from a file.
            var truncated = 0
            if attributes.contains("truncated_examples") {
                let value = try attributes.value("truncated_examples", as: Int64.self)
                guard (0...Int64(split.count)).contains(value) else {
                    throw CommandError("\(file): /\(name): truncated_examples \(value) is not in 0...\(split.count)")
                }
                truncated = Int(value)
            }
            print(SplitSummary(name: name, offsets: split.offsets, mask: split.lossMask, truncated: truncated).line)
        }
        guard let tokenizer, let first = names.first, let split = dataset.splits[first] else { return }
        guard (0..<split.count).contains(example) else {
            throw ValidationError("--example must be in 0..<\(split.count)")
        }
        let range = split.offsets[example]..<split.offsets[example + 1]
        print("\(first) example \(example), supervised tokens between ⟦ ⟧:")
        print(
            SplitSummary.marked(
                tokens: Array(split.tokens[range]), mask: Array(split.lossMask[range]),
                tokenizer: try Tokenizer(path: tokenizer)))
    }
}

/// A job whose `data.path` is JSON Lines: `OUTPUT/data.h5`, imported once (with the model's
/// template, the assistant's turns supervised, `batch.max_length` as the longest example) and
/// reused on every later start — refused if the JSON Lines changed since.
enum JobData {
    /// Imports or checks the job's data; returns what to tell the user. Errors name the spec
    /// `file` and `data.path`; a failed import leaves no output directory behind.
    static func prepare(_ spec: JobSpec, file: String) throws -> [String] {
        guard spec.isJSONLinesData else { return [] }
        do {
            return try importOrCheck(spec)
        } catch let error as SpecError {
            throw error
        } catch {
            throw SpecError(file: file, keyPath: "data.path", problem: "\(error)")
        }
    }

    private static func importOrCheck(_ spec: JobSpec) throws -> [String] {
        let out = spec.datasetFile
        let files = try DatasetImport.files(of: spec.dataPath).map(\.path)
        if FileManager.default.fileExists(atPath: out) {
            let recorded = try HDF5File.open(out).root.attributes
            let sources = recorded.contains("source_files") ? try recorded.strings("source_files") : []
            let current = try files.map(DatasetImport.source(of:))
            guard sources == current else {
                throw CommandError(
                    "\(spec.dataPath): changed since \(out) was imported from it (\(sources.joined(separator: ", ")) "
                        + "then, "
                        + "\(current.joined(separator: ", ")) now); remove \(out) to import it again, or train into "
                        + "another output"
                )
            }
            return ["data \(spec.dataPath): JSON Lines imported before into \(out) (sources unchanged)"]
        }
        let created = !FileManager.default.fileExists(atPath: spec.output)
        try FileManager.default.createDirectory(atPath: spec.output, withIntermediateDirectories: true)
        do {
            let settings = try ImportSettings.parse(["--max-length", "\(spec.batch.maxLength)"])
            return try settings.run(path: spec.dataPath, model: spec.model, out: out).prefix(1 + 3).map { "data " + $0 }
        } catch {
            if created { try? FileManager.default.removeItem(atPath: spec.output) }
            throw error
        }
    }
}
