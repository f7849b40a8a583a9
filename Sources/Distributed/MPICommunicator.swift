import CMPI
#if canImport(Glibc)
import Glibc
#endif

/// `MPI_COMM_WORLD` of Open MPI: the processes started together by `mpirun -np N` (or `srun`).
///
/// Started without a launcher, the process is an MPI "singleton" of size 1. MPI can be initialised
/// only once per process, so `world()` initialises on first use, returns the same communicator
/// afterwards, and finalises MPI at exit. Errors come back as `CommunicatorError` rather than
/// MPI's default of aborting, so the caller can say which rank failed and why before aborting.
/// Every collective is MPI's nonblocking one completed by a `BoundedWait`, so none waits longer
/// than `timeout` for a peer that is gone.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    private let comm: MPI_Comm
    private let wait: BoundedWait

    private init(comm: MPI_Comm) {
        self.comm = comm
        var rank: Int32 = 0
        var size: Int32 = 0
        MPI_Comm_rank(comm, &rank)
        MPI_Comm_size(comm, &size)
        self.rank = Int(rank)
        self.size = Int(size)
        wait = BoundedWait(comm: comm, rank: Int(rank), size: Int(size))
    }

    nonisolated(unsafe) private static var worldCommunicator: MPICommunicator?

    /// The world communicator, initialising MPI the first time it is asked for. The same object
    /// every time, so a timeout set once holds for every user of the world.
    public static func world() throws -> MPICommunicator {
        try MPIRuntime.initialize()
        if let worldCommunicator { return worldCommunicator }
        let world = MPICommunicator(comm: ttl_mpi_comm_world())
        worldCommunicator = world
        return world
    }

    public var timeout: CollectiveTimeout {
        get { wait.timeout }
        set { wait.timeout = newValue }
    }

    public var activity: String {
        get { wait.activity }
        set { wait.activity = newValue }
    }

    public func allreduce<T: CommunicatorScalar>(_ values: inout [T], _ operation: ReductionOperation) throws {
        let count = Int32(values.count)
        try values.withUnsafeMutableBytes { buffer in
            try wait.run("all-reduce") {
                MPI_Iallreduce(ttl_mpi_in_place(), buffer.baseAddress, count, MPIRuntime.datatype(T.self),
                               MPIRuntime.op(operation), comm, $0)
            }
        }
    }

    public func broadcast<T: CommunicatorScalar>(_ values: inout [T], root: Int) throws {
        var count = [Int64(values.count)]
        try count.withUnsafeMutableBytes { buffer in
            try wait.run("broadcast") { MPI_Ibcast(buffer.baseAddress, 1, ttl_mpi_int64(), Int32(root), comm, $0) }
        }
        if rank != root {
            values = [T](repeating: .zero, count: Int(count[0]))
        }
        let elements = Int32(values.count)
        try values.withUnsafeMutableBytes { buffer in
            try wait.run("broadcast") {
                MPI_Ibcast(buffer.baseAddress, elements, MPIRuntime.datatype(T.self), Int32(root), comm, $0)
            }
        }
    }

    public func allgather<T: CommunicatorScalar>(_ values: [T]) throws -> [[T]] {
        var counts = [Int32](repeating: 0, count: size)
        var mine = Int32(values.count)
        try withUnsafeMutablePointer(to: &mine) { send in
            try counts.withUnsafeMutableBufferPointer { receive in
                try wait.run("all-gather") {
                    MPI_Iallgather(send, 1, ttl_mpi_int32(), receive.baseAddress, 1, ttl_mpi_int32(), comm, $0)
                }
            }
        }
        var offsets = [Int32](repeating: 0, count: size)
        for index in 1..<max(size, 1) { offsets[index] = offsets[index - 1] + counts[index - 1] }
        let total = Int(counts.reduce(0, +))
        var gathered = [T](repeating: .zero, count: total)
        let type = MPIRuntime.datatype(T.self)
        try values.withUnsafeBytes { send in
            try gathered.withUnsafeMutableBytes { receive in
                try counts.withUnsafeBufferPointer { counts in
                    try offsets.withUnsafeBufferPointer { offsets in
                        try wait.run("all-gather") {
                            MPI_Iallgatherv(send.baseAddress, mine, type, receive.baseAddress, counts.baseAddress,
                                            offsets.baseAddress, type, comm, $0)
                        }
                    }
                }
            }
        }
        return (0..<size).map { Array(gathered[Int(offsets[$0])..<Int(offsets[$0] + counts[$0])]) }
    }

    public func barrier() throws {
        try wait.run("barrier") { MPI_Ibarrier(comm, $0) }
    }

    public func abort(_ message: String, exitCode: Int32) -> Never {
        reportFailure(message)
        fflush(nil)
        MPI_Abort(comm, exitCode)
        exit(exitCode)
    }
}

/// Process-wide MPI state: initialisation, finalisation and the handle tables.
enum MPIRuntime {
    nonisolated(unsafe) private static var initializationError: CommunicatorError?

    /// Runs MPI_Init once. MPI cannot be re-initialised after MPI_Finalize, so finalisation is left
    /// to process exit.
    private static let initialized: Bool = {
        var flag: Int32 = 0
        MPI_Initialized(&flag)
        if flag == 0 {
            prepareSingletonEnvironment()
            let code = MPI_Init(nil, nil)
            if code != ttl_mpi_success() {
                initializationError = CommunicatorError(operation: "MPI_Init", rank: 0, message: errorString(code))
                return false
            }
            atexit {
                var finalized: Int32 = 0
                MPI_Finalized(&finalized)
                if finalized == 0 { MPI_Finalize() }
            }
        }
        MPI_Comm_set_errhandler(ttl_mpi_comm_world(), ttl_mpi_errors_return())
        return true
    }()

    static func initialize() throws {
        if !initialized, let initializationError { throw initializationError }
    }

    /// A process started without `mpirun` becomes an MPI singleton; Open MPI then looks for `ssh`
    /// to start its helper daemon unless told there is no remote agent. Setting that (only when
    /// the user has not) lets `ttl-train` run as a plain command on machines without ssh.
    private static func prepareSingletonEnvironment() {
        guard getenv("OMPI_COMM_WORLD_SIZE") == nil, getenv("PMIX_RANK") == nil else { return }
        setenv("OMPI_MCA_plm_rsh_agent", "", 0)
    }

    static func datatype<T: CommunicatorScalar>(_ type: T.Type) -> MPI_Datatype {
        switch T.communicatorType {
        case .float32: return ttl_mpi_float()
        case .float64: return ttl_mpi_double()
        case .int32: return ttl_mpi_int32()
        case .int64: return ttl_mpi_int64()
        case .uint8: return ttl_mpi_uint8()
        }
    }

    static func op(_ operation: ReductionOperation) -> MPI_Op {
        switch operation {
        case .sum: return ttl_mpi_op_sum()
        case .max: return ttl_mpi_op_max()
        case .min: return ttl_mpi_op_min()
        }
    }

    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(ttl_mpi_max_error_string()))
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
