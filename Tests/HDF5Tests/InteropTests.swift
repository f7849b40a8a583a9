import Foundation
import HDF5
import TestSupport
import XCTest

/// Files written here must read correctly in h5py and the other way round: users open everything
/// ttl-train writes in Python. Runs the project's venv Python (made by scripts/setup.sh).
final class InteropTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    /// Runs `h5py_interop.py arguments…` and returns its standard output.
    private func python(_ arguments: [String]) throws -> String {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("h5py_interop.py").path
        let run = try ChildProcess.run(try Repository.python(), [script] + arguments)
        XCTAssertEqual(run.status, 0, run.stderr)
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testFileWrittenBySwiftReadsInH5py() throws {
        let path = directory.path("from-swift.h5")
        do {
            let file = try HDF5File.create(path)
            try file.root.attributes.set("format", "ttl-train-test")
            try file.root.attributes.set("version", Int64(3))
            try file.root.attributes.set("eps", 1e-5)
            try file.root.attributes.set("targets", ["q_proj", "v_proj"])
            let weights = try file.root.write("adapters/w", (0..<6).map { Float($0) / 4 }, shape: [2, 3],
                                              options: DatasetOptions(gzipLevel: 6, fletcher32: true))
            try weights.attributes.set("kind", "lora")
            try file.root.write("ids", [Int64(-5), 0, 1 << 40])
            try file.root.write("mask", [UInt8(0), 1, 1, 0])
            try file.root.write("labels", [Int32(3), -1])
            try file.root.write("doubles", [0.1, 0.2])
            try file.root.write("names", strings: ["négatif", "positif"])
            let loss = try file.root.createDataset("train/loss", of: Float.self, shape: [0], options: .init(appendable: true))
            try loss.append([Float(2.5), 2.25])
            try loss.append([Float(2)])
        }
        XCTAssertEqual(try python(["check", path]), "ok")
    }

    func testFileWrittenByH5pyReadsInSwift() throws {
        let path = directory.path("from-h5py.h5")
        _ = try python(["write", path])
        let file = try HDF5File.open(path)
        XCTAssertEqual(try file.root.attributes.string("format"), "from-h5py")
        XCTAssertEqual(try file.root.attributes.value("count", as: Int64.self), 7)
        XCTAssertEqual(try file.root.attributes.value("scale", as: Double.self), 0.5)
        XCTAssertEqual(try file.root.attributes.strings("names"), ["a", "bé"])
        XCTAssertEqual(try file.root.read("matrix", as: Float.self), (0..<12).map(Float.init))
        XCTAssertEqual(try file.root.openDataset("matrix").read(rows: 1..<2, as: Float.self), [4, 5, 6, 7])
        XCTAssertEqual(try file.root.read("tokens", as: Int32.self), [1, 2, 3])
        XCTAssertEqual(try file.root.read("offsets", as: Int64.self), [0, 3])
        XCTAssertEqual(try file.root.read("flags", as: UInt8.self), [1, 0])
        XCTAssertEqual(try file.root.openDataset("words").readStrings(), ["alpha", "βeta"])
        XCTAssertEqual(try file.root.openDataset("fixed").readStrings(), ["ab", "cd"])
        XCTAssertEqual(try file.root.read("grow", as: Double.self), [1, 2, 3, 4])
        XCTAssertEqual(try file.root.openDataset("grow").maxShape(), [nil, 2])
    }

    func testSWMRReaderSeesRowsAppendedWhileTheWriterKeepsTheFileOpen() throws {
        let path = directory.path("live.h5")
        let file = try HDF5File.create(path, swmrCapable: true)
        let loss = try file.root.createDataset("train/loss", of: Float.self, shape: [0], options: .init(appendable: true))
        try file.startSWMRWrite()
        try loss.append([Float(3.0), 2.9])
        try loss.flush()
        XCTAssertEqual(try python(["swmr-rows", path, "train/loss"]), "2")
        try loss.append([Float(2.8)])
        try loss.flush()
        XCTAssertEqual(try python(["swmr-rows", path, "train/loss"]), "3")
        try file.close()
    }
}
