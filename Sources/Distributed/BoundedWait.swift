import CMPI
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// Completes nonblocking collectives of one communicator within a deadline.
///
/// Why a test loop and not a watchdog thread: Open MPI is initialised single-threaded here, and
/// a nonblocking collective polled with `MPI_Test` is the one way to give up on a wait without
/// touching MPI from a second thread. The loop polls without pause for a few microseconds (most
/// collectives of a step end there), then naps with a growing pause of at most a quarter of a
/// millisecond, so a rank waiting for a slower one leaves its core to the compute threads
/// instead of busy-polling it as the blocking collectives do.
///
/// When the deadline passes, the rank holds a *roll call*: it sends its collective's sequence
/// number to every other rank and listens for a while. Ranks waiting in the same collective
/// answer (and, having heard that a peer gave up, hold their own roll call), so every rank that
/// can still talk prints which ranks did not answer, and the job ends with
/// `CollectiveTimeout.exitCode`. Roll-call messages use tags of their own, which never match
/// the collectives' traffic.
final class BoundedWait {
    var timeout = CollectiveTimeout.standard
    /// What the ranks are doing, named in the line a timed-out rank prints.
    var activity = "starting"
    private let comm: MPI_Comm
    private let rank: Int
    private let size: Int
    /// Collectives completed on this communicator: every rank counts the same ones.
    private var sequence: Int64 = 0

    private static let rollCallTag: Int32 = 7701
    private static let presentTag: Int32 = 7702
    private static let busyPollNanoseconds: UInt64 = 50_000
    private static let longestNapNanoseconds = 250_000

    init(comm: MPI_Comm, rank: Int, size: Int) {
        self.comm = comm
        self.rank = rank
        self.size = size
    }

    /// Starts a collective with `start` (which returns an MPI error code and fills the request)
    /// and waits for it to complete on this rank, at most `timeout`.
    func run(_ operation: String, _ start: (UnsafeMutablePointer<MPI_Request?>) -> Int32) throws {
        var request: MPI_Request? = ttl_mpi_request_null()
        try check(start(&request), operation)
        sequence += 1
        let started = DispatchTime.now().uptimeNanoseconds
        let deadline = started + UInt64(timeout.seconds * 1e9)
        var nap = 1_000
        while true {
            var done: Int32 = 0
            try check(MPI_Test(&request, &done, ttl_mpi_status_ignore()), operation)
            if done != 0 { return }
            if let caller = heardRollCall() {
                endJob(operation, waitedSince: started, heardFrom: caller)
            }
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= deadline { endJob(operation, waitedSince: started, heardFrom: nil) }
            if now - started < Self.busyPollNanoseconds { continue }
            usleep(UInt32(nap / 1000))
            nap = min(nap * 2, Self.longestNapNanoseconds)
        }
    }

    /// The rank of a peer that gave up on the current collective, if its roll call has arrived.
    private func heardRollCall() -> Int? {
        guard size > 1 else { return nil }
        var flag: Int32 = 0
        var status = MPI_Status()
        guard MPI_Iprobe(ttl_mpi_any_source(), Self.rollCallTag, comm, &flag, &status) == ttl_mpi_success(), flag != 0
        else { return nil }
        return Int(status.MPI_SOURCE)
    }

    /// Holds the roll call, prints the line and ends the job on every rank.
    private func endJob(_ operation: String, waitedSince started: UInt64, heardFrom caller: Int?) -> Never {
        let waited = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let absent = rollCall(knownPresent: caller.map { [$0] } ?? [])
        let missing =
            absent.isEmpty
            ? "every rank answered the roll call, yet the collective did not complete"
            : "no answer from rank\(absent.count == 1 ? "" : "s") \(absent.map(String.init).joined(separator: ", "))"
        let cause = caller.map { "rank \($0) gave up waiting" } ?? "a peer is lost or stalled (\(timeout))"
        let message =
            "\(activity): \(operation) waited \(CollectiveTimeout.format((waited * 10).rounded() / 10)) s; \(cause); "
            + "\(missing); ending the job (exit status \(CollectiveTimeout.exitCode))"
        FileHandle.standardError.write(Data("ttl-train: rank \(rank) of \(size): \(message)\n".utf8))
        fflush(nil)
        MPI_Abort(comm, CollectiveTimeout.exitCode)
        exit(CollectiveTimeout.exitCode)
    }

    /// Tells every other rank that this one gives up on collective `sequence`, and collects for a
    /// few seconds who is still there: ranks that answer, or that hold a roll call of their own.
    /// Returns the ranks that stayed silent.
    private func rollCall(knownPresent: [Int]) -> [Int] {
        guard size > 1 else { return [] }
        var present = Set(knownPresent + [rank])
        // Buffers of messages that are never waited for: they must outlive the sends, and the
        // process ends before this function returns to anything that would reuse them.
        let outgoing = UnsafeMutablePointer<Int64>.allocate(capacity: 1)
        outgoing.pointee = sequence
        var request: MPI_Request? = ttl_mpi_request_null()
        for peer in 0..<size where peer != rank {
            _ = MPI_Isend(outgoing, 1, ttl_mpi_int64(), Int32(peer), Self.rollCallTag, comm, &request)
        }
        let grace = UInt64(min(5, max(1, timeout.seconds / 10)) * 1e9)
        let end = DispatchTime.now().uptimeNanoseconds + grace
        var incoming: Int64 = 0
        while present.count < size && DispatchTime.now().uptimeNanoseconds < end {
            for tag in [Self.rollCallTag, Self.presentTag] {
                var flag: Int32 = 0
                var status = MPI_Status()
                guard MPI_Iprobe(ttl_mpi_any_source(), tag, comm, &flag, &status) == ttl_mpi_success(), flag != 0 else {
                    continue
                }
                let peer = status.MPI_SOURCE
                _ = MPI_Recv(&incoming, 1, ttl_mpi_int64(), peer, tag, comm, ttl_mpi_status_ignore())
                present.insert(Int(peer))
                if tag == Self.rollCallTag {
                    _ = MPI_Isend(outgoing, 1, ttl_mpi_int64(), peer, Self.presentTag, comm, &request)
                }
            }
            usleep(1000)
        }
        return (0..<size).filter { !present.contains($0) }
    }

    private func check(_ code: Int32, _ operation: String) throws {
        guard code != ttl_mpi_success() else { return }
        throw CommunicatorError(operation: operation, rank: rank, message: MPIRuntime.errorString(code))
    }
}
