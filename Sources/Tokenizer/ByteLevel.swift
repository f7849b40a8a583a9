/// GPT-2's byte-level alphabet: every byte gets a printable character, so a BPE vocabulary of
/// strings covers any byte sequence. Printable Latin-1 bytes stand for themselves; the others
/// (controls, space, …) map to U+0100 onwards in byte order — `Ġ` (U+0120) is the space.
enum ByteLevel {
    /// The character of each byte.
    static let characters: [Character] = {
        let kept = Array(33...126) + Array(161...172) + Array(174...255)
        var mapping = [Character](repeating: " ", count: 256)
        var next = 256
        for byte in 0..<256 {
            if kept.contains(byte) {
                mapping[byte] = Character(Unicode.Scalar(UInt8(byte)))
            } else {
                mapping[byte] = Character(Unicode.Scalar(UInt32(next))!)
                next += 1
            }
        }
        return mapping
    }()

    /// The byte of each character of the alphabet.
    static let bytes: [Character: UInt8] = Dictionary(uniqueKeysWithValues: characters.enumerated().map { ($1, UInt8($0)) })

    /// `text`'s UTF-8 bytes in the alphabet.
    static func encode(_ text: Substring) -> String {
        String(text.utf8.map { characters[Int($0)] })
    }

    /// The bytes a string of the alphabet stands for; nil if it has a character outside it.
    static func decode(_ text: String) -> [UInt8]? {
        var result: [UInt8] = []
        for character in text {
            guard let byte = bytes[character] else { return nil }
            result.append(byte)
        }
        return result
    }
}
