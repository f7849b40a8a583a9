import Foundation

/// Compute threads for one rank (see `ComputeThreads`).
enum RankThreads {
    /// Cores shared by the ranks on this node (Open MPI says how many there are), so ranks do not
    /// oversubscribe the cores.
    static var automatic: Int {
        let ranksHere = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1
        return max(1, ProcessInfo.processInfo.activeProcessorCount / ranksHere)
    }
}
