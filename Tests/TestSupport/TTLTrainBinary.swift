import Foundation

extension ChildProcess {
    /// Runs the `ttl-train` built next to the running test bundle.
    public static func ttlTrain(_ arguments: [String]) throws -> ChildProcess {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ttl-train")
        return try run(binary.path, arguments)
    }
}
