import Dispatch
import Foundation
import Synchronization

/// Preemption (Slurm's SIGTERM), Ctrl-C (SIGINT) and `kill -USR1 <mpirun>` turned into a request
/// to stop at the next step boundary: the trainer finishes the step, all ranks agree to stop, rank
/// 0 writes a checkpoint and the run ends with `exitCode`, so a requeued job continues with
/// `--resume auto`. A second signal ends the process at once.
///
/// SIGUSR1 is here because `mpirun` forwards it to every rank as it is, whereas it answers its own
/// SIGTERM by killing the ranks a second later — too soon to finish a step.
public final class StopRequest: @unchecked Sendable {
    /// The exit status of a run stopped by a signal after writing its checkpoint (EX_TEMPFAIL:
    /// "try again later"), distinct from success (0) and failure (1).
    public static let exitCode: Int32 = 75
    public static let signals: [Int32] = [SIGTERM, SIGINT, SIGUSR1]

    private let received = Atomic<Int32>(0)
    private var sources: [DispatchSourceSignal] = []

    /// A request that only `request(signal:)` sets (tests, embedding).
    public init() {}

    /// Listens for `signals`; `announce` gets one line when the first arrives.
    public static func listening(announce: @escaping @Sendable (String) -> Void) -> StopRequest {
        let request = StopRequest()
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [request] in
                if request.request(signal: number) {
                    announce("got \(signalName(number)): stopping after this step with a checkpoint (send it again to stop at once)")
                } else {
                    _exit(128 + number)
                }
            }
            source.resume()
            request.sources.append(source)
        }
        return request
    }

    deinit {
        guard !sources.isEmpty else { return }
        for source in sources { source.cancel() }
        for number in Self.signals { signal(number, SIG_DFL) }
    }

    /// Records `signal`; false if a stop was requested already.
    @discardableResult
    public func request(signal: Int32) -> Bool {
        received.compareExchange(expected: 0, desired: signal, ordering: .relaxed).exchanged
    }

    /// The signal that asked to stop (0: none yet).
    public var receivedSignal: Int32 { received.load(ordering: .relaxed) }

    public static func signalName(_ number: Int32) -> String {
        switch number {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGUSR1: "SIGUSR1"
        default: "signal \(number)"
        }
    }
}
