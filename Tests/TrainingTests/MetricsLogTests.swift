import Foundation
import HDF5
import TestSupport
import Training
import XCTest

final class MetricsLogTests: XCTestCase {
    private struct Rows: Decodable, Equatable {
        let train: [Int]
        let loss: [Double]
        let eval: [Int]
    }

    private func python(_ command: String, _ path: String) throws -> String {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("metrics_reader.py").path
        let run = try ChildProcess.run(try Repository.python(), [script, command, path])
        XCTAssertEqual(run.status, 0, run.stderr)
        return run.stdout
    }

    private func rows(_ path: String) throws -> Rows {
        try JSONDecoder().decode(Rows.self, from: Data(try python("rows", path).utf8))
    }

    func testRowsAreReadableLiveAndAResumeDropsTheStepsPastTheCheckpoint() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("run/metrics.h5")
        do {
            let log = try MetricsLog(path: path, resumeStep: nil, run: .init(job: "demo", adapterKind: "tt-lora", trainableParameters: 34_560,
                                                                             reducedBytesPerStep: 276_512))
            for step in 1...5 {
                try log.appendTrain(step: step, loss: 3 - Double(step) / 10, learningRate: 1e-3, gradNorm: 0.5, tokensPerSecond: 100, seconds: 1)
            }
            try log.appendEval(step: 4, loss: 2.5, accuracy: 0.75)
            XCTAssertEqual(try rows(path), Rows(train: [1, 2, 3, 4, 5], loss: [2.9, 2.8, 2.7, 2.6, 2.5], eval: [4]), "read while the writer is open")
            try log.close()
        }
        let resumed = try MetricsLog(path: path, resumeStep: 3)
        try resumed.appendTrain(step: 4, loss: 2.65, learningRate: 1e-3, gradNorm: 0.5, tokensPerSecond: 100, seconds: 1)
        try resumed.close()
        XCTAssertEqual(try rows(path), Rows(train: [1, 2, 3, 4], loss: [2.9, 2.8, 2.7, 2.65], eval: []))
        let attributes = try HDF5File.open(path).root.attributes
        XCTAssertEqual(try attributes.string("job"), "demo")
        XCTAssertEqual(try attributes.string("adapter_kind"), "tt-lora")
        XCTAssertEqual(try attributes.value("trainable_parameters", as: Int64.self), 34_560)
        XCTAssertEqual(try attributes.value("reduced_bytes_per_step", as: Int64.self), 276_512)
    }

    func testEveryColumnSaysItsUnitsAndMeaningAndEveryRowItsTime() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.h5")
        let before = Date().timeIntervalSince1970
        do {
            let log = try MetricsLog(path: path, resumeStep: nil, run: .init(job: "demo", adapterKind: "lora", trainableParameters: 8,
                                                                             reducedBytesPerStep: 64, worldSize: 3))
            try log.appendTrain(step: 1, loss: 1, learningRate: 0.1, gradNorm: 2, tokensPerSecond: 10, seconds: 0.5)
            try log.appendEval(step: 1, loss: 0.9, accuracy: 0.5)
            try log.close()
        }
        let contents = try MetricsLog.read(path)
        let attributes = Dictionary(uniqueKeysWithValues: contents.attributes.map { ($0.name, $0.value) })
        XCTAssertEqual(attributes["ttl_train_version"], Writer.version)
        XCTAssertEqual(attributes["host"], ProcessInfo.processInfo.hostName)
        XCTAssertEqual(attributes["world_size"], "3")
        XCTAssertEqual(attributes["format_version"], "\(MetricsLog.fileFormat.version)")
        for (name, table) in contents.tables {
            let expected = name == "train" ? MetricsLog.trainColumns : MetricsLog.evalColumns
            XCTAssertEqual(table.columns.map(\.name), expected.map(\.name))
            XCTAssertEqual(table.columns.map(\.units), expected.map(\.units))
            XCTAssertTrue(table.columns.allSatisfy { !$0.units.isEmpty && !$0.description.isEmpty })
            let timestamp = try XCTUnwrap(table.rows.first?.last)
            XCTAssertTrue(timestamp >= before && timestamp <= Date().timeIntervalSince1970, "\(timestamp)")
        }
    }

    func testAVersionOneLogGainsTheNewColumnsOnResume() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.h5")
        do {
            // What format version 1 wrote: no timestamp, no units.
            let file = try HDF5File.create(path, swmrCapable: true)
            try file.root.attributes.set("format", MetricsLog.fileFormat.name)
            try file.root.attributes.set("format_version", Int64(1))
            for (group, columns) in [("train", ["loss", "lr", "grad_norm", "tokens_per_s", "seconds"]), ("eval", ["loss", "accuracy"])] {
                try file.root.createDataset("\(group)/step", of: Int64.self, shape: [0], options: .init(appendable: true)).append([Int64(1), 2])
                for column in columns {
                    try file.root.createDataset("\(group)/\(column)", of: Double.self, shape: [0], options: .init(appendable: true)).append([1.0, 2.0])
                }
            }
            try file.close()
        }
        let log = try MetricsLog(path: path, resumeStep: 2)
        try log.appendTrain(step: 3, loss: 3, learningRate: 3, gradNorm: 3, tokensPerSecond: 3, seconds: 3)
        try log.close()
        let train = try XCTUnwrap(try MetricsLog.read(path).tables.first { $0.name == "train" }?.table)
        XCTAssertEqual(train.rows.map { $0[0] }, [1, 2, 3])
        XCTAssertTrue(train.rows[0].last!.isNaN && train.rows[1].last!.isNaN && train.rows[2].last! > 1.7e9, "\(train.rows)")
        XCTAssertEqual(train.columns.first { $0.name == "loss" }?.units, "nats per supervised token")
    }

    func testALogLeftOpenByAKilledWriterIsClearedAndContinued() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("metrics.h5")
        do {
            let log = try MetricsLog(path: path, resumeStep: nil)
            try log.appendTrain(step: 1, loss: 1, learningRate: 1, gradNorm: 1, tokensPerSecond: 1, seconds: 1)
            try log.close()
        }
        _ = try python("kill-writer", path)
        let log = try MetricsLog(path: path, resumeStep: 1)
        try log.appendTrain(step: 2, loss: 0.5, learningRate: 1, gradNorm: 1, tokensPerSecond: 1, seconds: 1)
        try log.close()
        XCTAssertEqual(try rows(path).train, [1, 2])
    }
}
