import ArgumentParser
import Foundation
import Training

/// `ttl-train metrics RUN [--format csv|json] [--table train|eval] [--out FILE]`: a run's
/// metrics for tools that do not read HDF5.
struct Metrics: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a run's metrics (metrics.h5) as CSV or JSON, for tools that do not read HDF5.",
        discussion: """
            CSV: one table (--table, default train) with a header row of column names. JSON: the file's \
            attributes and both tables, every column with its units and description, rows as objects \
            (NaN as null). Works while the run is writing.
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case csv, json }

    @Argument(help: ArgumentHelp("A run directory (runs/NAME) or its metrics.h5.", valueName: "run"))
    var source: String

    @Option(help: "Output format.")
    var format: Format = .csv

    @Option(help: "The table for CSV: train or eval.")
    var table = "train"

    @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file"))
    var out: String?

    func validate() throws {
        guard ["train", "eval"].contains(table) else { throw ValidationError("--table: expected train or eval, got '\(table)'") }
    }

    func run() throws {
        var isDirectory: ObjCBool = false
        let path = FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) && isDirectory.boolValue
            ? (source as NSString).appendingPathComponent("metrics.h5") : source
        let contents = try MetricsLog.read(path)
        let text = format == .csv ? csv(contents) : try json(contents)
        if let out {
            try text.write(toFile: out, atomically: true, encoding: .utf8)
        } else {
            print(text, terminator: "")
        }
    }

    private func csv(_ contents: MetricsLog.Contents) -> String {
        let chosen = contents.tables.first { $0.name == table }!.table
        var lines = [chosen.columns.map(\.name).joined(separator: ",")]
        for row in chosen.rows {
            lines.append(zip(chosen.columns, row).map { column, value in
                column.name == "step" ? "\(Int(value))" : value.isNaN ? "" : "\(value)"
            }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func json(_ contents: MetricsLog.Contents) throws -> String {
        var object: [String: Any] = ["attributes": Dictionary(contents.attributes.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })]
        for (name, table) in contents.tables {
            let columns: [[String: String]] = table.columns.map { ["name": $0.name, "units": $0.units, "description": $0.description] }
            let rows: [[String: Any]] = table.rows.map { row in
                var entry: [String: Any] = [:]
                for (column, value) in zip(table.columns, row) {
                    if column.name == "step" {
                        entry[column.name] = Int(value)
                    } else {
                        entry[column.name] = value.isNaN ? NSNull() : value as Any
                    }
                }
                return entry
            }
            object[name] = ["columns": columns, "rows": rows] as [String: Any]
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
