import ArgumentParser
import Compression
import Foundation
import Llama

/// `ttl-train compress --model M.h5 --plan PLAN.yaml --out C.h5`: Tucker-decompose base weights.
struct Compress: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tucker-compress a model's weights by a plan into a model file that stores the factors.",
        discussion: """
            The plan (YAML) names the matrices (q_proj, …, down_proj), the layers (default all), the \
            view (heads: attention projections as heads × head_dim × hidden, the default for them; \
            matrix: a truncated SVD) and either ranks (one per mode) or energy (the share of each \
            mode's squared singular values to keep); refinements sets HOOI sweeps after the HOSVD. \
            The plan is checked against the model before any work. The output runs with every \
            command that takes --model or a job's model: factored weights are computed factored.
            """)

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: ArgumentHelp("The compression plan (YAML).", valueName: "path"))
    var plan: String

    @OptionGroup var output: OutputFileOptions

    func run() throws {
        let file = try model.open()
        let parsed = try CompressionPlan.load(path: plan, config: file.config)
        let report = try ModelCompressor.compress(model: file, plan: parsed, to: output.out) { weight in
            let ranks = weight.ranks.map(String.init).joined(separator: ",")
            let shape = weight.target.tensorShape.map(String.init).joined(separator: "×")
            print("\(weight.target.weightName)  view \(shape)  ranks \(ranks)  params \(weight.denseParameters) -> \(weight.factoredParameters)  relative_error \(String(format: "%.4f", weight.relativeError))")
        }
        print("factored_weights=\(report.weights.count)")
        print("parameters_before=\(report.parametersBefore)")
        print("parameters_after=\(report.parametersAfter)")
        print("parameter_reduction=\(String(format: "%.4f", 1 - Double(report.parametersAfter) / Double(report.parametersBefore)))")
        print("file_bytes_before=\(report.bytesBefore)")
        print("file_bytes_after=\(report.bytesAfter)")
        print("out=\(output.out)")
    }
}
