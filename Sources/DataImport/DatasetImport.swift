import Foundation
import HDF5
import Llama

/// `ttl-train data import`: JSON Lines in, today's dataset file (task `lm`, the supervised
/// tokens in `loss_mask`) out, so every command that reads data reads it.
///
/// PATH is a `.jsonl` file, split by seeded fractions, or a directory with mlx-lm's names:
/// `train.jsonl`, `valid.jsonl` (or `validation.jsonl`) and optionally `test.jsonl`.
public struct DatasetImport {
    public struct Options: Sendable {
        /// The shape of every file, or nil to detect each file's from its first object.
        public var format: ExampleFormat?
        /// Percent of a single file for train, validation and test.
        public var fractions: [Int]
        public var seed: UInt64

        public init(format: ExampleFormat?, fractions: [Int], seed: UInt64) {
            self.format = format
            self.fractions = fractions
            self.seed = seed
        }
    }

    /// One split as the file stores it, and what the closing lines report.
    public struct Split {
        public let name: String
        public var tokens: [Int32] = []
        public var offsets: [Int64] = [0]
        public var mask: [UInt8] = []
        public var truncatedExamples = 0
        public var examples: Int { offsets.count - 1 }
    }

    public let splits: [Split]
    /// The shape of each source file.
    public let formats: [String: ExampleFormat]
    /// `name sha256:…` of each source file.
    public let sources: [String]

