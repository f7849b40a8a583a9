import Foundation
import HDF5

extension MetricsLog {
    /// One table of a metrics file: its columns (names, units, descriptions as stored) and rows.
    public struct Table: Sendable {
        public var columns: [Column]
        /// Row-major values; `step` as a Double (exact below 2⁵³).
        public var rows: [[Double]]

        /// The values of column `name`, if the table has it.
        public func column(_ name: String) -> [Double]? {
            columns.firstIndex { $0.name == name }.map { index in rows.map { $0[index] } }
        }
    }

    /// A metrics file as read back: root attributes (as text) and the train and eval tables.
    public struct Contents: Sendable {
        public var attributes: [(name: String, value: String)]
        public var tables: [(name: String, table: Table)]
    }

    /// Reads `path` (also while a run appends to it): every column of `/train` and `/eval` with
    /// its `units` and `description`, and the root attributes.
    public static func read(_ path: String) throws -> Contents {
        let file = try HDF5File.open(path, mode: .swmrRead)
        let root = file.root.attributes
        do {
            _ = try fileFormat.check(root)
        } catch FileFormat.Mismatch.otherFormat(let found) {
            throw DatasetError(file: path, object: "/", problem: "not a ttl-train metrics file (format '\(found)')")
        } catch FileFormat.Mismatch.unreadableVersion(let found) {
            throw DatasetError(file: path, object: "/", problem: "metrics format version \(found) is not supported (this ttl-train reads \(fileFormat.readableVersions))")
        }
        var attributes: [(String, String)] = []
        for name in try root.names().sorted() {
            if let text = try? root.string(name) {
                attributes.append((name, text))
            } else if let texts = try? root.strings(name) {
                attributes.append((name, texts.joined(separator: "; ")))
            } else if let number = try? root.value(name, as: Int64.self) {
                attributes.append((name, "\(number)"))
            } else if let number = try? root.value(name, as: Double.self) {
                attributes.append((name, "\(number)"))
            }
        }
        var tables: [(String, Table)] = []
        for (group, known) in [("train", trainColumns), ("eval", evalColumns)] {
            let stored = try file.root.openGroup(group).childNames()
            let names = known.map(\.name).filter(stored.contains) + stored.filter { name in !known.contains { $0.name == name } }.sorted()
            var columns: [Column] = []
            var values: [[Double]] = []
            for name in names {
                let dataset = try file.root.openDataset("\(group)/\(name)")
                let attributes = dataset.attributes
                columns.append(Column(name: name, units: attributes.contains("units") ? try attributes.string("units") : "",
                                      description: attributes.contains("description") ? try attributes.string("description") : ""))
                values.append(name == "step" ? try dataset.read(as: Int64.self).map(Double.init) : try dataset.read(as: Double.self))
            }
            // A reader racing the writer may see a value column one row longer than `step`.
            let count = values.first?.count ?? 0
            let rows = (0..<count).map { row in values.map { row < $0.count ? $0[row] : .nan } }
            tables.append((group, Table(columns: columns, rows: rows)))
        }
        return Contents(attributes: attributes, tables: tables)
    }
}
