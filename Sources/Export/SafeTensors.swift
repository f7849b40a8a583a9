import Foundation

/// Writes the safetensors format (huggingface/safetensors): an 8-byte little-endian header length,
/// a JSON header mapping each tensor name to `{"dtype", "shape", "data_offsets"}` (offsets into
/// the data block that follows) plus optional `__metadata__` strings, padded with spaces to a
/// multiple of 8 bytes, then the tensors' bytes back to back, little-endian, row-major.
public enum SafeTensors {
    public struct Tensor: Sendable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]

        public init(name: String, shape: [Int], values: [Float]) {
            precondition(shape.reduce(1, *) == values.count, "\(name): shape \(shape) does not hold \(values.count) values")
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// The file's bytes: float32 tensors in name order (the order readers list them in).
    public static func encode(_ tensors: [Tensor], metadata: [String: String] = [:]) throws -> Data {
        let sorted = tensors.sorted { $0.name < $1.name }
        var header: [String: Any] = [:]
        var offset = 0
        for tensor in sorted {
            let size = tensor.values.count * MemoryLayout<Float>.size
            header[tensor.name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + size]] as [String: Any]
            offset += size
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8))
        var data = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for tensor in sorted {
            tensor.values.map(\.bitPattern.littleEndian).withUnsafeBytes { data.append(contentsOf: $0) }
        }
        return data
    }
}
