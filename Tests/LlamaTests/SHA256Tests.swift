import Llama
import XCTest

final class SHA256Tests: XCTestCase {
    private func hex(_ text: String) -> String {
        var digest = SHA256()
        digest.update(Array(text.utf8))
        return digest.finalizeHex()
    }

    func testKnownVectors() {
        XCTAssertEqual(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(hex(String(repeating: "a", count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testBufferAndSequenceFeedsAgreeAcrossUnevenSplits() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        var whole = SHA256()
        whole.update(bytes)
        var pieces = SHA256()
        var start = 0
        for size in [1, 63, 64, 65, 7, 200, 600] {
            bytes[start..<(start + size)].withUnsafeBytes { pieces.update($0) }
            start += size
        }
        XCTAssertEqual(start, bytes.count)
        XCTAssertEqual(pieces.finalizeHex(), whole.finalizeHex())
    }
}