    /// The files of PATH and the split each goes to; one file goes to all three.
    public static func files(of path: String) throws -> [(split: String?, path: String)] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataImportError(file: path, problem: "no such file or directory")
        }
        guard isDirectory.boolValue else { return [(nil, path)] }
        let at = { (name: String) in (path as NSString).appendingPathComponent(name) }
        guard FileManager.default.fileExists(atPath: at("train.jsonl")) else {
            throw DataImportError(
                file: path,
                problem:
                    "has no train.jsonl (a data directory holds train.jsonl, valid.jsonl and optionally test.jsonl)")
        }
        let validation = ["valid.jsonl", "validation.jsonl"].filter { FileManager.default.fileExists(atPath: at($0)) }
        guard validation.count == 1 else {
            throw DataImportError(
                file: path,
                problem: validation.isEmpty
                    ? "has no valid.jsonl (or validation.jsonl): give one, or import train.jsonl alone to split it"
                    : "has both valid.jsonl and validation.jsonl: keep one")
        }
        var files: [(String?, String)] = [("train", at("train.jsonl")), ("validation", at(validation[0]))]
        if FileManager.default.fileExists(atPath: at("test.jsonl")) { files.append(("test", at("test.jsonl"))) }
        return files
    }

    public init(path: String, encoder: ExampleEncoder, options: Options) throws {
        var splits = ["train", "validation", "test"].map { Split(name: $0) }
        var formats: [String: ExampleFormat] = [:]
        var sources: [String] = []
        for (split, file) in try Self.files(of: path) {
            let lines = try JSONLines(path: file)
            sources.append(Self.source(file, fingerprint: lines.fingerprint))
            let format = try options.format ?? Self.detect(lines)
            formats[file] = format
            // Every line first, in order, so the first bad line is the one reported.
            var encoded: [ExampleEncoder.Encoded] = []
            encoded.reserveCapacity(lines.lines.count)
            for line in lines.lines {
                if options.format == nil, let found = ExampleFormat.detect(line.object), found != format {
                    throw DataImportError(
                        file: file, line: line.number,
                        problem:
                            "is a \(found.rawValue) example, but the file's first is \(format.rawValue): one file "
                                + "holds one shape"
                    )
                }
                encoded.append(
                    try encoder.encode(
                        try format.example(line.object, file: file, line: line.number), file: file, line: line.number))
            }
            for (index, target) in try Self.destinations(
                count: encoded.count, split: split, options: options, file: file
            ).enumerated() {
                let example = encoded[index]
                splits[target].tokens += example.tokens
                splits[target].mask += example.mask
                splits[target].offsets.append(Int64(splits[target].tokens.count))
                if example.truncatedTokens > 0 { splits[target].truncatedExamples += 1 }
            }
        }
        self.splits = splits.filter { $0.examples > 0 }
        self.formats = formats
        self.sources = sources
    }

    /// The split (0 train, 1 validation, 2 test) of each example of a file, in the file's order
    /// of examples: all to `split` when the file is one, else a seeded shuffle cut by the
    /// fractions (the split records the seed, so the cut is reproducible).
    private static func destinations(count: Int, split: String?, options: Options, file: String) throws -> [Int] {
        let names = ["train", "validation", "test"]
        if let split { return [Int](repeating: names.firstIndex(of: split)!, count: count) }
        var order = Array(0..<count)
        var generator = SplitMix64(seed: options.seed)
        order.shuffle(using: &generator)
        let train = count * options.fractions[0] / 100, validation = count * options.fractions[1] / 100
        guard train > 0 else {
            throw DataImportError(
                file: file,
                problem:
                    "\(count) examples leave none for training at --split "
                        + "\(options.fractions.map(String.init).joined(separator: "/"))"
            )
        }
        var destination = [Int](repeating: 0, count: count)
        for (rank, index) in order.enumerated() {
            destination[index] = rank < train ? 0 : rank < train + validation ? 1 : 2
        }
        return destination
    }

    /// How `source_files` names a source: `train.jsonl sha256:…`.
    static func source(_ file: String, fingerprint: String) -> String {
        "\((file as NSString).lastPathComponent) \(fingerprint)"
    }

    /// The `source_files` entry of `file` as it is now, from its bytes alone (no parsing): what a
    /// job compares with the dataset it imported before.
    public static func source(of file: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw DataImportError(file: file, problem: "cannot be read")
        }
        return source(file, fingerprint: SHA256.fingerprint(of: data))
    }

    /// The shape of a file's first object.
    private static func detect(_ lines: JSONLines) throws -> ExampleFormat {
        let first = lines.lines[0]
        guard let format = ExampleFormat.detect(first.object) else {
            throw DataImportError(
                file: lines.path, line: first.number,
                problem: "has none of the keys of a known shape (keys: \(first.object.keys.joined(separator: ", ")); "
                    + "expected messages, prompt + completion, text, or instruction + output)")
        }
        return format
    }

    /// What the dataset file records about where it came from.
    public struct Provenance {
        public var tokenizerFingerprint: String
        public var templateSource: String?
        public var trainOn: TrainOn
        public var maxLength: Int
        public var seed: UInt64
        public var path: String

        public init(
            tokenizerFingerprint: String, templateSource: String?, trainOn: TrainOn, maxLength: Int, seed: UInt64,
            path: String
        ) {
            self.tokenizerFingerprint = tokenizerFingerprint
            self.templateSource = templateSource
            self.trainOn = trainOn
            self.maxLength = maxLength
            self.seed = seed
            self.path = path
        }
    }

    /// Writes the dataset file: complete at `path` or not there at all.
    public func write(to path: String, provenance: Provenance) throws {
        try HDF5File.writeAtomically(to: path) { file in
            let root = file.root.attributes
            try root.set("format", "ttl-train-dataset")
            try root.set("format_version", Int64(1))
            try root.set("task", "lm")
            try root.set("tokenizer_fingerprint", provenance.tokenizerFingerprint)
            try root.set("source", "\(provenance.path) (ttl-train data import)")
            try root.set("source_files", sources)
            try root.set("data_format", Set(formats.values.map(\.rawValue)).sorted().joined(separator: ","))
            try root.set("train_on", provenance.trainOn.rawValue)
            try root.set("max_length", Int64(provenance.maxLength))
            try root.set("split_seed", Int64(bitPattern: provenance.seed))
            if let template = provenance.templateSource {
                try root.set("template_sha256", SHA256.fingerprint(of: template.utf8))
            }
            try Writer.record(on: root)
            for split in splits {
                try file.root.write("\(split.name)/tokens", split.tokens, options: .checksummed)
                try file.root.write("\(split.name)/offsets", split.offsets, options: .checksummed)
                try file.root.write("\(split.name)/loss_mask", split.mask, options: .checksummed)
                try file.root.openGroup(split.name).attributes.set("truncated_examples", Int64(split.truncatedExamples))
            }
        }
    }
}
