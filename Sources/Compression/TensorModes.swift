import Kernels

/// A dense row-major tensor of 2 or 3 modes and the two operations Tucker decomposition is made
/// of: the mode-n unfolding and the mode-n product (Kolda & Bader, "Tensor Decompositions and
/// Applications", 2009, §2.4–2.5).
public struct DenseTensor: Equatable, Sendable {
    public var values: [Float]
    public var shape: [Int]

    public init(values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "values must fill the shape")
        self.values = values
        self.shape = shape
    }

    /// The mode-`n` unfolding `(dₙ, Π other dims)`, row-major, the other modes in their order.
    public func unfolded(_ mode: Int) -> [Float] {
        permuted(Self.modeFirst(mode, of: shape.count)).values
    }

    /// The mode order that brings `mode` to the front, the others in their order.
    private static func modeFirst(_ mode: Int, of count: Int) -> [Int] {
        [mode] + (0..<count).filter { $0 != mode }
    }

    /// `self ×ₙ M` with `M (newDim, dₙ)` row-major: mode `n` becomes `newDim` long.
    public func modeProduct(_ mode: Int, _ matrix: [Float], rows newDim: Int) -> DenseTensor {
        let d = shape[mode]
        precondition(matrix.count == newDim * d, "the matrix must be (newDim, d_mode)")
        let rest = values.count / d
        var product = [Float](repeating: 0, count: newDim * rest)
        let order = Self.modeFirst(mode, of: shape.count)
        let unfolding = permuted(order).values
        matrix.withUnsafeBufferPointer { m in
            unfolding.withUnsafeBufferPointer { t in
                product.withUnsafeMutableBufferPointer { p in
                    Matmul.gemm(m.baseAddress!, t.baseAddress!, into: p.baseAddress!, m: newDim, n: rest, k: d,
                                transposeB: false, lda: d, ldb: rest, ldc: rest, beta: 0)
                }
            }
        }
        var permutedShape = order.map { shape[$0] }
        permutedShape[0] = newDim
        // Undo the permutation: position of each original mode in `order`.
        let inverse = shape.indices.map { original in order.firstIndex(of: original)! }
        return DenseTensor(values: product, shape: permutedShape).permuted(inverse)
    }

    /// The tensor with its modes reordered: mode `k` of the result is mode `order[k]` of this one.
    public func permuted(_ order: [Int]) -> DenseTensor {
        precondition(order.sorted() == Array(shape.indices), "a permutation of the modes")
        if order == Array(shape.indices) { return self }
        let newShape = order.map { shape[$0] }
        var strides = [Int](repeating: 1, count: shape.count)
        for mode in stride(from: shape.count - 2, through: 0, by: -1) { strides[mode] = strides[mode + 1] * shape[mode + 1] }
        let sourceStrides = order.map { strides[$0] }
        var result = [Float](repeating: 0, count: values.count)
        var index = [Int](repeating: 0, count: shape.count)
        for target in 0..<values.count {
            var source = 0
            for mode in index.indices { source += index[mode] * sourceStrides[mode] }
            result[target] = values[source]
            var mode = shape.count - 1
            while mode >= 0 {
                index[mode] += 1
                if index[mode] < newShape[mode] { break }
                index[mode] = 0
                mode -= 1
            }
        }
        return DenseTensor(values: result, shape: newShape)
    }

    /// Σ x², in Double.
    public var squaredNorm: Double { values.reduce(0) { $0 + Double($1) * Double($1) } }
}
