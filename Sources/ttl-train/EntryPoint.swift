import ArgumentParser
import Foundation
import Kernels

/// Starts `ttl-train`. `train` is the default subcommand (`ttl-train JOB.yaml`), so a mistyped
/// command would otherwise be taken as train's job argument ("Unexpected argument") or, with
/// `--help`, print train's help and succeed. A first word that is neither a command nor a file is
/// refused here with a suggestion and exit status 2 (a usage error, as for any bad option). A bad
/// option value is one line too (ArgumentParser would add its help and usage lines), and so is a
/// TTL_TRAIN_MAX_ISA that names no instruction set.
@main
enum EntryPoint {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let word = arguments.first, let problem = unknownCommand(word) {
            FileHandle.standardError.write(Data("Error: \(problem)\n".utf8))
            exit(2)
        }
        do {
            try ComputePlatform.checkISACeiling()
        } catch {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            exit(2)
        }
        do {
            var command = try TTLTrain.parseAsRoot(arguments)
            try command.run()
        } catch {
            let code = TTLTrain.exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data("Error: \(TTLTrain.message(for: error))\n".utf8))
                exit(code.rawValue)
            }
            TTLTrain.exit(withError: error)
        }
    }

    static var commandNames: [String] {
        TTLTrain.configuration.subcommands.map { $0._commandName } + ["help"]
    }

    /// Why `word` cannot start a command line, or nil when it can: an option, a command, or a path
    /// (train's job spec; a missing spec is train's own one-line error).
    static func unknownCommand(_ word: String) -> String? {
        guard !word.hasPrefix("-"), !commandNames.contains(word), !FileManager.default.fileExists(atPath: word),
              !word.contains("/"), !word.hasSuffix(".yaml"), !word.hasSuffix(".yml") else { return nil }
        let closest = commandNames.map { ($0, editDistance(word, $0)) }.min { $0.1 < $1.1 }
        let suggestion = closest.flatMap { $0.1 <= max(2, word.count / 3) ? " (did you mean '\($0.0)'?)" : nil }
            ?? " (run 'ttl-train --help' for the commands)"
        return "unknown command '\(word)'\(suggestion)"
    }

    /// Levenshtein distance: insertions, deletions and substitutions.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let (a, b) = (Array(a), Array(b))
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
