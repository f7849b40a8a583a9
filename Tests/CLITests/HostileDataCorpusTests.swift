import Foundation
import HDF5
import TestSupport
import XCTest

/// A generated corpus of broken data files: every dataset of a split out of range, missing, of
/// the wrong type or shape, inconsistent with the others; splits without examples or supervised
/// tokens; wrong root attributes; truncated and foreign files. `validate` and `train` must refuse
/// each with one line naming the spec's data key (and the data file where the problem is in it),
/// and training must write nothing.
final class HostileDataCorpusTests: XCTestCase {
    /// One split as arrays, edited by the cases.
    private struct Split {
        var tokens: [Int32] = [20, 21, 10, 30, 31, 32, 11, 40, 41, 10]
        var offsets: [Int64] = [0, 3, 7, 10]
        var mask: [UInt8] = [0, 0, 1, 0, 0, 0, 1, 0, 0, 1]
        var labels: [Int32] = [0, 1, 0]
    }

    private struct Case {
        var label: String
        var train = Split()
        var validation: Split? = Split()
        /// Changes after the file is written (attributes, datasets, bytes).
        var edit: (String) throws -> Void = { _ in }
        /// The key path the error must name.
        var keyPath = "data"
    }

    private func write(_ hostile: Case, to path: String) throws {
        let file = try createClassificationDataset(at: path, labelNames: ["even", "odd"], labelTokenIDs: [10, 11], tokenizerFingerprint: "sha256:synthetic")
        for (name, split) in [("train", hostile.train), ("validation", hostile.validation)] {
            guard let split else { continue }
            try file.root.write("\(name)/tokens", split.tokens)
            try file.root.write("\(name)/offsets", split.offsets)
            try file.root.write("\(name)/loss_mask", split.mask)
            try file.root.write("\(name)/labels", split.labels)
        }
        try file.close()
        try hostile.edit(path)
    }

    private func edit(_ body: @escaping (HDF5File) throws -> Void) -> (String) throws -> Void {
        { path in
            let file = try HDF5File.open(path, mode: .readWrite)
            try body(file)
            try file.close()
        }
    }

