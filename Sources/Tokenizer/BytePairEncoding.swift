/// A BPE model over token ids: a pre-token's bytes start as the ids of their byte-level
/// characters; the adjacent pair with the lowest merge rank is merged, the leftmost first among
/// equals, until no pair has a rank — the order `tokenizers` merges in.
///
/// Why ids and a heap: merging strings and rescanning every pair per merge is quadratic in a
/// pre-token's length, and a user's data can hold a 10 MB line without a space. Here each merge
/// is a heap pop and a table lookup, so a pre-token of n bytes costs O(n log n).
struct BytePairEncoding {
    /// Id of each byte's character in the byte-level alphabet; nil where the vocabulary lacks it.
    let byteIDs: [Int32?]
    /// (left id, right id) → (rank, merged id).
    let merges: [UInt64: Merge]

    struct Merge {
        let rank: Int32
        let result: Int32
    }

    /// The ids of one pre-token's bytes and how many bytes each id covers; a byte whose
    /// character the vocabulary lacks is dropped.
    func encode<Bytes: Collection>(_ bytes: Bytes) -> (ids: [Int32], lengths: [Int32]) where Bytes.Element == UInt8 {
        var ids: [Int32] = []
        var lengths: [Int32] = []
        ids.reserveCapacity(bytes.count)
        for byte in bytes {
            guard let id = byteIDs[Int(byte)] else { continue }
            ids.append(id)
            lengths.append(1)
        }
        guard ids.count > 1 else { return (ids, lengths) }
        let count = ids.count
        // A doubly linked list over positions; a merged symbol lives at its left position.
        var next = Array(1...count).map(Int32.init)
        var previous = Array(-1..<(count - 1)).map(Int32.init)
        var heap = PairHeap()
        func pushPair(at left: Int) {
            let right = Int(next[left])
            guard right < count, let merge = merges[Self.key(ids[left], ids[right])] else { return }
            heap.push(PairHeap.Entry(rank: merge.rank, position: Int32(left), left: ids[left], right: ids[right]))
        }
        for position in 0..<(count - 1) { pushPair(at: position) }
        var alive = [Bool](repeating: true, count: count)
        while let entry = heap.pop() {
            let left = Int(entry.position)
            let right = Int(next[left])
            // Stale: a neighbour merged since this pair was pushed.
            guard alive[left], right < count, ids[left] == entry.left, ids[right] == entry.right,
                  let merge = merges[Self.key(entry.left, entry.right)] else { continue }
            ids[left] = merge.result
            lengths[left] += lengths[right]
            alive[right] = false
            next[left] = next[right]
            if Int(next[right]) < count { previous[Int(next[right])] = Int32(left) }
            if previous[left] >= 0 { pushPair(at: Int(previous[left])) }
            pushPair(at: left)
        }
        var mergedIDs: [Int32] = []
        var mergedLengths: [Int32] = []
        var position = 0
        while position < count {
            mergedIDs.append(ids[position])
            mergedLengths.append(lengths[position])
            position = Int(next[position])
        }
        return (mergedIDs, mergedLengths)
    }

    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }
}

/// A binary min-heap of candidate merges ordered by rank, then position (leftmost first).
private struct PairHeap {
    struct Entry {
        let rank: Int32
        let position: Int32
        let left: Int32
        let right: Int32

        func precedes(_ other: Entry) -> Bool {
            rank != other.rank ? rank < other.rank : position < other.position
        }
    }

    private var entries: [Entry] = []

    mutating func push(_ entry: Entry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let first = entries.first else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < entries.count, entries[left].precedes(entries[smallest]) { smallest = left }
                if right < entries.count, entries[right].precedes(entries[smallest]) { smallest = right }
                guard smallest != parent else { break }
                entries.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }
}
