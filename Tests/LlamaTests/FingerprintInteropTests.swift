import Foundation
import Llama
import XCTest

/// The fingerprint is defined once and computed in two languages: Swift (ModelWriter) and Python
/// (scripts/import_gguf.py). A model written here must hash to the same value in Python.
final class FingerprintInteropTests: XCTestCase {
    func testPythonComputesTheFingerprintSwiftStored() throws {
        let repository = RealModelTests.repository
        let python = repository.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            if ProcessInfo.processInfo.environment["TTL_REQUIRE_VENV"] == "1" { XCTFail("\(python) is missing") }
            throw XCTSkip("no .venv: run scripts/setup.sh")
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ttl-fp-\(UUID().uuidString).h5").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ModelWriter.writeRandom(to: path, config: .tiny, seed: 11)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [repository.appendingPathComponent("Tests/scripts/model_fingerprint.py").path, path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(printed.trimmingCharacters(in: .whitespacesAndNewlines), try ModelFile(path: path).fingerprint)
    }
}
