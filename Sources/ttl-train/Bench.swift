import Adapters
import ArgumentParser
import Dispatch
import Distributed
import Foundation
import Kernels
import Llama

/// `ttl-train bench`: throughput of the model on this machine, as `key=value` lines.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure sgemm peak, forward and train tokens/s and MFU on a model.",
        discussion: """
            train = forward + activation backward with every position supervised (what adapter \
            training costs). mfu = model matmul FLOPs / time / measured sgemm peak at the same \
            thread count. With --adapter, the train step is timed with and without the adapters \
            and adapter_overhead is the extra fraction of step time. weight_bytes is what the base \
            weights take in memory as stored (quantized blocks stay blocks; see ttl-train quantize), \
            peak_rss_mb the largest resident set of rank 0 (rank_peak_rss_mb: of each rank), pss_mb \
            the proportional set size summed over the ranks — what they cost together, the node's \
            one shared copy of the weights counted once (weight_sharers ranks map it). Under mpirun, give --bind-to none for \
            more than one thread per rank.
            """)

    @OptionGroup var model: ModelOptions

    @OptionGroup var threads: ThreadOptions

    @Option(name: .long, help: "Sequences per batch.")
    var batch = 4

    @Option(name: .long, help: "Tokens per sequence.")
    var seq = 128

    @Option(name: .long, help: "Minimum seconds to time each measurement.")
    var seconds = 5.0

    @Flag(name: .long, help: "Recompute each layer's activations in backward from its saved input (a job's memory: {recompute: true}).")
    var recompute = false

    @OptionGroup var adapter: AdapterOptions

    func validate() throws {
        guard batch >= 1, seq >= 2, seconds > 0 else {
            throw ValidationError("--batch must be ≥ 1, --seq ≥ 2, --seconds > 0")
        }
    }

    func run() throws {
        let file = try model.open()
        let config = file.config
        guard seq <= config.contextLength else {
            throw CommandError("--seq \(seq) exceeds the model's context of \(config.contextLength) tokens")
        }
        threads.apply()
        let peak = measureSgemm(rows: batch * seq, inFeatures: config.hiddenSize, outFeatures: config.intermediateSize)
        let world = try MPICommunicator.world()
        let weights = try LlamaWeights(file: file, memory: try world.nodeWeightMemory())
        let llama = LlamaModel(weights: weights, maxTokens: batch * seq, maxSequenceLength: seq, trainable: true, recompute: recompute)
        var generator = SplitMix64(seed: 1)
        let sequences = (0..<batch).map { _ in (0..<seq).map { _ in Int32(generator.next() % UInt64(config.vocabSize)) } }
        let tokens = TokenBatch(sequences: sequences)
        let targets = (0..<tokens.count).map { LossTarget(row: $0, token: tokens.tokens[($0 + 1) % tokens.count]) }

        let forward = try time {
            try llama.forward(tokens)
            _ = try llama.crossEntropy(targets)
        }
        let trainStep = {
            try llama.forward(tokens)
            _ = try llama.crossEntropy(targets, gradientScale: 1)
            llama.backward()
        }
        let train = try time(trainStep)
        var adapterLines: [String] = []
        if let spec = try adapter.spec() {
            let adapters = AdapterSet(layout: try AdapterLayout(spec: spec, config: config), maxRows: seq)
            adapters.initialize(seed: 1, model: llama)
            if let schedule = spec.sparsity { adapters.prune(step: schedule.endStep) }
            llama.linearHook = adapters
            let adapted = try time(trainStep)
            adapterLines = [
                "adapter=\(spec.kind.rawValue)",
                "adapter_parameters=\(adapters.trainableCount)",
                "adapter_reduced_bytes_per_step=\(adapters.trainableCount * MemoryLayout<Float>.size)",
                "adapted_train_tokens_per_s=\(format(Double(tokens.count) / adapted))",
                "adapter_overhead=\(format(adapted / train - 1, digits: 4))",
            ]
        }
        let count = Double(tokens.count)
        let linear = llama.weights.linearMultiplyAddsPerToken
        let forwardFLOPs = config.matmulFLOPsPerToken(sequenceLength: seq, training: false, linearMultiplyAdds: linear) * count
        let trainFLOPs = config.matmulFLOPsPerToken(sequenceLength: seq, training: true, linearMultiplyAdds: linear) * count
        let memory = try world.allgather([Int64(ProcessMemory.peakResidentBytes), Int64(ProcessMemory.proportionalSetBytes ?? -1)])
        guard world.isRoot else { return }
        for (key, value) in ComputePlatform.report { print("\(key)=\(value)") }
        print("ranks=\(world.size)")
        print("threads=\(threads.count)")
        print("batch=\(batch)")
        print("seq=\(seq)")
        print("sgemm_gflops=\(format(peak / 1e9))")
        print("forward_tokens_per_s=\(format(count / forward))")
        print("train_tokens_per_s=\(format(count / train))")
        print("forward_mfu=\(format(forwardFLOPs / forward / peak, digits: 3))")
        print("mfu=\(format(trainFLOPs / train / peak, digits: 3))")
        print("weight_storage=\(file.storageDescription)")
        print("weight_bytes=\(weights.byteCount)")
        print("weight_sharers=\(weights.sharers)")
        print("recompute=\(recompute)")
        print("activation_bytes=\(llama.activationBytes)")
        adapterLines.forEach { print($0) }
        print("peak_rss_mb=\(ProcessMemory.mebibytes(Int(memory[0][0])))")
        if world.size > 1 { print("rank_peak_rss_mb=" + memory.map { "\(ProcessMemory.mebibytes(Int($0[0])))" }.joined(separator: ",")) }
        if memory.allSatisfy({ $0[1] >= 0 }) {
            print("pss_mb=\(ProcessMemory.mebibytes(Int(memory.reduce(0) { $0 + $1[1] })))")
        }
    }

    /// Seconds per call of `body`: one warm-up call, then calls until `seconds` have passed.
    private func time(_ body: () throws -> Void) throws -> Double {
        try body()
        var calls = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            try body()
            calls += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds || calls < 2
        return elapsed / Double(calls)
    }

    /// FLOP/s of the row-stable GEMM at the model's largest layer shape (`x·Wᵀ` with W = gate_proj),
    /// the weight in panels as the model keeps it: the peak the model's MFU is measured against.
    private func measureSgemm(rows: Int, inFeatures: Int, outFeatures: Int) -> Double {
        let x = FloatBuffer(count: rows * inFeatures)
        let w = FloatBuffer(count: WeightPanels.floatCount(rows: outFeatures, columns: inFeatures))
        let y = FloatBuffer(count: rows * outFeatures)
        for index in 0..<x.count { x.pointer[index] = Float(index % 13) * 0.01 }
        WeightPanels.pack((0..<outFeatures * inFeatures).map { Float($0 % 7) * 0.01 }, rows: outFeatures, columns: inFeatures, into: w.pointer)
        let seconds = try! time {
            Matmul.linear(x.pointer, panels: w.pointer, into: y.pointer, rows: rows, inFeatures: inFeatures, outFeatures: outFeatures)
        }
        return 2 * Double(rows * inFeatures * outFeatures) / seconds
    }

    private func format(_ value: Double, digits: Int = 1) -> String {
        String(format: "%.\(digits)f", value)
    }
}
