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

extension Trainer {
    public var checkpointDirectory: String { (spec.output as NSString).appendingPathComponent("checkpoints") }
    public var metricsPath: String { (spec.output as NSString).appendingPathComponent("metrics.h5") }

    /// Trains from where `resume` says to `schedule.total_steps`, logging metrics, evaluating and
    /// checkpointing on rank 0; `report` gets the progress lines (rank 0). Returns the final state.
    @discardableResult
    public func run(resume: ResumeMode, report: (String) -> Void) throws -> TrainingState {
        var state = try startingState(resume: resume, report: report)
        let log = communicator.isRoot ? try MetricsLog(path: metricsPath, resumeStep: state.step > 0 ? state.step : nil) : nil
        defer { try? log?.close() }
        let total = spec.schedule.totalSteps
        while state.step < total {
            let started = DispatchTime.now().uptimeNanoseconds
            let (loss, gradNorm, tokens, processed) = try step(state.step)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            state.step += 1
            state.tokensSeen += tokens
            state.dataCursor = state.step * spec.batch.global
            state.epoch = state.dataCursor / resolved.train.count
            let rate = spec.schedule.rate(at: state.step - 1)
            try log?.appendTrain(step: state.step, loss: loss, learningRate: rate, gradNorm: gradNorm,
                                 tokensPerSecond: Double(processed) / seconds, seconds: seconds)
            if communicator.isRoot {
                report(String(format: "step %d/%d  loss %.4f  lr %.2e  grad_norm %.3f  %.0f tok/s", state.step, total, loss, rate, gradNorm,
                              Double(processed) / seconds))
            }
            let last = state.step == total
            if communicator.isRoot, state.step % spec.evalEvery == 0 || last {
                let (evalLoss, accuracy) = try evaluate(split: spec.evalSplit, examples: spec.evalExamples)
                try log?.appendEval(step: state.step, loss: evalLoss, accuracy: accuracy ?? .nan)
                report(String(format: "eval step %d  loss %.4f", state.step, evalLoss) + (accuracy.map { String(format: "  accuracy %.4f", $0) } ?? ""))
            }
            if communicator.isRoot, state.step % spec.checkpointEvery == 0 || last {
                let path = try Checkpoint.write(to: checkpointDirectory, state: state, adapters: adapters, optimizer: optimizer, keep: spec.checkpointKeep)
                report("checkpoint \(path)")
            }
            try communicator.barrier()
        }
        return state
    }

    private func startingState(resume: ResumeMode, report: (String) -> Void) throws -> TrainingState {
        let fresh = TrainingState(step: 0, epoch: 0, dataCursor: 0, tokensSeen: 0, worldSize: communicator.size, seed: spec.seed,
                                  modelFingerprint: resolved.model.fingerprint, jobSpec: spec.text)
        let fingerprint = resolved.model.fingerprint
        switch resume {
        case .fresh:
            guard Checkpoint.list(checkpointDirectory).isEmpty else {
                throw TrainerError(problem: "\(spec.output) has checkpoints already: pass --resume auto to continue, or choose another output")
            }
            return fresh
        case .checkpoint(let path):
            var state = try Checkpoint.read(path, into: adapters, optimizer: optimizer, modelFingerprint: fingerprint)
            state.worldSize = communicator.size
            if communicator.isRoot { report("resuming from \(path) at step \(state.step)") }
            return state
        case .auto:
            guard let found = Checkpoint.resumeNewest(in: checkpointDirectory, adapters: adapters, optimizer: optimizer, modelFingerprint: fingerprint) else {
                if communicator.isRoot { report("no usable checkpoint in \(checkpointDirectory): starting fresh") }
                return fresh
            }
            if communicator.isRoot {
                for reason in found.skipped { report("skipped \(reason)") }
                report("resuming from \(found.path) at step \(found.state.step)")
            }
            var state = found.state
            state.worldSize = communicator.size
            return state
        }
    }
}
