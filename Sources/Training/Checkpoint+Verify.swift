import Adapters
import HDF5

/// The ranges and relations every number read from a checkpoint must satisfy, checked where it is
/// read: a checkpoint is a file anyone can edit or damage, and a value out of range must be a
/// one-line refusal, not an overflow, a precondition failure or a run that resumes into NaN.
extension Checkpoint {
    /// Largest in/out feature count (and shape attribute value) an adapter of a real model has, with room.
    static let maxFeatures = 1 << 20
    static let maxWorldSize = 1 << 20
    /// Most values one shape attribute may list (TT-LoRA's factors).
    static let maxShapeAttributeCount = 16

    /// An integer attribute of `attributes`, in `range`.
    static func integer(_ attributes: HDF5Attributes, _ name: String, in range: ClosedRange<Int>, path: String, object: String) throws -> Int {
        let value = try attributes.value(name, as: Int64.self)
        guard value >= Int64(range.lowerBound), value <= Int64(range.upperBound) else {
            throw CheckpointError(path: path, problem: "\(object)\(name) is \(value), outside \(range.lowerBound)...\(range.upperBound)")
        }
        return Int(value)
    }

    /// The adapter's attributes agree with each other and with its tensors: the shapes its kind,
    /// rank, features and shape attributes imply, finite values, masks of zeros and ones.
    static func verify(_ adapter: StoredAdapter, path: String) throws {
        func fail(_ problem: String) -> CheckpointError { CheckpointError(path: path, problem: "\(adapter.target): \(problem)") }
        let expected: [(name: String, shape: [Int])]
        do {
            expected = try adapter.expectedShapes()
        } catch let error as AdapterKindError {
            throw fail(error.problem)
        }
        guard adapter.tensors.map(\.name).sorted() == expected.map(\.name).sorted() else {
            throw fail("holds tensors \(adapter.tensors.map(\.name).sorted()), a \(adapter.kind) adapter has \(expected.map(\.name).sorted())")
        }
        for (tensorName, shape) in expected {
            let tensor = adapter.tensor(tensorName)!
            guard tensor.shape == shape, tensor.values.count == shape.reduce(1, *) else {
                throw fail("\(tensorName) has shape \(tensor.shape), its attributes (rank \(adapter.rank), \(adapter.inFeatures) → \(adapter.outFeatures)) say \(shape)")
            }
            if let bad = tensor.values.firstIndex(where: { !$0.isFinite }) {
                throw fail("\(tensorName)[\(bad)] is \(tensor.values[bad])")
            }
            if adapter.kind.method.isMasked, !tensorName.hasPrefix("recovery") {
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
