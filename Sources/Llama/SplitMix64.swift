/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, fast, portable PRNG.
///
/// ttl-train never uses the system RNG: the same seed must give the same bits on every rank,
/// every machine and every run, so initialisation and sampling are reproducible and resumable
/// (the state is one `UInt64`, easy to checkpoint).
public struct SplitMix64: RandomNumberGenerator, Equatable, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A Float uniform in [low, high), from the top 24 bits so every value is exactly representable.
    public mutating func nextFloat(in range: Range<Float>) -> Float {
        let unit = Float(next() >> 40) * (1.0 / Float(1 << 24))
        return range.lowerBound + (range.upperBound - range.lowerBound) * unit
    }
}
