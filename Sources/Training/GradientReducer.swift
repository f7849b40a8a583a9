import Distributed
import Foundation

/// Sums the gradients of all micro-batches of a step across ranks, with the loss sum and the
/// supervised-token count, in one reduction.
///
/// **Exact** mode makes the result bit-for-bit independent of the world size and of which rank
/// ran which micro-batch: floating-point addition is not associative, integer addition is. Each
/// micro-batch's gradient is kept until the step ends; the ranks agree on the largest magnitude
/// (an all-reduce MAX of one number), every micro-batch gradient is then converted to 64-bit fixed
/// point at a scale that leaves room for summing all micro-batches of the step without overflow
/// (resolution 2⁻⁶¹ of that magnitude, far below Float's), summed as integers, all-reduced as
/// integers, and converted back once. **Fast** mode sums in Float locally and all-reduces Floats:
/// cheaper, but its bits depend on the split.
public final class GradientReducer {
    public enum Mode: String, Sendable, CaseIterable {
        case exact, fast
    }

    /// The reduced step: sums over every micro-batch of every rank.
    public struct Step: Equatable, Sendable {
        public let gradient: [Float]
        public let lossSum: Double
        /// Supervised tokens (the loss's denominator).
        public let tokens: Int
        /// All tokens the forward passes processed (for throughput).
        public let processedTokens: Int
    }

    public let mode: Mode
    /// Micro-batches per step over all ranks (the global batch / micro batch).
    public let microBatchesPerStep: Int
    private let communicator: Communicator
    /// Entries per gradient this step (sparse LoRA's packed gradient shrinks as it prunes; the
    /// masks, and so the count, are the same on every rank).
    public private(set) var count = 0
    private var microBatches: [[Float]] = []
    private var lossSums: [Double] = []
    private var tokens = 0
    private var processedTokens = 0

    /// Fixed-point scale of the loss sums: 2⁻³² nats resolution, room for 2³⁰ nats.
    private static let lossShift = 32.0

    public init(communicator: Communicator, microBatchesPerStep: Int, mode: Mode) {
        self.communicator = communicator
        self.microBatchesPerStep = microBatchesPerStep
        self.mode = mode
    }

    /// Bytes a step of `count` gradient entries sends through the all-reduces (per rank): the
    /// gradient with the loss sum and token count, plus in exact mode the one-number MAX.
    public static func bytesPerStep(count: Int, mode: Mode) -> Int {
        switch mode {
        case .exact: return (count + 3) * MemoryLayout<Int64>.size + MemoryLayout<Double>.size
        case .fast: return (count + 3) * MemoryLayout<Float>.size
        }
    }

    /// Records one micro-batch: its unnormalised gradient sum, loss sum, supervised tokens and
    /// processed tokens.
    public func add(gradient: [Float], lossSum: Double, tokens: Int, processedTokens: Int = 0) {
        if microBatches.isEmpty { count = gradient.count }
        precondition(gradient.count == count, "gradient has \(gradient.count) entries, \(count) expected")
        microBatches.append(gradient)
        lossSums.append(lossSum)
        self.tokens += tokens
        self.processedTokens += processedTokens
    }

    /// Reduces the step across ranks and starts the next one. Throws `.nonFinite` on every rank
    /// if any rank saw a NaN or infinite gradient or loss.
    public func reduce() throws -> Step {
        defer {
            microBatches.removeAll(keepingCapacity: true)
            lossSums.removeAll(keepingCapacity: true)
            tokens = 0
            processedTokens = 0
        }
        switch mode {
        case .exact: return try reduceExactly()
        case .fast: return try reduceFast()
        }
    }

    private func localLargestMagnitude() -> Double {
        var largest = 0.0
        for gradient in microBatches {
            for value in gradient {
                guard value.isFinite else { return .infinity }
                largest = max(largest, Double(abs(value)))
            }
        }
        return lossSums.allSatisfy(\.isFinite) ? largest : .infinity
    }

    private func reduceExactly() throws -> Step {
        let largest = try communicator.allreduce(localLargestMagnitude(), .max)
        guard largest.isFinite else { throw GradientReducerError.nonFinite }
        // 2^shift · largest · microBatchesPerStep < 2^62.
        let exponent = largest > 0 ? Int(Foundation.floor(Foundation.log2(largest))) + 1 : 0
        let headroom = Int(Foundation.ceil(Foundation.log2(Double(max(microBatchesPerStep, 1)))))
        let shift = 61 - exponent - headroom
        let scale = Foundation.pow(2.0, Double(shift))
        var sums = [Int64](repeating: 0, count: count + 3)
        for gradient in microBatches {
            for index in 0..<count { sums[index] &+= Int64((Double(gradient[index]) * scale).rounded(.toNearestOrEven)) }
        }
        for loss in lossSums { sums[count] &+= Int64((loss * Foundation.pow(2.0, Self.lossShift)).rounded(.toNearestOrEven)) }
        sums[count + 1] = Int64(tokens)
        sums[count + 2] = Int64(processedTokens)
        try communicator.allreduce(&sums, .sum)
        return Step(gradient: (0..<count).map { Float(Double(sums[$0]) / scale) },
                    lossSum: Double(sums[count]) / Foundation.pow(2.0, Self.lossShift), tokens: Int(sums[count + 1]),
                    processedTokens: Int(sums[count + 2]))
    }

    /// Float sums, with the loss sum and token counts riding in the same buffer (a Float counts
    /// tokens exactly up to 2²⁴ per step).
    private func reduceFast() throws -> Step {
        var sums = [Float](repeating: 0, count: count + 3)
        for micro in microBatches {
            for index in 0..<count { sums[index] += micro[index] }
        }
        sums[count] = Float(lossSums.reduce(0, +))
        sums[count + 1] = Float(tokens)
        sums[count + 2] = Float(processedTokens)
        try communicator.allreduce(&sums, .sum)
        guard sums.allSatisfy(\.isFinite) else { throw GradientReducerError.nonFinite }
        return Step(gradient: Array(sums[0..<count]), lossSum: Double(sums[count]), tokens: Int(sums[count + 1]),
                    processedTokens: Int(sums[count + 2]))
    }
}

public enum GradientReducerError: Error, Equatable, CustomStringConvertible {
    case nonFinite

    public var description: String {
        "a gradient or loss is NaN or infinite: lower the learning rate, enable clipping, or check the data"
    }
}
