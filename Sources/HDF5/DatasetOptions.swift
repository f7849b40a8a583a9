/// How a dataset is stored: layout, filters and growth.
///
/// Filters need chunked storage, so asking for gzip, Fletcher32 or appending picks a chunk shape
/// automatically unless one is given.
public struct DatasetOptions: Sendable {
    /// Chunk shape; nil chooses one when chunking is needed and keeps small plain data contiguous.
    public var chunk: [Int]?
    /// gzip (deflate) level 1…9, or nil for none.
    public var gzipLevel: Int?
    /// Store a Fletcher32 checksum per chunk, so a flipped byte on disk fails the read.
    public var fletcher32: Bool
    /// Make the first dimension unlimited so rows can be appended.
    public var appendable: Bool

    public init(chunk: [Int]? = nil, gzipLevel: Int? = nil, fletcher32: Bool = false, appendable: Bool = false) {
        self.chunk = chunk
        self.gzipLevel = gzipLevel
        self.fletcher32 = fletcher32
        self.appendable = appendable
    }

    /// Contiguous, no filters.
    public static let plain = DatasetOptions()
    /// Checksummed: what checkpoints and model weights use.
    public static let checksummed = DatasetOptions(fletcher32: true)

    var needsChunking: Bool {
        chunk != nil || gzipLevel != nil || fletcher32 || appendable
    }

    /// The chunk shape for a dataset of `shape`: the explicit one, else whole rows adding up to
    /// about `targetBytes` (1 MiB reads well and keeps the chunk cache useful), balanced so the
    /// last chunk is not mostly empty (HDF5 allocates every chunk whole).
    func chunkShape(for shape: [Int], elementSize: Int, targetBytes: Int = 1 << 20) -> [Int] {
        if let chunk { return chunk }
        guard !shape.isEmpty else { return [] }
        let rowElements = max(1, Dataspace.elementCount(Array(shape.dropFirst())))
        let rowsForTarget = max(1, targetBytes / (rowElements * elementSize))
        let chunks = (max(shape[0], 1) + rowsForTarget - 1) / rowsForTarget
        let rows = appendable ? min(rowsForTarget, 1024) : (max(shape[0], 1) + chunks - 1) / chunks
        return [rows] + shape.dropFirst().map { max($0, 1) }
    }
}
