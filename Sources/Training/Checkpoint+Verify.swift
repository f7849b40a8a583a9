import Adapters
import HDF5

/// The ranges and relations every number read from a checkpoint must satisfy, checked where it is
/// read: a checkpoint is a file anyone can edit or damage, and a value out of range must be a
/// one-line refusal, not an overflow, a precondition failure or a run that resumes into NaN.
extension Checkpoint {
    /// Largest in/out feature count and TT factor an adapter of a real model has, with room.
    static let maxFeatures = 1 << 20
    static let maxWorldSize = 1 << 20
    static let maxTensorTrainModes = 16

    /// An integer attribute of `attributes`, in `range`.
    static func integer(_ attributes: HDF5Attributes, _ name: String, in range: ClosedRange<Int>, path: String, object: String) throws -> Int {
        let value = try attributes.value(name, as: Int64.self)
        guard value >= Int64(range.lowerBound), value <= Int64(range.upperBound) else {
            throw CheckpointError(path: path, problem: "\(object)\(name) is \(value), outside \(range.lowerBound)...\(range.upperBound)")
        }
        return Int(value)
    }

    /// The adapter's attributes agree with each other and with its tensors: the shapes its kind,
    /// rank and features imply, finite values, masks of zeros and ones.
    static func verify(_ adapter: StoredAdapter, kind: String, path: String) throws {
        let name = adapter.target
        func fail(_ problem: String) -> CheckpointError { CheckpointError(path: path, problem: "\(name): \(problem)") }
        guard adapter.kind == kind, let adapterKind = AdapterSpec.Kind(rawValue: kind) else {
            throw fail("kind '\(adapter.kind)' is not the checkpoint's adapter_kind '\(kind)'")
        }
        guard adapter.alpha.isFinite, adapter.alpha > 0 else { throw fail("alpha is \(adapter.alpha), not a positive number") }
        var expected: [(String, [Int])]
        switch adapterKind {
        case .lora, .sparseLora:
            guard adapter.inFactors.isEmpty, adapter.outFactors.isEmpty else {
                throw fail("has tensor-train factors \(adapter.inFactors) and \(adapter.outFactors), which a \(kind) adapter does not have")
            }
            expected = [("A", [adapter.rank, adapter.inFeatures]), ("B", [adapter.outFeatures, adapter.rank])]
        case .ttLora:
            let factors = adapter.inFactors + adapter.outFactors
            guard !adapter.inFactors.isEmpty, !adapter.outFactors.isEmpty, factors.count <= maxTensorTrainModes,
                  factors.allSatisfy({ (1...maxFeatures).contains($0) }),
                  TensorTrainShape.product(of: adapter.inFactors) == adapter.inFeatures,
                  TensorTrainShape.product(of: adapter.outFactors) == adapter.outFeatures else {
                throw fail("in_factors \(adapter.inFactors) and out_factors \(adapter.outFactors) do not factor \(adapter.inFeatures) × \(adapter.outFeatures)")
            }
            let train = TensorTrainShape(inFactors: adapter.inFactors, outFactors: adapter.outFactors, rank: adapter.rank)
            expected = (0..<train.modes.count).map { ("core_\($0)", train.coreShape($0)) }
        }
        if let recoveryRank = adapter.recoveryRank {
            expected += [("recovery_A1", [recoveryRank, adapter.inFeatures]), ("recovery_A2", [adapter.outFeatures, recoveryRank])]
        }
        guard adapter.tensors.map(\.name).sorted() == expected.map(\.0).sorted() else {
            throw fail("holds tensors \(adapter.tensors.map(\.name).sorted()), a \(kind) adapter has \(expected.map(\.0).sorted())")
        }
        for (tensorName, shape) in expected {
            let tensor = adapter.tensor(tensorName)!
            guard tensor.shape == shape, tensor.values.count == shape.reduce(1, *) else {
                throw fail("\(tensorName) has shape \(tensor.shape), its attributes (rank \(adapter.rank), \(adapter.inFeatures) → \(adapter.outFeatures)) say \(shape)")
            }
            if let bad = tensor.values.firstIndex(where: { !$0.isFinite }) {
                throw fail("\(tensorName)[\(bad)] is \(tensor.values[bad])")
            }
            if adapterKind == .sparseLora, !tensorName.hasPrefix("recovery") {
                guard let mask = tensor.mask, mask.count == tensor.values.count, mask.allSatisfy({ $0 <= 1 }) else {
                    throw fail("\(tensorName)_mask is missing, of another size, or not all zeros and ones")
                }
            }
        }
    }

    /// AdamW's state: one finite first moment and one finite, non-negative second moment per
    /// parameter, and no more updates than the checkpoint's steps.
    static func verifyOptimizer(_ file: HDF5File, parameters: Int, step: Int, path: String) throws -> (first: [Float], second: [Float], steps: Int) {
        let first = try file.root.read("optimizer/first_moment", as: Float.self)
        let second = try file.root.read("optimizer/second_moment", as: Float.self)
        guard first.count == parameters, second.count == parameters else {
            throw CheckpointError(path: path, problem: "optimizer moments have \(first.count) and \(second.count) entries, the adapters \(parameters)")
        }
        if let bad = first.firstIndex(where: { !$0.isFinite }) {
            throw CheckpointError(path: path, problem: "optimizer/first_moment[\(bad)] is \(first[bad])")
        }
        if let bad = second.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
            throw CheckpointError(path: path, problem: "optimizer/second_moment[\(bad)] is \(second[bad]); it must be finite and non-negative")
        }
        let steps = try integer(try file.root.openGroup("optimizer").attributes, "steps", in: 0...step, path: path, object: "optimizer/")
        return (first, second, steps)
    }
}
