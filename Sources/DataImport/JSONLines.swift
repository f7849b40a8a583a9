import Foundation
import Jinja
import Llama

/// A JSON Lines file: one JSON object per line, blank lines skipped. Read whole (a data set is
/// held in memory anyway), each line checked to be UTF-8 and parsed with Python's `json` rules.
public struct JSONLines {
    public struct Line {
        public let number: Int
        public let object: Value.Dictionary
    }

    public let path: String
    public let lines: [Line]
    /// `sha256:` of the file's bytes, recorded in the dataset it becomes.
    public let fingerprint: String

    /// Files larger than this are refused before they are read.
    public static let maxBytes = 16 << 30

    public init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataImportError(file: path, problem: "no such file")
        }
        guard !isDirectory.boolValue else {
            throw DataImportError(file: path, problem: "is a directory, not a .jsonl file")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size <= Self.maxBytes else {
            throw DataImportError(
                file: path, problem: "is \(size >> 30) GiB, more than the \(Self.maxBytes >> 30) GiB ttl-train reads")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataImportError(file: path, problem: "cannot be read")
        }
        let bytes = [UInt8](data)
        fingerprint = SHA256.fingerprint(of: bytes)
        var lines: [Line] = []
        var start = 0
        var number = 0
        while start < bytes.count {
            number += 1
            let end = bytes[start...].firstIndex(of: 0x0a) ?? bytes.count
            var line = bytes[start..<end]
            if line.last == 0x0d { line = line.dropLast() }
            start = end + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            guard String(validating: line, as: UTF8.self) != nil else {
                throw DataImportError(file: path, line: number, problem: "is not UTF-8 text")
            }
            let value: Value
            do {
                value = try JSON.parse(line)
            } catch {
                throw DataImportError(file: path, line: number, problem: "not valid JSON: \(error)")
            }
            guard case .dict(let object) = value else {
                throw DataImportError(
                    file: path, line: number, problem: "expected a JSON object, got \(Self.kind(of: value))")
            }
            lines.append(Line(number: number, object: object))
        }
        guard !lines.isEmpty else { throw DataImportError(file: path, problem: "holds no examples (an empty file)") }
        self.lines = lines
    }

    /// JSON's name for the kind of a value, for messages.
    static func kind(of value: Value) -> String {
        switch value {
        case .none: return "null"
        case .bool: return "a boolean"
        case .int, .double: return "a number"
        case .string: return "a string"
        case .list, .tuple: return "an array"
        case .dict: return "an object"
        default: return "something else"
        }
    }
}
