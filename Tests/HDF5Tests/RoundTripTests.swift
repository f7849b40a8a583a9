import HDF5
import TestSupport
import XCTest

final class RoundTripTests: XCTestCase {
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    func testEveryElementTypeRoundTripsWithShapeAndFilters() throws {
        let path = directory.path("types.h5")
        let floats: [Float] = (0..<24).map { Float($0) * 0.25 - 3 }
        let doubles: [Double] = (0..<24).map { Double($0) / 3 }
        let int32s: [Int32] = (0..<24).map { Int32($0) * -100_000 }
        let int64s: [Int64] = (0..<24).map { Int64($0) << 40 }
        let bytes: [UInt8] = (0..<24).map { UInt8($0 * 10) }
        let filtered = DatasetOptions(gzipLevel: 4, fletcher32: true)
        do {
            let file = try HDF5File.create(path)
            try file.root.write("plain/float", floats, shape: [4, 6])
            try file.root.write("plain/double", doubles, shape: [2, 3, 4])
            try file.root.write("plain/int32", int32s)
            try file.root.write("plain/int64", int64s, shape: [24, 1])
            try file.root.write("plain/uint8", bytes, shape: [6, 4])
            try file.root.write("filtered/float", floats, shape: [4, 6], options: filtered)
            try file.root.write("filtered/int64", int64s, options: filtered)
            try file.root.write("strings", strings: ["", "ascii", "ünïcødé ✓", "tab\tand\nnewline"])
            try file.root.write("empty", [Float](), shape: [0, 3])
        }
        let file = try HDF5File.open(path)
        XCTAssertEqual(try file.root.read("plain/float", as: Float.self), floats)
        XCTAssertEqual(try file.root.openDataset("plain/float").shape(), [4, 6])
        XCTAssertEqual(try file.root.read("plain/double", as: Double.self), doubles)
        XCTAssertEqual(try file.root.openDataset("plain/double").shape(), [2, 3, 4])
        XCTAssertEqual(try file.root.read("plain/int32", as: Int32.self), int32s)
        XCTAssertEqual(try file.root.read("plain/int64", as: Int64.self), int64s)
        XCTAssertEqual(try file.root.read("plain/uint8", as: UInt8.self), bytes)
        XCTAssertEqual(try file.root.read("filtered/float", as: Float.self), floats)
        XCTAssertEqual(try file.root.read("filtered/int64", as: Int64.self), int64s)
        XCTAssertEqual(try file.root.openDataset("strings").readStrings(), ["", "ascii", "ünïcødé ✓", "tab\tand\nnewline"])
        XCTAssertEqual(try file.root.read("empty", as: Float.self), [])
        XCTAssertEqual(try file.root.openDataset("empty").shape(), [0, 3])
        XCTAssertEqual(try file.root.openDataset("plain/uint8").elementTypeName(), "uint8")
        XCTAssertEqual(try file.root.openGroup("plain").childNames(), ["double", "float", "int32", "int64", "uint8"])
        XCTAssertTrue(file.root.isGroup("plain"))
        XCTAssertFalse(file.root.isGroup("plain/float"))
        XCTAssertTrue(file.root.contains("/filtered/int64"))
        XCTAssertFalse(file.root.contains("filtered/int64/deeper"))
    }

    func testRowSlicesReadTheRightRows() throws {
        let path = directory.path("rows.h5")
        let values: [Float] = (0..<30).map(Float.init)
        let file = try HDF5File.create(path)
        let dataset = try file.root.write("m", values, shape: [10, 3], options: .checksummed)
        XCTAssertEqual(try dataset.read(rows: 2..<4, as: Float.self), [6, 7, 8, 9, 10, 11])
        XCTAssertEqual(try dataset.read(rows: 9..<10, as: Float.self), [27, 28, 29])
        XCTAssertThrowsError(try dataset.read(rows: 8..<11, as: Float.self)) { error in
            guard case .wrongShape = (error as? HDF5Error)?.kind else { return XCTFail("\(error)") }
        }
    }

