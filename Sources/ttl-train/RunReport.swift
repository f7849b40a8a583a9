import Foundation
import Kernels
import Training

/// What `train` says about a run before its first step and after its last, on rank 0: enough to
/// tell from a log alone what ran where (version, ranks and hosts, threads, BLAS kernel, model
/// and fingerprint, adapter and its size, bytes reduced per step, the schedule) and how it ended.
enum RunReport {
    /// The lines printed before training. `hosts` lists every rank's host name, in rank order.
    static func banner(trainer: Trainer, hosts: [String], threads: Int, resume: ResumeMode) -> [String] {
        let spec = trainer.spec
        let resolved = trainer.resolved
        var ranksPerHost: [(String, Int)] = []
        for host in hosts {
            if let index = ranksPerHost.firstIndex(where: { $0.0 == host }) { ranksPerHost[index].1 += 1 } else { ranksPerHost.append((host, 1)) }
        }
        let placement = ranksPerHost.map { "\($0.0) ×\($0.1)" }.joined(separator: ", ")
        let config = resolved.model.config
        let adapter = spec.adapter
        let targets = adapter.targets.map(\.rawValue).joined(separator: ",")
        let layers = adapter.layers.map { "layers \($0.map(String.init).joined(separator: ","))" } ?? "all \(config.layerCount) layers"
        let trainable = resolved.layout.trainableCount
        let resumeText: String
        switch resume {
        case .fresh: resumeText = "fresh start"
        case .auto: resumeText = "resume auto (newest checkpoint that verifies, else fresh)"
        case .checkpoint(let path): resumeText = "resume from \(path)"
        }
        return [
            "ttl-train \(TTLTrainVersion.string): \(hosts.count) rank\(hosts.count == 1 ? "" : "s") on \(placement); \(threads) thread\(threads == 1 ? "" : "s") per rank; "
                + "BLAS \(ComputePlatform.blasCore) (chosen by \(ComputePlatform.blasCoreChosenBy)), kernels \(ComputePlatform.kernelPath)"
                + (ComputePlatform.kernelPathChosenBy == "user" ? " (capped by \(ComputePlatform.isaCeilingVariable))" : ""),
            "model \(spec.model) (\(resolved.model.fingerprint)): \(config.layerCount) layers, \(config.parameterCount) parameters",
            "adapter \(adapter.kind.rawValue) rank \(adapter.rank) alpha \(adapter.alpha) on \(targets), \(layers): \(trainable) trainable parameters, "
                + "\(GradientReducer.bytesPerStep(count: trainable, mode: spec.reduction)) bytes reduced per step (\(spec.reduction.rawValue))",
            "job \(spec.name): \(spec.schedule.totalSteps) steps of \(spec.batch.global) examples from \(resolved.train.count) (\(spec.task.rawValue)); "
                + "output \(spec.output); \(resumeText)",
        ]
    }

    /// The closing summary of a run that reached its last step, with each rank's peak resident
    /// set (`peakResidentBytes`, by rank) and how many ranks mapped each copy of the base.
    static func summary(_ outcome: RunOutcome, output: String, peakResidentBytes: [Int], weightSharers: Int) -> String {
        let ran = outcome.state.step - outcome.firstStep
        let rate = outcome.seconds > 0 ? Double(outcome.processedTokens) / outcome.seconds : 0
        var parts = [String(format: "%d steps (%d this run) in %.1f s, %.0f tokens/s", outcome.state.step, ran, outcome.seconds, rate),
                     "\(outcome.state.tokensSeen) supervised tokens"]
        if let eval = outcome.lastEval {
            parts.append(String(format: "final eval loss %.4f", eval.loss) + (eval.accuracy.map { String(format: " accuracy %.4f", $0) } ?? ""))
        }
        parts.append("newest checkpoint \(outcome.checkpoint ?? "none")")
        let peaks = peakResidentBytes.map { "\(ProcessMemory.mebibytes($0))" }.joined(separator: ", ")
        parts.append("peak RSS per rank \(peaks) MB" + (weightSharers > 1 ? " (base weights shared by \(weightSharers) ranks)" : ""))
        return "done: " + parts.joined(separator: ", ") + "; files in \(output)"
    }
}
