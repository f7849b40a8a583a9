import Foundation
import TestSupport
import Tokenizer
import XCTest

/// The Swift tokenizer on SmolLM2's tokenizer.json (ids checked against the `tokenizers` library;
/// Tests/scripts/test_tokenizer.py compares every data-set text), and the refusal of
/// `tokenizer.json` settings it does not implement.
final class TokenizerTests: XCTestCase {
    private func real() throws -> Tokenizer {
        try Tokenizer(path: try Repository.realTokenizer())
    }

    func testIdsOfTheTokenizersLibrary() throws {
        let tokenizer = try real()
        // tokenizers 0.23.3: Tokenizer.from_file("assets/tokenizer.json").encode(text).ids
        XCTAssertEqual(
            tokenizer.encode("The capital of Italy is 1234 don't"),
            [504, 3575, 282, 7158, 314, 216, 33, 34, 35, 36, 1326, 982])
        XCTAssertEqual(tokenizer.encode("<|im_start|>user\nhi<|im_end|>\n"), [1, 4093, 198, 6004, 2, 198])
        XCTAssertEqual(tokenizer.specialID("<|im_end|>"), 2)
    }

    func testDecodeInvertsEncode() throws {
        let tokenizer = try real()
        for text in [
            "  two spaces", "x\r\ny", "Ünïcödé 日本語 👍🏽", "tab\there", "123 456", "<|im_start|>user\nhi<|im_end|>",
        ] {
            XCTAssertEqual(tokenizer.decode(tokenizer.encode(text), keepingSpecial: true), text)
        }
        XCTAssertEqual(
            tokenizer.decode(tokenizer.encode("<|im_start|>hi")), "hi", "special tokens are left out by default")
    }

    func testUnsupportedSettingsAreRefusedNamingThem() throws {
        let base: [String: Any] = [
            "normalizer": NSNull(),
            "pre_tokenizer": ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true],
            "decoder": ["type": "ByteLevel"], "added_tokens": [[String: Any]](),
            "model": ["type": "BPE", "vocab": ["a": 0, "b": 1, "ab": 2], "merges": [["a", "b"]]],
        ]
        let tiny = try Tokenizer(json: try JSONSerialization.data(withJSONObject: base), path: "t.json")
        XCTAssertEqual(tiny.encode("abba"), [2, 1, 0])
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("normalizer", { $0["normalizer"] = ["type": "NFKC"] }),
            (
                "pre_tokenizer: Split",
                { $0["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": "\\s+"], "behavior": "Isolated"] }
            ),
            ("model.type", { $0["model"] = ["type": "WordPiece", "vocab": ["a": 0]] }),
            (
                "model.byte_fallback",
                { $0["model"] = ["type": "BPE", "vocab": ["a": 0], "merges": [], "byte_fallback": true] }
            ),
            ("model.vocab", { $0["model"] = ["type": "BPE", "vocab": ["a": 0, "b": 0], "merges": []] }),
            ("model.merges[0]", { $0["model"] = ["type": "BPE", "vocab": ["a": 0], "merges": [["a"]]] }),
            ("pre_tokenizer", { $0["pre_tokenizer"] = ["type": "Metaspace"] }),
            ("decoder.type", { $0["decoder"] = ["type": "WordPiece"] }),
            ("added_tokens[0].lstrip", { $0["added_tokens"] = [["id": 3, "content": "<s>", "lstrip": true]] }),
        ]
        for (setting, damage) in cases {
            var json = base
            damage(&json)
            XCTAssertThrowsError(
                try Tokenizer(json: try JSONSerialization.data(withJSONObject: json), path: "t.json"), setting
            ) { error in
                XCTAssertTrue("\(error)".hasPrefix("t.json: \(setting)"), "\(error)")
            }
        }
    }

    /// A user's line can be megabytes without a space: BPE merges through a heap (O(n log n)) and
    /// special tokens are found in one scan. Quadratic code took 58 s for 32 KB of letters; the
    /// bound here is a hang guard, not a benchmark.
    func testLongPreTokensAndRunsOfSpecialTokensAreLinear() throws {
        let tokenizer = try real()
        let started = Date()
        // tokenizers 0.23.3 gives 46880 ("aaaa") for every four letters of a long run.
        XCTAssertEqual(
            tokenizer.encode(String(repeating: "a", count: 2_000_000)), [Int32](repeating: 46880, count: 500_000))
        XCTAssertEqual(
            tokenizer.encode(String(repeating: "<|im_end|>", count: 100_000)), [Int32](repeating: 2, count: 100_000))
        let (ids, offsets) = tokenizer.encodeWithOffsets("héllo <|im_end|> wörld")
        XCTAssertEqual(ids.count, offsets.count)
        XCTAssertEqual(offsets.first, 0)
        XCTAssertEqual(offsets[ids.firstIndex(of: 2)!], 7, "the special token starts at byte 7 (é is two bytes)")
        XCTAssertEqual(tokenizer.decode(ids, keepingSpecial: true), "héllo <|im_end|> wörld")
        XCTAssertLessThan(Date().timeIntervalSince(started), 60)
    }
}
