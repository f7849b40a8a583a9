/// A fixed-size, 64-byte-aligned block of numbers that the kernels read and write in place.
///
/// The model keeps its weights, activations and gradient scratch in a few of these, allocated once
/// (llm.c style), so the training loop never allocates. `pointer` is for kernels; everything else
/// goes through the safe accessors.
public final class AlignedBuffer<Element: Numeric> {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Element>
    /// The region the elements live in when they are not this buffer's own (shared weights).
    private let region: WeightRegion?

    /// `count` zeros of the buffer's own (all-zero bytes: the zero of every element type used,
    /// written by `memset` rather than element by element).
    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Element>.stride, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1) * MemoryLayout<Element>.stride)
        pointer = raw.bindMemory(to: Element.self, capacity: max(count, 1))
        region = nil
    }

    /// `count` elements at byte `offset` (a multiple of 64) of `region`, which the buffer keeps alive.
    public init(count: Int, in region: WeightRegion, at offset: Int) {
        precondition(offset % 64 == 0 && offset + count * MemoryLayout<Element>.stride <= region.byteCount, "elements outside the region")
        self.count = count
        pointer = (region.base + offset).bindMemory(to: Element.self, capacity: max(count, 1))
        self.region = region
    }

    public convenience init(_ values: [Element]) {
        self.init(count: values.count)
        copy(from: values)
    }

    deinit {
        if region == nil { pointer.deallocate() }
    }

    /// The pointer at element `offset`.
    public func at(_ offset: Int) -> UnsafeMutablePointer<Element> {
        precondition(offset >= 0 && offset <= count, "offset \(offset) outside a buffer of \(count)")
        return pointer + offset
    }

    public func zero() {
        pointer.update(repeating: 0, count: count)
    }

    /// A copy of `range` as an array.
    public func array(_ range: Range<Int>? = nil) -> [Element] {
        let range = range ?? 0..<count
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        return Array(UnsafeBufferPointer(start: pointer + range.lowerBound, count: range.count))
    }

    /// Overwrites elements from `offset` with `values`.
    public func copy(from values: [Element], at offset: Int = 0) {
        precondition(offset >= 0 && offset + values.count <= count)
        guard !values.isEmpty else { return }
        values.withUnsafeBufferPointer { (pointer + offset).update(from: $0.baseAddress!, count: values.count) }
    }
}

/// Floats: weights, activations, adapters, gradients.
public typealias FloatBuffer = AlignedBuffer<Float>
/// Bytes: quantized weight blocks.
public typealias ByteBuffer = AlignedBuffer<UInt8>

extension AlignedBuffer where Element == Float {
    /// The index of the first NaN or infinity, if any.
    public func firstNonFinite() -> Int? {
        (0..<count).first { !pointer[$0].isFinite }
    }
}
