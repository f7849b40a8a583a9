import Foundation
import Llama
import TestSupport
import XCTest

/// The fingerprint is defined once and computed in two languages: Swift (ModelWriter) and Python
/// (scripts/import_gguf.py). A model written here must hash to the same value in Python.
final class FingerprintInteropTests: XCTestCase {
    func testPythonComputesTheFingerprintSwiftStored() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("tiny.h5")
        try ModelWriter.writeRandom(to: path, config: .tiny, seed: 11)
        let run = try ChildProcess.run(try Repository.python(), [Repository.path("Tests/scripts/model_fingerprint.py"), path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout.trimmingCharacters(in: .whitespacesAndNewlines), try ModelFile(path: path).fingerprint)
    }
}
