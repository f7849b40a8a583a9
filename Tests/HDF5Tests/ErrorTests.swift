import Foundation
import HDF5
import TestSupport
import XCTest

final class ErrorTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    private func hdf5Error(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> HDF5Error? {
        do {
            try body()
            XCTFail("expected an HDF5Error", file: file, line: line)
        } catch let error as HDF5Error {
            return error
        } catch {
            XCTFail("expected an HDF5Error, got \(error)", file: file, line: line)
        }
        return nil
    }

    func testFletcher32CatchesAFlippedByteAndNamesTheDataset() throws {
        let path = directory.path("flip.h5")
        let values: [Float] = (0..<4096).map { Float($0) + 0.5 }
        do {
            let file = try HDF5File.create(path)
            try file.root.write("weights/w", values, options: .checksummed)
        }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let marker = values[1000..<1004].withUnsafeBytes { Data($0) }
        let found = try XCTUnwrap(bytes.range(of: marker), "stored values not found in the file")
        bytes[found.lowerBound + 5] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: path))

        let file = try HDF5File.open(path)
        let error = hdf5Error { _ = try file.root.read("weights/w", as: Float.self) }
        XCTAssertEqual(error?.kind, .checksumMismatch)
        XCTAssertEqual(error?.file, path)
        XCTAssertEqual(error?.object, "/weights/w")
        XCTAssertTrue(error?.description.hasPrefix("\(path):/weights/w: checksum mismatch") ?? false, error?.description ?? "")
    }

    func testMissingObjectsNameTheirPath() throws {
        let file = try HDF5File.create(directory.path("missing.h5"))
        try file.root.write("a/b", [Float(1)])
        XCTAssertEqual(hdf5Error { _ = try file.root.openDataset("a/c") }?.object, "/a/c")
        XCTAssertEqual(hdf5Error { _ = try file.root.openDataset("x/y/z") }?.kind, .missingObject)
        XCTAssertEqual(hdf5Error { _ = try file.root.openGroup("nope") }?.object, "/nope")
        let attributeError = hdf5Error { _ = try file.root.attributes.string("format_version") }
        XCTAssertEqual(attributeError?.kind, .missingObject)
        XCTAssertEqual(attributeError?.object, "/@format_version")
    }

    func testWrongElementTypeIsRefusedNotConverted() throws {
        let file = try HDF5File.create(directory.path("dtype.h5"))
        try file.root.write("d", [1.0, 2.0])
        try file.root.attributes.set("version", Int64(1))
        let error = hdf5Error { _ = try file.root.read("d", as: Float.self) }
        XCTAssertEqual(error?.kind, .wrongType(expected: "float32", found: "float64"))
        XCTAssertEqual(error?.object, "/d")
        XCTAssertEqual(hdf5Error { try file.root.openDataset("d").write([Int32(1), 2]) }?.kind,
                       .wrongType(expected: "int32", found: "float64"))
        XCTAssertEqual(hdf5Error { _ = try file.root.attributes.value("version", as: Int32.self) }?.kind,
                       .wrongType(expected: "int32", found: "int64"))
        XCTAssertEqual(hdf5Error { _ = try file.root.attributes.string("version") }?.kind,
                       .wrongType(expected: "string", found: "int64"))
        XCTAssertEqual(hdf5Error { try file.root.openDataset("d").write([1.0]) }?.kind,
                       .wrongShape(expected: "(2)", found: "1 values"))
    }

    func testMissingTruncatedAndForeignFilesAreTypedErrors() throws {
        let missing = directory.path("absent.h5")
        XCTAssertEqual(hdf5Error { _ = try HDF5File.open(missing) }, HDF5Error(.fileNotFound, file: missing, object: "/"))

        let foreign = directory.path("notes.h5")
        try "just text\n".write(toFile: foreign, atomically: true, encoding: .utf8)
        let foreignError = hdf5Error { _ = try HDF5File.open(foreign) }
        XCTAssertEqual(foreignError?.kind, .notHDF5)
        XCTAssertEqual(foreignError?.file, foreign)

        let truncated = directory.path("truncated.h5")
        do {
            let file = try HDF5File.create(truncated)
            try file.root.write("w", [Float](repeating: 1, count: 100_000))
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: truncated))
        try handle.truncate(atOffset: 200_000)
        try handle.close()
        let truncatedError = hdf5Error { _ = try HDF5File.open(truncated) }
        XCTAssertEqual(truncatedError?.kind, .notHDF5)
        XCTAssertTrue(truncatedError?.detail.contains("truncated") ?? false, truncatedError?.detail ?? "")
        XCTAssertFalse(truncatedError?.description.contains("\n") ?? true)
    }
}