    func testAttributesOfEveryKindRoundTripAndReplace() throws {
        let path = directory.path("attributes.h5")
        do {
            let file = try HDF5File.create(path)
            let attributes = file.root.attributes
            try attributes.set("float", Float(1.5))
            try attributes.set("double", 1e-5)
            try attributes.set("int32", Int32(-7))
            try attributes.set("int64", Int64.max)
            try attributes.set("uint8", UInt8(255))
            try attributes.set("floats", [Float(1), 2, 3])
            try attributes.set("int64s", [Int64(-1), 0, 1])
            try attributes.set("text", "sha256:abc")
            try attributes.set("texts", ["q_proj", "v_proj"])
            try attributes.set("replaced", Int64(1))
            try attributes.set("replaced", "now a string")
            let dataset = try file.root.write("group/data", [Float(0)])
            try dataset.attributes.set("unit", "nats")
            try file.root.openGroup("group").attributes.set("kind", "tt-lora")
        }
        let file = try HDF5File.open(path)
        let attributes = file.root.attributes
        XCTAssertEqual(try attributes.value("float", as: Float.self), 1.5)
        XCTAssertEqual(try attributes.value("double", as: Double.self), 1e-5)
        XCTAssertEqual(try attributes.value("int32", as: Int32.self), -7)
        XCTAssertEqual(try attributes.value("int64", as: Int64.self), Int64.max)
        XCTAssertEqual(try attributes.value("uint8", as: UInt8.self), 255)
        XCTAssertEqual(try attributes.array("floats", as: Float.self), [1, 2, 3])
        XCTAssertEqual(try attributes.array("int64s", as: Int64.self), [-1, 0, 1])
        XCTAssertEqual(try attributes.string("text"), "sha256:abc")
        XCTAssertEqual(try attributes.strings("texts"), ["q_proj", "v_proj"])
        XCTAssertEqual(try attributes.string("replaced"), "now a string")
        XCTAssertEqual(try attributes.names(), ["double", "float", "floats", "int32", "int64", "int64s", "replaced", "text", "texts", "uint8"])
        XCTAssertEqual(try file.root.openDataset("group/data").attributes.string("unit"), "nats")
        XCTAssertEqual(try file.root.openGroup("group").attributes.string("kind"), "tt-lora")
        XCTAssertThrowsError(try attributes.value("floats", as: Float.self)) { error in
            guard case .wrongShape = (error as? HDF5Error)?.kind else { return XCTFail("\(error)") }
        }
    }

    func testAppendsContinueAcrossReopenAndResizeDropsRows() throws {
        let path = directory.path("append.h5")
        do {
            let file = try HDF5File.create(path)
            let steps = try file.root.createDataset("train/step", of: Int64.self, shape: [0], options: .init(appendable: true))
            let grid = try file.root.createDataset("train/grid", of: Float.self, shape: [0, 2], options: .init(fletcher32: true, appendable: true))
            try steps.append([Int64(1), 2])
            try grid.append([Float(1), 10, 2, 20])
            XCTAssertEqual(try grid.maxShape(), [nil, 2])
        }
        do {
            let file = try HDF5File.open(path, mode: .readWrite)
            let steps = try file.root.openDataset("train/step")
            try steps.append([Int64(3)])
            try file.root.openDataset("train/grid").append([Float(3), 30])
            XCTAssertThrowsError(try file.root.openDataset("train/grid").append([Float(4)])) { error in
                guard case .wrongShape = (error as? HDF5Error)?.kind else { return XCTFail("\(error)") }
            }
        }
        do {
            let file = try HDF5File.open(path, mode: .readWrite)
            XCTAssertEqual(try file.root.read("train/step", as: Int64.self), [1, 2, 3])
            XCTAssertEqual(try file.root.read("train/grid", as: Float.self), [1, 10, 2, 20, 3, 30])
            try file.root.openDataset("train/step").resize(rows: 1)
            try file.root.openDataset("train/step").append([Int64(5)])
        }
        XCTAssertEqual(try HDF5File.open(path).root.read("train/step", as: Int64.self), [1, 5])
    }

    func testRemovingADatasetAndRecreatingIt() throws {
        let file = try HDF5File.create(directory.path("remove.h5"))
        try file.root.write("x", [Int32(1)])
        XCTAssertThrowsError(try file.root.write("x", [Int32(2)])) { error in
            XCTAssertEqual((error as? HDF5Error)?.kind, .alreadyExists)
        }
        try file.root.remove("x")
        try file.root.write("x", [Int32(3)])
        XCTAssertEqual(try file.root.read("x", as: Int32.self), [3])
    }
}
