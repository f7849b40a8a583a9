import Foundation
import Training

/// Prints a run's progress on standard output: on a terminal the step line is rewritten in place
/// and notes are printed above it; otherwise (a log file, Slurm's output, a pipe) every step is a
/// plain line of its own, so the log reads top to bottom.
final class ProgressPrinter {
    private let interactive: Bool
    private var stepLineShown = false

    init(interactive: Bool = ProgressPrinter.outputIsATerminal) {
        self.interactive = interactive
    }

    /// Whether the user watches standard output on a terminal. Under mpirun a rank's output is
    /// always a pseudo-terminal that mpirun relays, so there the question is where mpirun's own
    /// output goes.
    static var outputIsATerminal: Bool {
        guard isatty(STDOUT_FILENO) != 0 else { return false }
        guard ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil else { return true }
        let launcherOutput = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(getppid())/fd/1")) ?? ""
        return launcherOutput.hasPrefix("/dev/pts/") || launcherOutput.hasPrefix("/dev/tty")
    }

    func show(_ progress: TrainingProgress) {
        switch (progress, interactive) {
        case (.step(let step), true):
            write("\r\u{1B}[K\(step)")
            stepLineShown = true
        case (.note(let note), true) where stepLineShown:
            write("\n\(note)\n")
            stepLineShown = false
        default:
            write("\(progress)\n")
        }
    }

    /// Ends a step line left open, before other output follows.
    func finish() {
        if stepLineShown { write("\n") }
        stepLineShown = false
    }

    private func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
