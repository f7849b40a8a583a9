import Kernels
#if canImport(Glibc)
import Glibc
#endif

/// The one-rank group: every collective is what MPI would give with one process, without
/// needing MPI. Tools that run on one machine (info, validate, export) and unit tests use it.
public final class SingleProcessCommunicator: Communicator {
    public init() {}

    public var rank: Int { 0 }
    public var size: Int { 1 }
    /// Kept for the protocol: one rank never waits for another.
    public var timeout = CollectiveTimeout.standard
    public var activity = ""

    public func nodeWeightMemory() throws -> WeightMemory? { nil }

    public func allreduce<T: CommunicatorScalar>(_ values: inout [T], _ operation: ReductionOperation) throws {}

    public func broadcast<T: CommunicatorScalar>(_ values: inout [T], root: Int) throws {
        try checkRoot(root, operation: "broadcast")
    }

    public func allgather<T: CommunicatorScalar>(_ values: [T]) throws -> [[T]] {
        [values]
    }

    public func barrier() throws {}

    public func abort(_ message: String, exitCode: Int32) -> Never {
        reportFailure(message)
        exit(exitCode)
    }

    private func checkRoot(_ root: Int, operation: String) throws {
        guard root == 0 else {
            throw CommunicatorError(operation: operation, rank: 0, message: "root \(root) is not a rank of a 1-process group")
        }
    }
}
