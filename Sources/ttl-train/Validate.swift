import Adapters
import Foundation
import ArgumentParser
import Training

/// `ttl-train validate JOB.yaml`: everything that can be checked without training.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a job spec against its model and data; print the resolved spec, batch split per world size, adapter size and memory.",
        discussion: """
            memory_* estimates what the job will hold: the frozen weights once per node (the ranks of a \
            node share one copy), and per rank the activations at micro × max_length tokens (kept for \
            every layer, or with memory: {recompute: true} one layer's), the adapters and AdamW's \
            moments; memory_per_node_mb_N is a node running N ranks. Process overheads (the runtime, \
            MPI, HDF5: ~100–200 MB a process) come on top.
            """)

    @OptionGroup var options: JobOptions

    func run() throws {
        let spec = try options.load()
        for note in try JobData.prepare(spec, file: options.job) { print(note) }
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
        let memory = JobMemory(spec: spec, resolved: resolved)
        func mb(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1_048_576) }
        print("memory_weights_mb=\(mb(memory.weightBytes))")
        print("memory_activations_mb=\(mb(memory.storedActivationBytes))")
        print("memory_activations_recompute_mb=\(mb(memory.recomputedActivationBytes))")
        print("memory_adapter_state_mb=\(mb(memory.adapterStateBytes))")
        print("memory_per_rank_mb=\(mb(memory.perRankBytes))")
        for ranks in [1, 2, 4, 8] { print("memory_per_node_mb_\(ranks)=\(mb(memory.perNodeBytes(ranks: ranks)))") }
    }
}
