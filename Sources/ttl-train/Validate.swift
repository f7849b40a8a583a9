import Adapters
import Foundation
import ArgumentParser
import Training

/// `ttl-train validate JOB.yaml`: everything that can be checked without training.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a job spec against its model and data; print the resolved spec, batch split per world size and adapter size.")

    @OptionGroup var options: JobOptions

    func run() throws {
        let spec = try options.load()
        let resolved = try spec.resolve(file: options.job)
        let rows = spec.settings + [
            ("train_examples", "\(resolved.train.count)"),
            ("epochs", String(format: "%.2f", Double(spec.schedule.totalSteps * spec.batch.global) / Double(resolved.train.count))),
        ]
        for (key, value) in rows { print("\(key)=\(value)") }
        for world in 1...8 {
            let split = (try? spec.accumulation(worldSize: world)).map { "\($0) micro-batch(es) of \(spec.batch.micro) per rank per step" }
            print("world_size_\(world)=\(split ?? "refused: \(spec.batch.global) is not a multiple of \(world) × \(spec.batch.micro)")")
        }
        let trainable = resolved.layout.trainableCount
        print("adapter_parameters=\(resolved.layout.parameterCount)")
        print("trainable_parameters=\(trainable)")
        print("reduced_bytes_per_step=\(GradientReducer.bytesPerStep(count: trainable, mode: spec.reduction))")
    }
}
