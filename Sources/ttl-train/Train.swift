import ArgumentParser
import Distributed
import Foundation
import Kernels
import Training

/// `ttl-train train JOB.yaml` (or just `ttl-train JOB.yaml`), under `mpirun -np N` for N ranks.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the adapters a job spec describes (run under mpirun for several ranks).",
        discussion: """
            SIGTERM, SIGINT or SIGUSR1 on any rank stops the run after the current step with a checkpoint \
            and exit status \(StopRequest.exitCode); continue it with --resume auto. Under mpirun send SIGUSR1 \
            to mpirun (it forwards it to every rank; its own SIGTERM kills the ranks a second later).
            """)

    @OptionGroup var options: JobOptions

    @Option(
        help: ArgumentHelp(
            "Continue from 'auto' (the newest checkpoint that verifies, or a fresh start if there is none) or from a "
                + "checkpoint file.",
            valueName: "auto|path"))
    var resume: ResumeMode?

    @Flag(
        help: ArgumentHelp(
            "On resume, continue even if the job spec changed settings that alter the run's math (each change is "
                + "printed and recorded in metrics.h5).")
    )
    var allowChanges = false

    @Option(
        name: .customLong("restart-reason"),
        help: ArgumentHelp(
            "Why a launcher (cluster/ttl-launch.py) starts the run again; recorded in metrics.h5's restarts.",
            valueName: "text"))
    var restartReason: String?

    @OptionGroup var threads: ThreadOptions

    func run() throws {
        let world = try MPICommunicator.world()
        let threadCount = threads.count
        threads.apply()
        // Rank 0 imports JSON Lines data (the others wait for it), then every rank loads the job.
        let (spec, dataNotes) = try agreeing(world) {
            let spec = try options.load()
            return (spec, world.isRoot ? try JobData.prepare(spec, file: options.job) : [])
        }
        let (trainer, lock) = try agreeing(world) {
            let trainer = try Trainer(spec: spec, file: options.job, communicator: world)
            return (trainer, world.isRoot ? try OutputLock(directory: trainer.spec.output) : nil)
        }
        let mode = resume ?? .fresh
        let hosts = try world.allgather(Array(ProcessInfo.processInfo.hostName.utf8)).map {
            String(decoding: $0, as: UTF8.self)
        }
        let printer = ProgressPrinter()
        if world.isRoot {
            let banner = RunReport.banner(trainer: trainer, hosts: hosts, threads: threadCount, resume: mode)
            for line in banner + dataNotes { printer.show(.note(line)) }
        }
        let rank = world.rank
        let stop = StopRequest.listening { message in
            FileHandle.standardError.write(Data("ttl-train: rank \(rank): \(message)\n".utf8))
        }
        defer { withExtendedLifetime(lock) {} }
        do {
            let outcome = try trainer.run(resume: mode, allowChanges: allowChanges, stop: stop, restart: restartReason)
            {
                printer.show($0)
            }
            printer.finish()
            if let signal = outcome.stoppedBy {
                if world.isRoot {
                    print(
                        "stopped by \(StopRequest.signalName(signal)) at step \(outcome.state.step); continue with "
                            + "--resume auto"
                    )
                }
                throw ExitCode(StopRequest.exitCode)
            }
            let peaks = try world.allgather([Int64(ProcessMemory.peakResidentBytes)]).map { Int($0[0]) }
            if world.isRoot {
                print(
                    RunReport.summary(
                        outcome, output: trainer.spec.output, peakResidentBytes: peaks,
                        weightSharers: trainer.model.weights.sharers))
            }
        } catch let diverged as DivergenceError {
            // Every rank saw the same non-finite step and stops on its own: one message, no abort.
            printer.finish()
            throw world.isRoot ? diverged : ExitCode.failure
        } catch let shared as SharedFailure {
            // Every rank learned of rank 0's failed write at the same point: one message, no abort.
            printer.finish()
            throw shared.reported
        } catch let error where !(error is ExitCode) {
            printer.finish()
            if world.size > 1 { world.abort("\(error)", exitCode: 1) }
            throw error
        }
    }
}

/// `--resume auto` or `--resume PATH`.
extension ResumeMode: ExpressibleByArgument {
    public init?(argument: String) {
        self = argument == "auto" ? .auto : .checkpoint(argument)
    }
}
