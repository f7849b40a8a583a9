import Adapters
import ArgumentParser
import Foundation
import Llama

/// `ttl-train adapters`: what an adapter setting trains on a model, target by target.
struct AdaptersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "adapters",
        abstract: "Print the adapter layout for a model: per target the shape, factors, rank and parameters, against LoRA.")

    @OptionGroup var model: ModelOptions

    @OptionGroup var adapter: AdapterOptions

    @Option(name: .customLong("compare-rank"), help: "LoRA rank to compare against.")
    var compareRank = 8

    func run() throws {
        let config = try model.open().config
        guard let spec = try adapter.spec() else { throw ValidationError("give --adapter (\(AdapterKinds.names()))") }
        let layout = try AdapterLayout(spec: spec, config: config)
        var baseline = spec
        baseline.kind = .lora
        baseline.sparsity = nil
        baseline.rank = compareRank
        let lora = try AdapterLayout(spec: baseline, config: config)

        print("kind=\(spec.kind.rawValue) rank=\(spec.rank) alpha=\(spec.alpha) layers=\(spec.layers.map { "\($0.count)" } ?? "all \(config.layerCount)")")
        let finalSparsity = spec.sparsity?.final ?? 0
        func trainable(_ entry: AdapterEntry) -> Int {
            entry.tensors.reduce(0) { $0 + SparsitySchedule.kept(count: $1.count, sparsity: finalSparsity) }
        }
        let header = ["target", "shape (out×in)", "tt shape", "params/layer", "layers", "params", "lora r\(compareRank)"]
        var rows: [[String]] = []
        for site in spec.targets {
            let entries = layout.entries.filter { $0.site == site }
            let loraEntries = lora.entries.filter { $0.site == site }
            guard let first = entries.first else { continue }
            let ttShape = first.attributes["tt_shape"].map { $0.map(String.init).joined(separator: "·") } ?? "-"
            rows.append([site.rawValue, "\(first.outFeatures)×\(first.inFeatures)", ttShape, "\(trainable(first))",
                         "\(entries.count)", "\(entries.reduce(0) { $0 + trainable($1) })",
                         "\(loraEntries.reduce(0) { $0 + $1.parameterCount })"])
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max()! }
        for row in [header] + rows {
            print(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
        let total = layout.entries.reduce(0) { $0 + trainable($1) }
        print("total_parameters=\(total)")
        if spec.kind.method.isMasked { print("dense_parameters=\(layout.parameterCount)") }
        print("lora_r\(compareRank)_parameters=\(lora.parameterCount)")
        print("fraction_of_lora=\(String(format: "%.4f", Double(total) / Double(lora.parameterCount)))")
        print("fraction_of_model=\(String(format: "%.6f", Double(total) / Double(config.parameterCount)))")
    }
}
