import Foundation
import Kernels

/// A group of cooperating processes ("ranks") and the collectives the trainer needs.
///
/// Data parallelism in ttl-train is a handful of collectives on small buffers — one all-reduce of
/// the packed adapter gradients per step, a broadcast of the initial adapters, a barrier around
/// checkpoints — so this protocol is deliberately small. `MPICommunicator` runs them across
/// processes started by `mpirun`/`srun`; `SingleProcessCommunicator` is the one-rank group with the
/// same semantics, for tools and tests that run without MPI.
public protocol Communicator: AnyObject {
    /// This process's index in the group, `0..<size`.
    var rank: Int { get }
    /// Number of processes in the group.
    var size: Int { get }

    /// The longest any collective waits for the slowest rank before the job ends.
    var timeout: CollectiveTimeout { get set }
    /// What the ranks are doing ("step 12: gradient reduction"), named in the line a timed-out
    /// collective prints; see `during(_:_:)`.
    var activity: String { get set }

    /// Combines `values` elementwise across all ranks; every rank ends with the result.
    /// Every rank must pass the same count.
    func allreduce<T: CommunicatorScalar>(_ values: inout [T], _ operation: ReductionOperation) throws

    /// Replaces `values` on every rank with the root's `values` (any count: the length travels too).
    func broadcast<T: CommunicatorScalar>(_ values: inout [T], root: Int) throws

    /// Every rank's `values`, indexed by rank; counts may differ between ranks.
    func allgather<T: CommunicatorScalar>(_ values: [T]) throws -> [[T]]

    /// Returns once every rank has called it.
    func barrier() throws

    /// Ends every rank of the group at once with `exitCode`, after printing
    /// `ttl-train: rank R of N: message` on this rank's standard error. Use it when one rank
    /// fails, so that the others do not wait forever in their next collective.
    func abort(_ message: String, exitCode: Int32) -> Never

    /// Memory that the ranks of this rank's node share for a model's frozen weights, or nil when
    /// the weights are private (one process, or alone on the node). Collective.
    func nodeWeightMemory() throws -> WeightMemory?
}

extension Communicator {
    /// Whether this rank is the one that writes files and prints progress.
    public var isRoot: Bool { rank == 0 }

    /// Runs `body` with `activity` naming what the ranks do, restoring the previous one after.
    public func during<Value>(_ activity: String, _ body: () throws -> Value) rethrows -> Value {
        let outer = self.activity
        self.activity = activity
        defer { self.activity = outer }
        return try body()
    }

    /// Combines one value across all ranks.
    public func allreduce<T: CommunicatorScalar>(_ value: T, _ operation: ReductionOperation) throws -> T {
        var values = [value]
        try allreduce(&values, operation)
        return values[0]
    }

    /// The root's string on every rank (e.g. a job spec or an error message).
    public func broadcast(_ string: String, root: Int) throws -> String {
        var bytes = Array(string.utf8)
        try broadcast(&bytes, root: root)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `ttl-train: rank R of N: message` to standard error, unbuffered, so the line is out
    /// before an abort takes the process down.
    func reportFailure(_ message: String) {
        FileHandle.standardError.write(Data("ttl-train: rank \(rank) of \(size): \(message)\n".utf8))
    }
}

/// How `allreduce` combines values.
public enum ReductionOperation: Sendable, CaseIterable {
    case sum, max, min
}

/// The element types the collectives carry.
public enum CommunicatorElementType: Sendable {
    case float32, float64, int32, int64, uint8
}

/// A Swift type that a communicator can move and combine.
public protocol CommunicatorScalar: Numeric, Comparable, Sendable {
    static var communicatorType: CommunicatorElementType { get }
}

extension Float: CommunicatorScalar { public static var communicatorType: CommunicatorElementType { .float32 } }
extension Double: CommunicatorScalar { public static var communicatorType: CommunicatorElementType { .float64 } }
extension Int32: CommunicatorScalar { public static var communicatorType: CommunicatorElementType { .int32 } }
extension Int64: CommunicatorScalar { public static var communicatorType: CommunicatorElementType { .int64 } }
extension UInt8: CommunicatorScalar { public static var communicatorType: CommunicatorElementType { .uint8 } }

/// A collective that failed, naming the call and the rank.
public struct CommunicatorError: Error, Equatable, CustomStringConvertible, Sendable {
    public let operation: String
    public let rank: Int
    public let message: String

    public init(operation: String, rank: Int, message: String) {
        self.operation = operation
        self.rank = rank
        self.message = message
    }

    public var description: String {
        "rank \(rank): \(operation) failed: \(message)"
    }
}
