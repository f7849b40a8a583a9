import Foundation

/// Picks the next token from logits: the argmax when `temperature` is 0 (greedy), otherwise a
/// draw from `softmax(logits / temperature)` restricted to the `topK` most likely tokens and then
/// to the smallest set whose probability reaches `topP` (nucleus sampling), from a seeded
/// generator — the same seed gives the same text on any machine.
public struct TokenSampler {
    public let temperature: Double
    public let topK: Int?
    public let topP: Double
    private var generator: SplitMix64

    public init(temperature: Double, topK: Int? = nil, topP: Double = 1, seed: UInt64 = 0) {
        precondition(temperature >= 0 && topP > 0 && topP <= 1 && (topK ?? 1) >= 1)
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        generator = SplitMix64(seed: seed)
    }

    public mutating func next(_ logits: [Float]) -> Int32 {
        guard temperature > 0 else { return Int32(logits.indices.max { logits[$0] < logits[$1] }!) }
        var order = logits.indices.sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
        if let topK { order = Array(order.prefix(topK)) }
        let peak = Double(logits[order[0]])
        var weights = order.map { Foundation.exp((Double(logits[$0]) - peak) / temperature) }
        let total = weights.reduce(0, +)
        var kept = 0
        var mass = 0.0
        while kept < weights.count && (kept == 0 || mass < topP * total) {
            mass += weights[kept]
            kept += 1
        }
        weights = Array(weights.prefix(kept))
        var target = Double(generator.nextFloat(in: 0..<1)) * weights.reduce(0, +)
        for (index, weight) in weights.enumerated() {
            target -= weight
            if target < 0 { return Int32(order[index]) }
        }
        return Int32(order[kept - 1])
    }
}
