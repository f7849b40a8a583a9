import CMPI
import Kernels

/// One read-only copy of the frozen weights per node, shared by the node's ranks through MPI-3
/// shared memory: `MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)` groups the ranks of a node and
/// `MPI_Win_allocate_shared` gives them one segment, allocated by the node's first rank and mapped
/// by the others (`MPI_Win_shared_query`).
///
/// Why MPI and not a file in /dev/shm: it is part of every MPI-3 library, works the same under
/// `mpirun` and `srun`, needs no name that two jobs could collide on, and the pages go away with
/// the processes — a `kill -9`ed run leaves nothing behind. A window lives until MPI finalises at
/// exit: freeing one is a collective, and a model's weights live as long as the process.
public final class NodeWeightMemory: WeightMemory {
    private let node: MPI_Comm
    private let nodeRank: Int
    public let sharers: Int
    /// The node's collectives, bounded by the world's timeout and named by its activity.
    private let nodeWait: BoundedWait
    private let world: MPICommunicator

    init(node: MPI_Comm, world: MPICommunicator) {
        self.node = node
        self.world = world
        var rank: Int32 = 0, size: Int32 = 0
        MPI_Comm_rank(node, &rank)
        MPI_Comm_size(node, &size)
        nodeRank = Int(rank)
        sharers = Int(size)
        nodeWait = BoundedWait(comm: node, rank: Int(rank), size: Int(size))
    }

    /// Runs a collective of the node's ranks within the world's timeout.
    private func bounded(_ operation: String, _ start: (UnsafeMutablePointer<MPI_Request?>) -> Int32) throws {
        nodeWait.timeout = world.timeout
        nodeWait.activity = world.activity
        try nodeWait.run("\(operation) of the node's ranks", start)
    }

    public func region(bytes: Int) throws -> WeightRegion {
        var base: UnsafeMutableRawPointer?
        var window: MPI_Win?
        // 63 bytes of slack: the segment starts at the same offset of a page in every process,
        // so rounding each mapping up to 64 bytes lands on the same byte of the segment.
        let mine = nodeRank == 0 ? bytes + 63 : 0
        // MPI_Win_allocate_shared cannot be bounded; the barrier before it can, and a rank that
        // passed it is alive and about to allocate.
        try bounded("barrier") { MPI_Ibarrier(node, $0) }
        try check(withUnsafeMutablePointer(to: &base) { MPI_Win_allocate_shared(MPI_Aint(mine), 1, ttl_mpi_info_null(), node, $0, &window) },
                  "MPI_Win_allocate_shared")
        if nodeRank != 0 {
            var size: MPI_Aint = 0
            var unit: Int32 = 0
            try check(withUnsafeMutablePointer(to: &base) { MPI_Win_shared_query(window, 0, &size, &unit, $0) }, "MPI_Win_shared_query")
            guard size >= bytes + 63 else {
                throw CommunicatorError(operation: "MPI_Win_shared_query", rank: nodeRank, message: "the node's segment has \(size) bytes, not \(bytes)")
            }
        }
        guard let base else { throw CommunicatorError(operation: "MPI_Win_allocate_shared", rank: nodeRank, message: "no memory") }
        let aligned = base + (64 - Int(bitPattern: base) % 64) % 64
        return WeightRegion(base: aligned, byteCount: bytes, fills: nodeRank == 0)
    }

    public func publish(_ region: WeightRegion, failure: String?) throws {
        // The broadcast leaves rank 0 only after its writes; the others read after receiving.
        var message = Array((failure ?? "").utf8)
        var count = Int64(message.count)
        try withUnsafeMutablePointer(to: &count) { count in
            try bounded("broadcast") { MPI_Ibcast(count, 1, ttl_mpi_int64(), 0, node, $0) }
        }
        if nodeRank != 0 { message = [UInt8](repeating: 0, count: Int(count)) }
        if count > 0 {
            try message.withUnsafeMutableBufferPointer { message in
                try bounded("broadcast") { MPI_Ibcast(message.baseAddress, Int32(count), ttl_mpi_uint8(), 0, node, $0) }
            }
            if nodeRank != 0 { throw WeightMemoryError(reason: String(decoding: message, as: UTF8.self)) }
        }
    }

    private func check(_ code: Int32, _ operation: String) throws {
        guard code != ttl_mpi_success() else { return }
        throw CommunicatorError(operation: operation, rank: nodeRank, message: MPIRuntime.errorString(code))
    }
}

extension MPICommunicator {
    /// The node's shared weight memory, or nil when this rank is alone on its node (then the
    /// weights are private, as without MPI). Collective over the world the first time.
    public func nodeWeightMemory() throws -> WeightMemory? {
        try NodeWeightMemory.ofWorld()
    }
}

extension NodeWeightMemory {
    nonisolated(unsafe) private static var ofThisProcess: NodeWeightMemory??

    /// The world's node groups, split once per process.
    static func ofWorld() throws -> NodeWeightMemory? {
        if let ofThisProcess { return ofThisProcess }
        let world = try MPICommunicator.world()
        // MPI_Comm_split_type cannot be bounded; the barrier before it can.
        try world.barrier()
        var node: MPI_Comm?
        let rank = Int32(world.rank)
        let code = MPI_Comm_split_type(ttl_mpi_comm_world(), ttl_mpi_comm_type_shared(), rank, ttl_mpi_info_null(), &node)
        guard code == ttl_mpi_success(), let node else {
            throw CommunicatorError(operation: "MPI_Comm_split_type", rank: Int(rank), message: MPIRuntime.errorString(code))
        }
        MPI_Comm_set_errhandler(node, ttl_mpi_errors_return())
        let memory = NodeWeightMemory(node: node, world: world)
        ofThisProcess = .some(memory.sharers > 1 ? memory : nil)
        return ofThisProcess!
    }
}
