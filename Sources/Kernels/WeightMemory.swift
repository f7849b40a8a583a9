/// Where a model's frozen weights live when the processes of one node share a single copy.
///
/// Every process of the node calls `region(bytes:)` with the same size (a collective); one of them
/// gets `fills == true`, writes the weights, and all call `publish()`, which returns once the
/// weights are written — after that every process reads the same pages. The weights are never
/// written again (the base is frozen), so no further synchronisation is needed.
public protocol WeightMemory: AnyObject {
    /// Processes sharing the memory (1: the weights are private).
    var sharers: Int { get }
    /// `bytes` of memory, at least 64-byte aligned, mapped by every sharing process.
    func region(bytes: Int) throws -> WeightRegion
    /// Returns when the filling process has written the region. `failure` is the filler's reason
    /// when it could not; every other sharer then throws a `WeightMemoryError` with it.
    func publish(_ region: WeightRegion, failure: String?) throws
}

/// A block of memory for weights mapped by every process of a node. It is never unmapped before
/// the process ends (the weights live as long as the process), so it needs no clean-up here.
public final class WeightRegion {
    public let base: UnsafeMutableRawPointer
    public let byteCount: Int
    /// Whether this process writes the weights (the others only read them).
    public let fills: Bool

    public init(base: UnsafeMutableRawPointer, byteCount: Int, fills: Bool) {
        precondition(Int(bitPattern: base) % 64 == 0, "a weight region is 64-byte aligned")
        self.base = base
        self.byteCount = byteCount
        self.fills = fills
    }
}

/// The weights of a shared region could not be written by the process that fills them.
public struct WeightMemoryError: Error, Equatable, CustomStringConvertible, Sendable {
    public let reason: String

    public init(reason: String) {
        self.reason = reason
    }

    public var description: String { "the node's shared copy of the weights was not written: \(reason)" }
}
