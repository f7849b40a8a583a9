import Foundation
import XCTest

/// Launching `mpirun` from a test.
public enum MPIRun {
    /// The mpirun binary; nil where Open MPI is not installed.
    public static var executable: String? {
        ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first(where: FileManager.default.isExecutableFile)
    }

    /// This process's environment without Open MPI's launcher variables: if another test already
    /// made this process an MPI singleton, they are set, and an mpirun that inherits them exits at
    /// once.
    public static var cleanEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { key, _ in
            let launcherVariable = ["OMPI_", "PMIX_", "OPAL_", "ORTE_"].contains { key.hasPrefix($0) }
            return !launcherVariable || key.hasPrefix("OMPI_ALLOW_RUN_AS_ROOT")
        }
    }

    /// Arguments that start `ranks` processes on this machine as root and unbound (the tests run
    /// more ranks than cores).
    public static func arguments(ranks: Int) -> [String] {
        ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "\(ranks)"]
    }

    /// Skips the calling test inside an mpirun or where mpirun is missing; returns its path.
    public static func requireLauncher() throws -> String {
        guard ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] == nil else {
            throw XCTSkip("launches its own mpirun; not run inside one")
        }
        guard let executable else { throw XCTSkip("mpirun is not installed: run scripts/setup.sh") }
        return executable
    }
}
