import Foundation
import HDF5
import Kernels

/// Quantized weights in a model file (format version 3): a uint8 dataset `(out, bytes per row)`
/// of GGUF blocks at the weight's usual path, with attributes `quantization` and `shape`.
extension ModelFile {
    /// The quantization format of every quantized weight, by name.
    public var quantizedWeights: [String: QuantizationFormat] {
        storage.compactMapValues { if case .quantized(let format) = $0 { return format } else { return nil } }
    }

    /// How many weights each storage holds: `f32`, `q8_0`, …, `tucker`, in that order.
    public var storageCounts: [(storage: String, count: Int)] {
        var counts: [String: Int] = [:]
        for value in storage.values {
            switch value {
            case .dense: counts["f32", default: 0] += 1
            case .tucker: counts["tucker", default: 0] += 1
            case .quantized(let format): counts[format.rawValue, default: 0] += 1
            }
        }
        let order = ["f32"] + QuantizationFormat.allCases.map(\.rawValue) + ["tucker"]
        return order.compactMap { key in counts[key].map { (key, $0) } }
    }

    /// `storageCounts` as one line: `f32:61,q8_0:1,q4_1:210`.
    public var storageDescription: String {
        storageCounts.map { "\($0.storage):\($0.count)" }.joined(separator: ",")
    }

    /// The raw blocks of quantized weight `name`, row-major.
    public func readBlocks(_ name: String) throws -> [UInt8] {
        guard case .quantized(let format) = storage[name] else { preconditionFailure("\(name) is not quantized") }
        let blocks = try weight(name).read(as: UInt8.self)
        precondition(
            blocks.count == format.byteCount(values: config.weightShapes.first { $0.name == name }!.shape.reduce(1, *)),
            "checked when the file was opened")
        if let (block, scale) = format.firstNonFiniteScale(blocks) {
            throw ModelFileError.nonFiniteWeight(
                file: path, name: name, detail: "block \(block)'s \(scale) is not a finite half")
        }
        return blocks
    }

    /// The attribute of a quantized weight's dataset that names its format.
    public static let quantizationAttribute = "quantization"
    /// The attribute of a quantized weight's dataset that holds its logical `[out, in]`.
    public static let logicalShapeAttribute = "shape"

    /// Checks a quantized dataset's format, logical shape and byte shape against the weight's.
    static func checkQuantized(_ dataset: HDF5Dataset, weight name: String, shape: [Int], file: String) throws
        -> QuantizationFormat
    {
        func bad(_ reason: String) -> ModelFileError { .badQuantization(file: file, name: name, reason: reason) }
        let attributes = dataset.attributes
        let formatName = try attributes.string(quantizationAttribute)
        guard let format = QuantizationFormat(rawValue: formatName) else {
            throw bad(
                "format '\(formatName)' is not one of "
                    + "\(QuantizationFormat.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        guard attributes.contains(logicalShapeAttribute) else {
            throw bad("attribute '\(logicalShapeAttribute)' is missing")
        }
        let logical = try attributes.array(logicalShapeAttribute, as: Int64.self)
        guard logical.count == shape.count, zip(logical, shape).allSatisfy({ $0 == Int64($1) }) else {
            throw ModelFileError.wrongTensorShape(
                file: file, name: name, expected: shape, found: logical.map { Int(clamping: $0) })
        }
        guard shape.count == 2, shape[1] % QuantizationFormat.blockValues == 0 else {
            throw bad(
                "only matrices with whole blocks of \(QuantizationFormat.blockValues) values per row can be quantized, "
                    + "not \(shape)"
            )
        }
        let element = try dataset.elementTypeName()
        let stored = try dataset.shape(), expected = [shape[0], format.byteCount(values: shape[1])]
        guard element == ElementType.uint8.rawValue, stored == expected else {
            throw bad("\(format) blocks of \(shape) are uint8 \(expected), found \(element) \(stored)")
        }
        return format
    }
}

extension ModelFile {
    /// Weight `name` as stored — blocks for a quantized weight, values otherwise — for writing it
    /// unchanged into another model file.
    public func stored(_ name: String) throws -> ModelWriter.StoredWeight {
        if case .quantized(let format) = storage[name] { return .blocks(format, try readBlocks(name)) }
        return .values(try read(name))
    }
}

extension ModelFile {
    /// Bytes of the file at `path` (of its target when `path` is a symbolic link, which
    /// `attributesOfItem` would describe itself), for reports of what a conversion saved.
    public static func sizeOnDisk(_ path: String) throws -> Int {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        return (try FileManager.default.attributesOfItem(atPath: target)[.size] as? NSNumber)?.intValue ?? 0
    }
}
