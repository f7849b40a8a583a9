import ArgumentParser
import Foundation

/// `--out PATH --force` of the commands that write one file (compress, quantize, merge, sweep).
struct OutputFileOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The file to write (refused if it exists, unless --force).", valueName: "path"))
    var out: String

    @Flag(help: "Overwrite --out if it exists.")
    var force = false

    func validate() throws {
        try OutputFileOptions.refuseOverwriting([out], force: force)
    }

    /// The one rule for what a command would write over: a path that exists is refused before any
    /// work (a sweep's hour, a model's minutes) unless --force, so a second run never replaces
    /// what the first wrote by accident.
    static func refuseOverwriting(_ paths: [String], force: Bool) throws {
        guard !force, let existing = paths.first(where: { FileManager.default.fileExists(atPath: $0) }) else { return }
        throw ValidationError("\(existing) exists; choose another --out or pass --force to overwrite it")
    }
}
