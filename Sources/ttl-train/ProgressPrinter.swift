import Foundation
import Training

/// Prints a run's progress on standard output: on a terminal the step line is rewritten in place
/// and notes are printed above it; otherwise (a log file, Slurm's output, a pipe) every step is a
/// plain line of its own, so the log reads top to bottom.
final class ProgressPrinter {
    private let interactive: Bool
    private var stepLineShown = false

    init(interactive: Bool = isatty(STDOUT_FILENO) != 0) {
        self.interactive = interactive
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
