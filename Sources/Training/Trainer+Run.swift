import Distributed
import Foundation

/// Where a run starts.
public enum ResumeMode: Equatable, Sendable {
    /// A fresh run; refused if the output already has checkpoints.
    case fresh
    /// The newest checkpoint that verifies, or fresh if there is none.
    case auto
    case checkpoint(String)
}

/// How a run ended without an error.
public struct RunOutcome: Sendable {
    public var state: TrainingState
    /// The step this run started from (0 for a fresh run).
    public var firstStep: Int
    /// Wall time of the steps, evaluations and checkpoints of this run.
    public var seconds: Double
    /// Tokens the ranks ran through the model in this run.
    public var processedTokens: Int
    /// The last evaluation of this run: loss, and accuracy for classification.
    public var lastEval: (loss: Double, accuracy: Double?)?
    /// The newest checkpoint written by the run (rank 0; nil elsewhere).
    public var checkpoint: String?
    /// The signal that stopped the run early, after its checkpoint; nil when it reached
    /// `schedule.total_steps`.
    public var stoppedBy: Int32?
}

extension Trainer {
    public var checkpointDirectory: String { spec.checkpointDirectory }
    public var metricsPath: String { (spec.output as NSString).appendingPathComponent("metrics.h5") }

    /// Trains from where `resume` says to `schedule.total_steps`, logging metrics and writing
    /// checkpoints on rank 0 and evaluating on all ranks. A signal recorded in `stop` on any rank
    /// ends the run at the next step boundary with a checkpoint. `report` gets rank 0's progress.
    /// `restart` says why a launcher started the run again; metrics.h5 records it.
    @discardableResult
    public func run(
        resume: ResumeMode, allowChanges: Bool = false, stop: StopRequest = StopRequest(), restart: String? = nil,
        report: (TrainingProgress) -> Void
    ) throws -> RunOutcome {
        var (state, acceptedChanges) = try communicator.agreeing {
            try startingState(resume: resume, allowChanges: allowChanges, report: report)
        }
        let description = MetricsLog.RunDescription(
            job: spec.name, adapterKind: spec.adapter.kind.rawValue,
            trainableParameters: resolved.layout.trainableCount,
            reducedBytesPerStep: GradientReducer.bytesPerStep(
                count: resolved.layout.trainableCount, mode: spec.reduction),
            worldSize: communicator.size, evalExamples: min(spec.evalExamples, resolved.evaluation.count))
        let log = try communicator.onRoot {
            try MetricsLog(
                path: metricsPath, resumeStep: state.step > 0 ? state.step : nil, run: description,
                specChanges: acceptedChanges.map(\.description), restart: restart)
        }
        defer { try? log?.close() }

        let total = spec.schedule.totalSteps
        let firstStep = state.step
        communicator.timeout = spec.comm.timeout
        let started = DispatchTime.now().uptimeNanoseconds
        var checkpoint: String?
        var processedTokens = 0
        var lastEval: (loss: Double, accuracy: Double?)?
        func outcome(stoppedBy signal: Int32?) -> RunOutcome {
            RunOutcome(
                state: state, firstStep: firstStep, seconds: Self.seconds(since: started),
                processedTokens: processedTokens,
                lastEval: lastEval, checkpoint: checkpoint, stoppedBy: signal)
        }
        while state.step < total {
            let stepStarted = DispatchTime.now().uptimeNanoseconds
            let result: StepResult
            do {
                result = try step(state.step)
            } catch var diverged as DivergenceError {
                diverged.lastCheckpoint = Checkpoint.list(checkpointDirectory).first
                throw diverged
            }
            let seconds = Self.seconds(since: stepStarted)
            state.step += 1
            state.tokensSeen += result.tokens
            processedTokens += result.processedTokens
            state.dataCursor = state.step * spec.batch.global
            state.epoch = state.dataCursor / resolved.train.count
            let rate = spec.schedule.rate(at: state.step - 1)
            let tokensPerSecond = Double(result.processedTokens) / seconds
            communicator.activity = "after step \(state.step)"
            try communicator.onRoot {
                try log?.appendTrain(
                    step: state.step, loss: result.loss, learningRate: rate, gradNorm: result.gradNorm,
                    tokensPerSecond: tokensPerSecond, seconds: seconds)
            }
            let pace = Self.seconds(since: started) / Double(state.step - firstStep)
            if communicator.isRoot {
                report(
                    .step(
                        StepProgress(
                            step: state.step, totalSteps: total, loss: result.loss, learningRate: rate,
                            gradNorm: result.gradNorm,
                            tokensPerSecond: tokensPerSecond, secondsLeft: pace * Double(total - state.step))))
            }
            let stopping = try communicator.allreduce(stop.receivedSignal, .max)
            let last = state.step == total
            if state.step % spec.evalEvery == 0 || last {
                let (loss, accuracy) = try communicator.during("evaluation after step \(state.step)") {
                    try evaluate(split: spec.evalSplit, examples: spec.evalExamples)
                }
                lastEval = (loss, accuracy)
                try communicator.onRoot {
                    try log?.appendEval(step: state.step, loss: loss, accuracy: accuracy ?? .nan)
                }
                if communicator.isRoot {
                    report(
                        .note(
                            String(format: "eval step %d  loss %.4f", state.step, loss)
                                + (accuracy.map { String(format: "  accuracy %.4f", $0) } ?? "")))
                }
            }
            if state.step % spec.checkpointEvery == 0 || last || stopping != 0 {
                checkpoint = try communicator.during("checkpoint of step \(state.step)") {
                    try writeCheckpoint(state, report: report)
                }
            }
            if stopping != 0 {
                if communicator.isRoot {
                    report(.note("stopped by \(StopRequest.signalName(stopping)) after step \(state.step) of \(total)"))
                }
                return outcome(stoppedBy: stopping)
            }
        }
        return outcome(stoppedBy: nil)
    }

