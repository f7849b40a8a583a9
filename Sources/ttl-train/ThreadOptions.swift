import ArgumentParser
import Foundation
import Kernels

/// `--threads`: compute threads for one rank (see `ComputeThreads`), shared by the commands that
/// run the model.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Compute threads per rank (matrix products, attention, activations, cross-entropy). (default: this machine's cores ÷ ranks on it)")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    /// The threads asked for, or the cores shared by the ranks on this node (Open MPI says how
    /// many there are), so ranks do not oversubscribe the cores.
    var count: Int {
        threads ?? max(1, ProcessInfo.processInfo.activeProcessorCount
            / (ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1))
    }

    /// Sets `count` compute threads for this process.
    func apply() {
        ComputeThreads.set(count)
    }
}
