import Foundation
import XCTest

/// Files of this checkout that tests use: the venv's Python, scripts, the imported real model.
///
/// What scripts/setup.sh makes is skipped when missing under a bare `swift test`, and a failure
/// under scripts/test.sh, which sets TTL_REQUIRE_VENV=1 and TTL_REQUIRE_ASSETS=1.
public enum Repository {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    public static func path(_ relative: String) -> String {
        root.appendingPathComponent(relative).path
    }

    /// `.venv/bin/python`.
    public static func python() throws -> String {
        try required(path(".venv/bin/python"), flag: "TTL_REQUIRE_VENV")
    }

    /// The imported SmolLM2-135M-Instruct.
    public static func realModel() throws -> String {
        try required(path("assets/smollm2-135m-instruct.h5"), flag: "TTL_REQUIRE_ASSETS")
    }

    /// The same model imported with its GGUF blocks kept (Q4_1 matrices, a Q8_0 embedding).
    public static func realQuantizedModel() throws -> String {
        try required(path("assets/smollm2-135m-instruct-q4_1.h5"), flag: "TTL_REQUIRE_ASSETS")
    }

    /// SmolLM2's tokenizer.json, copied by the importer.
    public static func realTokenizer() throws -> String {
        try required(path("assets/tokenizer.json"), flag: "TTL_REQUIRE_ASSETS")
    }

    /// The real chat templates scripts/setup.sh fetched (llama.cpp's models/templates, SmolLM2's).
    public static func chatTemplates() throws -> String {
        try required(path("assets/chat-templates/.complete"), flag: "TTL_REQUIRE_ASSETS")
        return path("assets/chat-templates")
    }

    private static func required(_ file: String, flag: String) throws -> String {
        if FileManager.default.fileExists(atPath: file) { return file }
        if ProcessInfo.processInfo.environment[flag] == "1" { XCTFail("\(file) is missing: run scripts/setup.sh") }
        throw XCTSkip("\(file) is missing: run scripts/setup.sh")
    }
}

extension Repository {
    /// The prepared movie-review sentiment dataset (scripts/setup.sh makes it).
    public static func sentimentDataset() throws -> String {
        let file = path("assets/data/sentiment.h5")
        if FileManager.default.fileExists(atPath: file) { return file }
        if ProcessInfo.processInfo.environment["TTL_REQUIRE_ASSETS"] == "1" { XCTFail("\(file) is missing: run scripts/setup.sh") }
        throw XCTSkip("\(file) is missing: run scripts/setup.sh")
    }
}
