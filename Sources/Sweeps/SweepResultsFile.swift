import Foundation
import HDF5

/// The sweep's results as HDF5 (`ttl-train-sweep`, version 1): one row per plan, columns as
/// 1-D datasets (`plan`, `plan_text`, `parameters`, `parameter_reduction`, `perplexity`,
/// `zero_shot_accuracy`, `adapter_accuracy`, `seconds`), and what was measured as root
/// attributes — so `pandas.DataFrame({k: f[k][()] for k in f})` gives the table.
public enum SweepResultsFile {
    public static let fileFormat = FileFormat(name: "ttl-train-sweep", version: 1)

    /// Writes `path`, built in memory and put in place whole (`HDF5File.writeDurably`). Row 0 is
    /// the dense baseline.
    public static func write(
        to path: String, names: [String], planTexts: [String], measurements: [CompressionSweep.Measurement],
        attributes: [String: String], worldSize: Int
    ) throws {
        precondition(names.count == measurements.count && planTexts.count == measurements.count)
        do {
            let file = try HDF5File.createInMemory(name: path)
            let root = file.root
            try fileFormat.stamp(root.attributes)
            try Writer.record(on: root.attributes, worldSize: worldSize)
            for (key, value) in attributes.sorted(by: { $0.key < $1.key }) { try root.attributes.set(key, value) }
            let dense = Double(measurements.first?.parameters ?? 0)
            try root.write("plan", strings: names)
            try root.write("plan_text", strings: planTexts)
            try root.write("parameters", measurements.map { Int64($0.parameters) })
            try root.write("parameter_reduction", measurements.map { 1 - Double($0.parameters) / dense })
            try root.write("perplexity", measurements.map(\.perplexity))
            try root.write("zero_shot_accuracy", measurements.map(\.zeroShotAccuracy))
            try root.write("adapter_accuracy", measurements.map(\.adapterAccuracy))
            try root.write("seconds", measurements.map(\.seconds))
            try file.writeDurably(to: path)
        }
    }
}