    private func corpus() -> [Case] {
        var cases: [Case] = []
        func add(_ label: String, keyPath: String = "data", _ change: (inout Case) -> Void) {
            var hostile = Case(label: label, keyPath: keyPath)
            change(&hostile)
            cases.append(hostile)
        }
        add("empty train split") { $0.train = Split(tokens: [], offsets: [0], mask: [], labels: []) }
        add("empty validation split") { $0.validation = Split(tokens: [], offsets: [0], mask: [], labels: []) }
        add("no validation split") { $0.validation = nil }
        add("train loss mask all zero") { $0.train.mask = [UInt8](repeating: 0, count: 10) }
        add("validation loss mask all zero") { $0.validation?.mask = [UInt8](repeating: 0, count: 10) }
        add("offsets repeat") { $0.train.offsets = [0, 3, 3, 10] }
        add("offsets fall") { $0.train.offsets = [0, 7, 3, 10] }
        add("offsets past the tokens") { $0.train.offsets = [0, 3, 7, 11] }
        add("offsets short of the tokens") { $0.train.offsets = [0, 3, 7, 9] }
        add("offsets not from zero") { $0.train.offsets = [1, 3, 7, 10] }
        add("negative offset") { $0.train.offsets = [0, -3, 7, 10] }
        add("offset at Int64.max") { $0.train.offsets = [0, 3, 7, Int64.max] }
        add("no offsets") { $0.train.offsets = [] }
        add("token past the vocabulary") { $0.train.tokens[4] = 1_000_000 }
        add("negative token") { $0.train.tokens[0] = -1 }
        add("token at Int32.max") { $0.train.tokens[9] = Int32.max }
        add("label past the classes") { $0.train.labels[1] = 2 }
        add("negative label") { $0.validation?.labels[0] = -7 }
        add("a label short") { $0.train.labels = [0, 1] }
        add("loss mask short") { $0.train.mask = [0, 0, 1] }
        add("first token supervised") { $0.train.mask[3] = 1 }
        add("example past max_length", keyPath: "batch.max_length") {
            $0.train.tokens = [Int32](repeating: 25, count: 40) + [10]
            $0.train.offsets = [0, 41]
            $0.train.mask = [UInt8](repeating: 0, count: 40) + [1]
            $0.train.labels = [0]
        }
        cases += [
            Case(label: "no tokens", edit: edit { try $0.root.remove("train/tokens") }),
            Case(label: "float tokens", edit: edit { file in
                try file.root.remove("train/tokens")
                try file.root.write("train/tokens", [Float](repeating: 20, count: 10))
            }),
            Case(label: "2-D tokens", edit: edit { file in
                try file.root.remove("train/tokens")
                try file.root.write("train/tokens", [Int32](repeating: 20, count: 10), shape: [2, 5])
            }),
            Case(label: "format other", edit: edit { try $0.root.attributes.set("format", "ttl-train-checkpoint") }),
            Case(label: "format version 2", edit: edit { try $0.root.attributes.set("format_version", Int64(2)) }),
            Case(label: "format version as text", edit: edit { try $0.root.attributes.set("format_version", "1") }),
            Case(label: "no tokenizer fingerprint", edit: edit { try $0.root.attributes.remove("tokenizer_fingerprint") }),
            Case(label: "label token past the vocabulary", edit: edit { try $0.root.attributes.set("label_token_ids", [Int64(10), 1 << 40]) }),
            Case(label: "label names and ids differ", edit: edit { try $0.root.attributes.set("label_names", ["a", "b", "c"]) }),
            Case(label: "task lm", edit: edit { try $0.root.attributes.set("task", "lm") }, keyPath: "task"),
            Case(label: "truncated", edit: { path in
                let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
            }, keyPath: "data.path"),
            Case(label: "text file", edit: { path in try "tokens: [1, 2]\n".write(toFile: path, atomically: false, encoding: .utf8) }, keyPath: "data.path"),
            Case(label: "a directory", edit: { path in
                try FileManager.default.removeItem(atPath: path)
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            }, keyPath: "data.path"),
        ]
        return cases
    }

    func testEveryBrokenDataFileIsRefusedWithOneLine() throws {
        let directory = try TemporaryDirectory()
        let job = try TinyJob(directory: directory)
        let spec = directory.path("job.yaml")
        let cases = corpus()
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        var refused = 0
        for (index, hostile) in cases.enumerated() {
            let data = directory.path("data-\(index).h5")
            try write(hostile, to: data)
            let output = directory.path("run-\(index)")
            try job.yaml(steps: 4, output: output).replacingOccurrences(of: job.dataPath, with: data)
                .write(toFile: spec, atomically: true, encoding: .utf8)
            for command in ["validate", "train"] {
                let run = try ChildProcess.run(ChildProcess.ttlTrainPath, [command, spec], timeout: 20)
                let context = "case \(index) '\(hostile.label)' \(command)"
                XCTAssertFalse(run.timedOut, context)
                XCTAssertEqual(run.status, 1, "\(context): \(run.stderr)")
                XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, "\(context): \(run.stderr)")
                XCTAssertTrue(run.stderr.hasPrefix("Error: \(spec): \(hostile.keyPath)"), "\(context): \(run.stderr)")
                if hostile.keyPath.hasPrefix("data") { XCTAssertTrue(run.stderr.contains(data), "\(context): \(run.stderr)") }
                XCTAssertFalse(FileManager.default.fileExists(atPath: output), "\(context) wrote \(output)")
                if command == "train", run.status == 1, run.stderr.split(separator: "\n").count == 1 { refused += 1 }
            }
        }
        XCTAssertEqual(refused, cases.count)
        print("hostile data files: \(cases.count) tried, \(refused) refused with one line")
    }
}
