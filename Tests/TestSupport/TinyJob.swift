import Foundation
import HDF5
import Llama

/// Creates a classification dataset file with the prepare_data.py root attributes; the caller
/// writes the splits and closes it.
public func createClassificationDataset(
    at path: String, labelNames: [String], labelTokenIDs: [Int64], tokenizerFingerprint: String
) throws -> HDF5File {
    let file = try HDF5File.create(path)
    try file.root.attributes.set("format", "ttl-train-dataset")
    try file.root.attributes.set("format_version", Int64(1))
    try file.root.attributes.set("task", "classification")
    try file.root.attributes.set("label_names", labelNames)
    try file.root.attributes.set("label_token_ids", labelTokenIDs)
    try file.root.attributes.set("tokenizer_fingerprint", tokenizerFingerprint)
    return file
}

/// A training job small enough to run in a test: a tiny random llama (`tiny.h5`) and a learnable
/// two-class data set (`data.h5`) in `directory`, and job specs over them.
public struct TinyJob {
    public let directory: TemporaryDirectory
    public var modelPath: String { directory.path("tiny.h5") }
    public var dataPath: String { directory.path("data.h5") }

    public init(directory: TemporaryDirectory) throws {
        self.directory = directory
        try ModelWriter.writeRandom(to: modelPath, config: .tiny, seed: 5, scale: 0.15)
        try Self.writeDataset(dataPath)
    }

    /// The job spec text; `extra` is appended inside the adapter table.
    public func yaml(kind: String = "lora", steps: Int = 4, output: String, extra: String = "", learningRate: String = "5.0e-2",
                     checkpointEvery: Int = 2) -> String {
        """
        name: tiny
        model: \(modelPath)
        data: {path: \(dataPath)}
        task: classification
        adapter: {kind: \(kind), rank: 4, targets: [q_proj, v_proj, down_proj]\(extra)}
        optimizer: {lr: \(learningRate), weight_decay: 0.01, max_grad_norm: 1.0}
        schedule: {kind: cosine, warmup_steps: 1, total_steps: \(steps)}
        batch: {global: 12, micro: 1, max_length: 16}
        seed: 3
        eval: {every: 100, examples: 8}
        checkpoint: {every: \(checkpointEvery), keep: 5}
        output: \(output)

        """
    }

    /// Writes `yaml(...)` to `name` in the directory and returns its path.
    public func writeSpec(kind: String = "lora", steps: Int = 4, output: String, extra: String = "", name: String = "job.yaml") throws -> String {
        let path = directory.path(name)
        try yaml(kind: kind, steps: steps, output: output, extra: extra).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// 40 training and 8 validation examples of 5–12 tokens; the label is the parity of the
    /// second token and the answer token is 10 + label — learnable, so the loss must fall.
    private static func writeDataset(_ path: String) throws {
        var generator = SplitMix64(seed: 11)
        let file = try createClassificationDataset(at: path, labelNames: ["even", "odd"], labelTokenIDs: [10, 11],
                                                   tokenizerFingerprint: "sha256:synthetic")
        for (split, count) in [("train", 40), ("validation", 8)] {
            var tokens: [Int32] = []
            var offsets: [Int64] = [0]
            var mask: [UInt8] = []
            var labels: [Int32] = []
            for _ in 0..<count {
                let length = 5 + Int(generator.next() % 8)
                let body = (0..<(length - 1)).map { _ in Int32(20 + generator.next() % 200) }
                let label = body[1] % 2
                tokens += body + [10 + label]
                mask += [UInt8](repeating: 0, count: length - 1) + [1]
                labels.append(label)
                offsets.append(Int64(tokens.count))
            }
            try file.root.write("\(split)/tokens", tokens)
            try file.root.write("\(split)/offsets", offsets)
            try file.root.write("\(split)/loss_mask", mask)
            try file.root.write("\(split)/labels", labels)
        }
        try file.close()
    }
}