    /// Rank 0 writes the checkpoint; the others wait for it, so that a rank that fails after this
    /// point never leaves the run without the checkpoint it announced.
    private func writeCheckpoint(_ state: TrainingState, report: (TrainingProgress) -> Void) throws -> String? {
        try communicator.onRoot {
            let started = DispatchTime.now().uptimeNanoseconds
            let path = try Checkpoint.write(
                to: checkpointDirectory, state: state, adapters: adapters, optimizer: optimizer,
                keep: spec.checkpointKeep)
            report(.note("checkpoint \(path) " + String(format: "(%.0f ms)", Self.seconds(since: started) * 1000)))
            return path
        }
    }

    private static func seconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// The state the run starts from, and the settings that changed the math since its
    /// checkpoint (allowed with `allowChanges`; empty for a fresh start).
    private func startingState(
        resume: ResumeMode, allowChanges: Bool,
        report: (TrainingProgress) -> Void
    ) throws -> (TrainingState, [JobSpec.Change]) {
        let fresh = TrainingState(
            step: 0, epoch: 0, dataCursor: 0, tokensSeen: 0, worldSize: communicator.size, seed: spec.seed,
            modelFingerprint: resolved.model.fingerprint, jobSpec: spec.text)
        let fingerprint = resolved.model.fingerprint
        let total = spec.schedule.totalSteps
        if let obstacle = Checkpoint.obstacles(in: checkpointDirectory).first {
            throw TrainerError(
                problem:
                    "\(obstacle) is a directory named like a checkpoint; move it away (it would block that step's "
                        + "checkpoint)"
            )
        }
        switch resume {
        case .fresh:
            guard Checkpoint.list(checkpointDirectory).isEmpty else {
                throw TrainerError(
                    problem:
                        "\(spec.output) has checkpoints already: pass --resume auto to continue, or choose another "
                            + "output"
                )
            }
            return (fresh, [])
        case .checkpoint(let path):
            let state = try Checkpoint.read(
                path, into: adapters, optimizer: optimizer, modelFingerprint: fingerprint, maxStep: total)
            if communicator.isRoot { report(.note("resuming from \(path) at step \(state.step)")) }
            return try continuing(state, from: path, allowChanges: allowChanges, report: report)
        case .auto:
            guard
                let found = Checkpoint.resumeNewest(
                    in: checkpointDirectory, adapters: adapters, optimizer: optimizer,
                    modelFingerprint: fingerprint, maxStep: total)
            else {
                if communicator.isRoot {
                    report(.note("no usable checkpoint in \(checkpointDirectory): starting fresh"))
                }
                return (fresh, [])
            }
            if communicator.isRoot {
                for reason in found.skipped { report(.note("skipped \(reason)")) }
                report(.note("resuming from \(found.path) at step \(found.state.step)"))
            }
            return try continuing(found.state, from: found.path, allowChanges: allowChanges, report: report)
        }
    }

    /// The state a resume continues with: this run's world size and spec, after comparing the
    /// spec with the one `checkpoint` was trained with. Every difference is reported; one that
    /// changes what the remaining steps compute (a longer schedule makes the learning rate jump,
    /// another seed another data order) is refused unless `allowChanges`, and then recorded.
    private func continuing(
        _ resumed: TrainingState, from checkpoint: String, allowChanges: Bool,
        report: (TrainingProgress) -> Void
    ) throws -> (TrainingState, [JobSpec.Change]) {
        let trained = try JobSpec.parse(resumed.jobSpec, file: "\(checkpoint) (its job_spec)")
        let changes = spec.changes(from: trained)
        let math = changes.filter(\.changesTheMath)
        if !math.isEmpty && !allowChanges {
            throw TrainerError(
                problem: "\(checkpoint) was trained with other settings that change the run's math: "
                    + math.map(\.description).joined(separator: ", ")
                    + "; resume with the checkpoint's settings, or pass --allow-changes to continue with these")
        }
        if communicator.isRoot {
            for change in changes {
                report(.note("changed since the checkpoint: \(change)" + (change.changesTheMath ? " (allowed)" : "")))
            }
        }
        var state = resumed
        state.worldSize = communicator.size
        state.jobSpec = spec.text
        return (state, math)
    }
}
