/// How long a collective may wait for its slowest rank before the job ends.
///
/// Across nodes, a peer can vanish without its process dying where Open MPI sees it: a host drops
/// off the network, a link stalls, a VM is stopped. A plain blocking collective then waits
/// forever, burning the allocation. Every collective of `MPICommunicator` instead waits at most
/// `seconds`; a peer that comes back sooner (a link down for a minute, a rank stopped and
/// continued) does no harm. On expiry the ranks that can still talk print one line each, naming
/// what they were doing and which ranks did not arrive, and the job ends with `exitCode` — the
/// newest checkpoint is untouched, so `--resume auto` continues it.
public struct CollectiveTimeout: Sendable, Equatable, CustomStringConvertible {
    /// The longest wait, in seconds.
    public var seconds: Double
    /// Where the value comes from, named in the line a timed-out rank prints (`comm.timeout_s`).
    public var setting: String

    public init(seconds: Double, setting: String) {
        self.seconds = seconds
        self.setting = setting
    }

    /// Exit status of a job ended by a timed-out collective (sysexits' EX_UNAVAILABLE: a peer
    /// is unavailable), distinct from a failure (1) and a stop by signal (75), so that a
    /// launcher can tell a lost peer from a broken job.
    public static let exitCode: Int32 = 69

    /// Before a job sets its own (tools, and the start of a run before its spec is read).
    public static let standard = CollectiveTimeout(seconds: 600, setting: "the default collective timeout")

    /// The range a job may set: long enough for the slowest honest step, short of overflowing
    /// a deadline in nanoseconds.
    public static let allowedSeconds: ClosedRange<Double> = 0.1...31_536_000

    public var description: String { "\(setting) = \(Self.format(seconds)) s" }

    /// Seconds as short text: `600`, `2.5`.
    public static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds))" : "\(seconds)"
    }
}
