/// Bad input to `data import`, naming the file, the line (1-based; 0 for the file as a whole)
/// and the key path inside the line's object.
public struct DataImportError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let line: Int
    public let key: String
    public let problem: String

    public init(file: String, line: Int = 0, key: String = "", problem: String) {
        self.file = file
        self.line = line
        self.key = key
        self.problem = problem
    }

    public var description: String {
        (line > 0 ? "\(file):\(line): " : "\(file): ") + (key.isEmpty ? "" : "\(key): ") + problem
    }
}
