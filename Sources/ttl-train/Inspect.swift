import ArgumentParser
import Foundation
import Training

/// `ttl-train inspect C.h5`: a checkpoint's state and adapters, verified, without the model.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a checkpoint (step, data cursor, base model, adapters) after verifying every dataset's checksum.")

    @Argument(help: ArgumentHelp("The checkpoint (HDF5).", valueName: "checkpoint.h5"))
    var checkpoint: String

    @Flag(help: "Also print one line per adapter target: rank, α, and each tensor's shape, norm and kept entries.")
    var targets = false

    func run() throws {
        let summary = try Checkpoint.summary(of: checkpoint)
        let state = summary.state
        let tensors = summary.adapters.flatMap(\.tensors)
        let kept = tensors.compactMap { $0.mask?.reduce(0) { $0 + Int($1) } }
        let rows: [(String, String)] = [
            ("checkpoint", checkpoint), ("format", "\(Checkpoint.fileFormat.name) v\(Checkpoint.fileFormat.version)"),
            ("step", "\(state.step)"), ("epoch", "\(state.epoch)"), ("data_cursor", "\(state.dataCursor)"),
            ("tokens_seen", "\(state.tokensSeen)"), ("world_size", "\(state.worldSize)"), ("seed", "\(state.seed)"),
            ("model_fingerprint", state.modelFingerprint), ("job", Self.jobName(state.jobSpec)),
            ("adapter_kind", summary.adapterKind), ("adapter_targets", "\(summary.adapters.count)"),
            ("adapter_parameters", "\(summary.adapterParameters)"),
            ("trainable_parameters", kept.isEmpty ? "\(summary.adapterParameters)" : "\(kept.reduce(0, +))"),
            ("adapter_norm", String(format: "%.6g", Self.norm(tensors.flatMap(\.values)))),
            ("optimizer_steps", "\(summary.optimizerSteps)"),
            ("verified", "\(summary.datasets) datasets, checksums ok"),
        ]
        for (key, value) in rows { print("\(key)=\(value)") }
        guard targets else { return }
        for adapter in summary.adapters {
            let parts = adapter.tensors.map { tensor in
                "\(tensor.name) \(tensor.shape.map(String.init).joined(separator: "×")) norm " + String(format: "%.4g", Self.norm(tensor.values))
                    + (tensor.mask.map { " kept \($0.reduce(0) { $0 + Int($1) })" } ?? "")
            }
            print("target \(adapter.target): rank \(adapter.rank), alpha \(adapter.alpha), " + parts.joined(separator: ", "))
        }
    }

    private static func norm(_ values: [Float]) -> Double {
        values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    }

    /// The `name` of the job spec the run used.
    private static func jobName(_ text: String) -> String {
        (try? JobSpec.parse(text, file: "job_spec"))?.name ?? "(unreadable job spec)"
    }
}
