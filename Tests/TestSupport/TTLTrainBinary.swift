import Foundation

extension ChildProcess {
    /// The `ttl-train` built next to the running test bundle.
    public static var ttlTrainPath: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("ttl-train").path
    }

    /// Runs that `ttl-train`.
    public static func ttlTrain(_ arguments: [String]) throws -> ChildProcess {
        try run(ttlTrainPath, arguments)
    }
}
