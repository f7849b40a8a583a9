import CKernels

/// GGUF's block quantization formats (llama.cpp's `ggml-quants`): a row is cut into blocks of 32
/// values, each stored as an IEEE half scale `d` (and for `q4_1` a half minimum `m`) and 32 small
/// integers `q`; a value is `d·q` (`q8_0`: q an int8; `q4_0`: q a nibble − 8) or `d·q + m`
/// (`q4_1`: q a nibble). Nibble `i` of a 4-bit block is the low half of byte `i` for values 0…15
/// and the high half for values 16…31.
///
/// Dequantization does exactly the float operations of the importer (gguf-py), so a quantized
/// base computes with the very floats of a float32 import of the same file; quantization is
/// ggml's reference algorithm, so `ttl-train quantize` writes the bytes llama.cpp would.
public enum QuantizationFormat: String, CaseIterable, Sendable {
    case q8_0, q4_0, q4_1

    /// Values per block.
    public static let blockValues = 32

    /// Bytes per block of 32 values.
    public var blockBytes: Int {
        switch self {
        case .q8_0: return 34
        case .q4_0: return 18
        case .q4_1: return 20
        }
    }

    /// The first block whose scale `d` (or, for `q4_1`, minimum `m`) is an infinite or NaN half,
    /// with which of the two: such a block decodes to NaN or infinity in every value.
    public func firstNonFiniteScale(_ blocks: [UInt8]) -> (block: Int, field: String)? {
        let halves = self == .q4_1 ? [(0, "scale d"), (2, "minimum m")] : [(0, "scale d")]
        for block in 0..<(blocks.count / blockBytes) {
            for (offset, field) in halves {
                let at = block * blockBytes + offset
                // IEEE half: all exponent bits set is an infinity or a NaN.
                if (UInt16(blocks[at]) | UInt16(blocks[at + 1]) << 8) & 0x7C00 == 0x7C00 { return (block, field) }
            }
        }
        return nil
    }

    /// Bytes that `values` values take (a multiple of `blockValues`).
    public func byteCount(values: Int) -> Int {
        precondition(values % Self.blockValues == 0, "\(values) values are not whole blocks of \(Self.blockValues)")
        return values / Self.blockValues * blockBytes
    }

    /// Blocks holding `values` (a multiple of `blockValues`) into `out`.
    public func dequantize(_ blocks: UnsafePointer<UInt8>, values: Int, into out: UnsafeMutablePointer<Float>) {
        let count = values / Self.blockValues
        precondition(count * Self.blockValues == values, "\(values) values are not whole blocks")
        switch self {
        case .q8_0: ttl_dequantize_q8_0(blocks, count, out)
        case .q4_0: ttl_dequantize_q4_0(blocks, count, out)
        case .q4_1: ttl_dequantize_q4_1(blocks, count, out)
        }
    }

    /// `values` (a multiple of `blockValues`, all finite) as blocks.
    public func quantize(_ values: [Float]) -> [UInt8] {
        var blocks = [UInt8](repeating: 0, count: byteCount(values: values.count))
        let count = values.count / Self.blockValues
        values.withUnsafeBufferPointer { source in
            blocks.withUnsafeMutableBufferPointer { target in
                guard let from = source.baseAddress, let to = target.baseAddress else { return }
                switch self {
                case .q8_0: ttl_quantize_q8_0(from, count, to)
                case .q4_0: ttl_quantize_q4_0(from, count, to)
                case .q4_1: ttl_quantize_q4_1(from, count, to)
                }
            }
        }
        return blocks
    }

    /// The values of `blocks`.
    public func dequantize(_ blocks: [UInt8]) -> [Float] {
        precondition(blocks.count % blockBytes == 0, "\(blocks.count) bytes are not whole \(self) blocks")
        let values = blocks.count / blockBytes * Self.blockValues
        var out = [Float](repeating: 0, count: values)
        blocks.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                guard let from = source.baseAddress, let to = target.baseAddress else { return }
                dequantize(from, values: values, into: to)
            }
        }
        return out
    }
}

/// A row-major `(rows, columns)` matrix of quantized blocks in a `ByteBuffer`: each row is
/// `columns / 32` whole blocks, so any run of rows dequantizes on its own.
public struct QuantizedMatrix: Sendable, Equatable {
    public let format: QuantizationFormat
    /// Byte offset of the first block.
    public let offset: Int
    public let rows: Int
    public let columns: Int

    public init(format: QuantizationFormat, offset: Int, rows: Int, columns: Int) {
        precondition(columns % QuantizationFormat.blockValues == 0, "a quantized row is whole blocks")
        self.format = format
        self.offset = offset
        self.rows = rows
        self.columns = columns
    }

    public var rowBytes: Int { format.byteCount(values: columns) }
    public var byteCount: Int { rows * rowBytes }

    /// Rows `range` of the matrix as floats into `out` (`range.count × columns`), over the
    /// compute threads when there is enough to share: each row is decoded alone, so the bits do
    /// not depend on the split.
    public func dequantize(rows range: Range<Int>, from storage: ByteBuffer, into out: UnsafeMutablePointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) outside \(rows)")
        let base = UnsafePointer(storage.at(offset))
        let (rowBytes, columns) = (self.rowBytes, self.columns)
        let target = UncheckedPointer(pointer: out)
        ComputeThreads.forEachRange(range.count, grain: max(1, (1 << 15) / columns)) { _, part in
            for row in part {
                format.dequantize(base + (range.lowerBound + row) * rowBytes, values: columns, into: target.pointer + row * columns)
            }
        }
    }
}

extension QuantizedMatrix {
    /// `y (rows) = W·x (columns)` straight from the blocks, rows split over the compute threads:
    /// one generated token's product, reading each block once instead of writing its floats out
    /// (not bit-identical to the dequantized product: see quantized_product.c).
    public func matrixVector(_ x: UnsafePointer<Float>, from storage: ByteBuffer, into y: UnsafeMutablePointer<Float>) {
        let blocksPerRow = columns / QuantizationFormat.blockValues
        let sums = (0..<blocksPerRow).map { block in (0..<QuantizationFormat.blockValues).reduce(Float(0)) { $0 + x[block * 32 + $1] } }
        let base = UnsafePointer(storage.at(offset))
        let target = UncheckedPointer(pointer: y)
        let code = Int32(format == .q8_0 ? TTL_Q8_0 : format == .q4_0 ? TTL_Q4_0 : TTL_Q4_1)
        sums.withUnsafeBufferPointer { blockSums in
            let sumsPointer = UncheckedConstPointer(pointer: blockSums.baseAddress!)
            let input = UncheckedConstPointer(pointer: x)
            ComputeThreads.forEachRange(rows, grain: 8192) { _, part in
                ttl_quantized_matrix_vector(code, base, part.lowerBound, part.count, blocksPerRow, input.pointer, sumsPointer.pointer, target.pointer)
            }
        }
    }
}

/// A read-only float pointer shared by the threads of one product.
private struct UncheckedConstPointer: @unchecked Sendable {
    let pointer: UnsafePointer<Float>
}

/// A float pointer shared by the threads of one dequantization, each writing its own rows.
private struct UncheckedPointer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
}
