import HDF5
import Llama

/// A tokenized data set in ttl-train's HDF5 format (written by `scripts/prepare_data.py`; the
/// README documents the layout): per split, all examples' tokens concatenated with their start
/// offsets, a loss mask marking the supervised target tokens, and class labels.
public struct TokenDataset: Sendable {
    public static let fileFormat = FileFormat(name: "ttl-train-dataset", version: 1)

    /// One split (`train`, `validation`, `test`), fully in memory (a few MB even for 10k examples).
    public struct Split: Sendable {
        public let name: String
        public let tokens: [Int32]
        /// Start of each example in `tokens`, plus the end.
        public let offsets: [Int]
        public let lossMask: [UInt8]
        public let labels: [Int32]

        public var count: Int { offsets.count - 1 }

        public func tokens(of example: Int) -> [Int32] {
            Array(tokens[offsets[example]..<offsets[example + 1]])
        }

        /// Positions (within the example) whose token is supervised; the logits one position
        /// earlier predict it.
        public func supervisedPositions(of example: Int) -> [Int] {
            (offsets[example]..<offsets[example + 1]).filter { lossMask[$0] != 0 }.map { $0 - offsets[example] }
        }

        /// Longest example, in tokens.
        public var longestExample: Int {
            (0..<count).map { offsets[$0 + 1] - offsets[$0] }.max() ?? 0
        }
    }

    public let path: String
    public let task: String
    public let labelNames: [String]
    /// The answer token of each label: accuracy is the argmax over these logits only.
    public let labelTokenIDs: [Int32]
    public let tokenizerFingerprint: String
    public let splits: [String: Split]

    /// Opens `path` and checks every split against a vocabulary of `vocabulary` tokens.
    public init(path: String, vocabulary: Int) throws {
        let file = try HDF5File.open(path)
        let attributes = file.root.attributes
        do {
            _ = try Self.fileFormat.check(attributes)
        } catch FileFormat.Mismatch.otherFormat(let found) {
            throw DatasetError(file: path, object: "/", problem: "not a ttl-train dataset (format '\(found)'; make one with scripts/prepare_data.py)")
        } catch FileFormat.Mismatch.unreadableVersion(let found) {
            throw DatasetError(file: path, object: "/", problem: "dataset format version \(found) is not supported (this ttl-train reads \(Self.fileFormat.readableVersions))")
        }
        self.path = path
        task = try attributes.string("task")
        labelNames = attributes.contains("label_names") ? try attributes.strings("label_names") : []
        let labelTokens = attributes.contains("label_token_ids") ? try attributes.array("label_token_ids", as: Int64.self) : []
        if let bad = labelTokens.first(where: { $0 < 0 || $0 >= Int64(vocabulary) }) {
            throw DatasetError(file: path, object: "/", problem: "label token id \(bad) is outside the vocabulary 0..<\(vocabulary)")
        }
        labelTokenIDs = labelTokens.map { Int32($0) }
        tokenizerFingerprint = try attributes.string("tokenizer_fingerprint")
        guard labelNames.count == labelTokenIDs.count else {
            throw DatasetError(file: path, object: "/", problem: "\(labelNames.count) label names but \(labelTokenIDs.count) label token ids")
        }
        var splits: [String: Split] = [:]
        for name in try file.root.childNames() where file.root.isGroup(name) {
            splits[name] = try Self.readSplit(name, from: file.root.openGroup(name), path: path, vocabulary: vocabulary, labels: labelNames.count)
        }
        self.splits = splits
    }

    /// The split `name`, or an error listing the ones there are.
    public func split(_ name: String) throws -> Split {
        guard let split = splits[name] else {
            throw DatasetError(file: path, object: "/\(name)", problem: "no such split (the file has \(splits.keys.sorted().joined(separator: ", ")))")
        }
        return split
    }

    private static func readSplit(_ name: String, from group: HDF5Group, path: String, vocabulary: Int, labels labelCount: Int) throws -> Split {
        func fail(_ object: String, _ problem: String) -> DatasetError {
            DatasetError(file: path, object: "/\(name)/\(object)", problem: problem)
        }
        func column<T: HDF5Scalar>(_ object: String, as type: T.Type) throws -> [T] {
            let dataset = try group.openDataset(object)
            let shape = try dataset.shape()
            guard shape.count == 1 else { throw fail(object, "has shape \(shape); it must be one-dimensional") }
            return try dataset.read(as: T.self)
        }
        let tokens = try column("tokens", as: Int32.self)
        let offsets = try column("offsets", as: Int64.self).map { Int($0) }
        let lossMask = try column("loss_mask", as: UInt8.self)
        let labels = group.contains("labels") ? try column("labels", as: Int32.self) : []
        guard offsets.first == 0, offsets.last == tokens.count, zip(offsets, offsets.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw fail("offsets", "must rise strictly from 0 to the token count \(tokens.count)")
        }
        guard lossMask.count == tokens.count else { throw fail("loss_mask", "has \(lossMask.count) entries for \(tokens.count) tokens") }
        if let bad = tokens.firstIndex(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw fail("tokens", "token \(bad) has id \(tokens[bad]), outside the vocabulary 0..<\(vocabulary)")
        }
        let count = offsets.count - 1
        if labelCount > 0 {
            guard labels.count == count else { throw fail("labels", "has \(labels.count) labels for \(count) examples") }
            if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= labelCount }) {
                throw fail("labels", "label \(labels[bad]) of example \(bad) is not one of the \(labelCount) classes")
            }
        }
        for example in 0..<count where offsets[example] < offsets[example + 1] && lossMask[offsets[example]] != 0 {
            throw fail("loss_mask", "example \(example) supervises its first token, which nothing predicts")
        }
        return Split(name: name, tokens: tokens, offsets: offsets, lossMask: lossMask, labels: labels)
    }
}

/// A data set that cannot be used, naming the file and object.
public struct DatasetError: Error, Equatable, CustomStringConvertible, Sendable {
    public let file: String
    public let object: String
    public let problem: String

    public var description: String {
        object == "/" ? "\(file): \(problem)" : "\(file):\(object): \(problem)"
    }
}
