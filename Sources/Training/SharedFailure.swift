import Distributed

/// A failure every rank learned of at the same point, so the program can end on every rank
/// without an MPI abort: rank 0 reports `underlying` (the first failure, prefixed with its rank
/// when another rank had it); the other ranks, where it is nil, only exit non-zero.
public struct SharedFailure: Error, CustomStringConvertible {
    public let underlying: Error?

    public var description: String { underlying.map { "\($0)" } ?? "failed on another rank" }
}

extension Communicator {
    /// Runs `body` on every rank and agrees on the outcome: if it failed anywhere, every rank
    /// throws a `SharedFailure`, instead of some ranks waiting for the others forever in the next
    /// collective.
    public func agreeing<Value>(_ body: () throws -> Value) throws -> Value {
        let result = Result(catching: body)
        var message: [UInt8] = []
        if case .failure(let error) = result { message = Array("\(error)".utf8) }
        let messages = try allgather(message)
        if let (rank, first) = messages.enumerated().first(where: { !$0.element.isEmpty }) {
            guard isRoot else { throw SharedFailure(underlying: nil) }
            if case .failure(let error) = result, rank == 0 { throw SharedFailure(underlying: error) }
            throw SharedFailure(underlying: TrainerError(problem: "rank \(rank): \(String(decoding: first, as: UTF8.self))"))
        }
        return try result.get()
    }

    /// Runs `body` on rank 0 only (the writer of metrics and checkpoints) and agrees on whether
    /// it failed, so a failed write — a full disk — ends every rank together; the others wait
    /// meanwhile. Returns rank 0's result (nil elsewhere).
    @discardableResult
    public func onRoot<Value>(_ body: () throws -> Value) throws -> Value? {
        try agreeing { isRoot ? try body() : nil }
    }
}
