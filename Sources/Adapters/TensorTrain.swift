import Kernels

/// TT-LoRA's two ways to apply `Δy = α·x·ΔW` for `x (rows, in)`, where `ΔW (in, out)` is the
/// tensor train of `shape` (cores stored one after another at `cores`):
///
/// - **reconstruct**: multiply the cores out into `ΔW`, then one dense product — `rows·in·out`
///   work, best for very few rows;
/// - **contract**: push `x` through the cores one by one — work proportional to `rows·(in + out)·r²`,
///   far less for the usual shapes.
///
/// Both are exact; tests check they agree to 1e-5. `flops` lets the caller pick per call.
public struct TensorTrain {
    public enum Path: String, Sendable, CaseIterable {
        case reconstruct, contract
    }

    public let shape: TensorTrainShape
    public let scale: Float
    private let inCores: Int
    private let coreCount: Int

    public init(shape: TensorTrainShape, scale: Float) {
        self.shape = shape
        self.scale = scale
        inCores = shape.inFactors.count
        coreCount = shape.modes.count
    }

    // MARK: - Sizes

    /// Floats of scratch that one forward or backward call on `rows` rows needs.
    public func scratchCount(rows: Int) -> Int {
        let reconstruct = 2 * shape.inFeatures * shape.outFeatures + reconstructionScratch + 2 * largestPartial
        return max(reconstruct, 2 * contractionScratch(rows: rows))
    }

    /// The largest partial product `T_k` of the reconstruction chain.
    private var largestPartial: Int {
        var prefix = 1
        var largest = 0
        for k in 0..<coreCount {
            prefix *= shape.modes[k]
            largest = max(largest, prefix * shape.bonds[k + 1])
        }
        return largest
    }

    /// Sum of the chain's partial products `T_k (s_1…s_k, r_k)`.
    private var reconstructionScratch: Int {
        var prefix = 1
        var total = 0
        for k in 0..<coreCount {
            prefix *= shape.modes[k]
            total += prefix * shape.bonds[k + 1]
        }
        return total
    }

    /// Sizes of the contraction's states: input side `S_k (r_k, rest_k·rows)`, output side
    /// `V_j (rows·t_1…t_j, r)`.
    private func stateSizes(rows: Int) -> [Int] {
        var sizes = [shape.inFeatures * rows]
        var rest = shape.inFeatures
        for k in 0..<inCores {
            rest /= shape.modes[k]
            sizes.append(shape.bonds[k + 1] * rest * rows)
        }
        var prefix = rows
        for k in inCores..<coreCount {
            prefix *= shape.modes[k]
            sizes.append(prefix * shape.bonds[k + 1])
        }
        return sizes
    }

    private func contractionScratch(rows: Int) -> Int {
        stateSizes(rows: rows).reduce(0, +)
    }

    /// Multiply-add FLOPs of one forward call on `rows` rows by `path`.
    public func flops(rows: Int, path: Path) -> Double {
        switch path {
        case .reconstruct:
            return Double(2 * reconstructionScratch * shape.rank + 2 * rows * shape.inFeatures * shape.outFeatures)
        case .contract:
            let sizes = stateSizes(rows: rows)
            var total = 0.0
            for k in 0..<coreCount {
                // Each step multiplies a state by a (r_{k-1}·s_k) × r_k core.
                total += 2 * Double(max(sizes[k], sizes[k + 1])) * Double(shape.bonds[k] * shape.bonds[k + 1])
            }
            return total
        }
    }

    /// The cheaper path for `rows` rows.
    public func cheaperPath(rows: Int) -> Path {
        flops(rows: rows, path: .contract) <= flops(rows: rows, path: .reconstruct) ? .contract : .reconstruct
    }

    // MARK: - Reconstruction

    /// `ΔW (in, out)` without the scale, from the cores: `T_1 = G_1`, `T_k = T_{k-1}·G_k`
    /// (as `(s_1…s_{k-1}, r_{k-1}) · (r_{k-1}, s_k·r_k)`). Leaves every `T_k` in `partials` for backward.
    public func reconstruct(cores: UnsafePointer<Float>, into weight: UnsafeMutablePointer<Float>, partials: UnsafeMutablePointer<Float>) {
        var previous = UnsafePointer(partials)
        var cursor = partials
        var prefix = 1
        for k in 0..<coreCount {
            let (left, mode, right) = (shape.bonds[k], shape.modes[k], shape.bonds[k + 1])
            let core = cores + shape.coreOffset(k)
            let output = k == coreCount - 1 ? weight : cursor
            if k == 0 {
                output.update(from: core, count: mode * right)
            } else {
                Matmul.gemm(previous, core, into: output, m: prefix, n: mode * right, k: left, transposeB: false,
                            lda: left, ldb: mode * right, ldc: mode * right, beta: 0)
            }
            prefix *= mode
            previous = UnsafePointer(output)
            cursor += prefix * right
        }
    }

    /// Adds the core gradients for `dWeight = dL/dΔW (in, out)` (unscaled), given the
    /// `partials` that `reconstruct` left; `gradientScratch` holds `2·largestPartial` floats.
    private func reconstructBackward(
        cores: UnsafePointer<Float>, partials: UnsafePointer<Float>, weightGradient: UnsafePointer<Float>,
        coreGradients: UnsafeMutablePointer<Float>, gradientScratch: UnsafeMutablePointer<Float>
    ) {
        var offsets: [Int] = []
        var prefixes: [Int] = []
        var cursor = 0
        var prefix = 1
        for k in 0..<coreCount {
            offsets.append(cursor)
            prefix *= shape.modes[k]
            prefixes.append(prefix)
            cursor += prefix * shape.bonds[k + 1]
        }
        var upstream = weightGradient
        var spare = (gradientScratch, gradientScratch + largestPartial)
        for k in stride(from: coreCount - 1, through: 0, by: -1) {
            let (left, mode, right) = (shape.bonds[k], shape.modes[k], shape.bonds[k + 1])
            let gradient = coreGradients + shape.coreOffset(k)
            if k == 0 {
                for index in 0..<(mode * right) { gradient[index] += upstream[index] }
                break
            }
            let previousRows = prefixes[k - 1]
            let previous = partials + offsets[k - 1]
            // dG_k += T_{k-1}ᵀ · dT_k ;  dT_{k-1} = dT_k · G_kᵀ
            Matmul.gemm(previous, upstream, into: gradient, m: left, n: mode * right, k: previousRows,
                        transposeA: true, transposeB: false, lda: left, ldb: mode * right, ldc: mode * right, beta: 1)
            Matmul.gemm(upstream, cores + shape.coreOffset(k), into: spare.0, m: previousRows, n: left, k: mode * right,
                        transposeB: true, lda: mode * right, ldb: mode * right, ldc: left, beta: 0)
            upstream = UnsafePointer(spare.0)
            spare = (spare.1, spare.0)
        }
    }

    // MARK: - Forward and backward

    /// `y (rows, out) += scale · x·ΔW` by `path`; `scratch` holds `scratchCount(rows:)` floats.
    public func forward(
        x: UnsafePointer<Float>, cores: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
        rows: Int, path: Path, scratch: UnsafeMutablePointer<Float>
    ) {
        switch path {
        case .reconstruct:
            let weight = scratch
            reconstruct(cores: cores, into: weight, partials: scratch + shape.inFeatures * shape.outFeatures)
            Matmul.gemm(x, weight, into: y, m: rows, n: shape.outFeatures, k: shape.inFeatures, transposeB: false,
                        lda: shape.inFeatures, ldb: shape.outFeatures, ldc: shape.outFeatures, alpha: scale, beta: 1)
        case .contract:
            let states = contract(x: x, cores: cores, rows: rows, scratch: scratch)
            let last = states[coreCount]
            for index in 0..<(rows * shape.outFeatures) { y[index] += scale * last[index] }
        }
    }

    /// For upstream `dy (rows, out)`: adds `dx` and the core gradients.
    public func backward(
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, cores: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>, coreGradients: UnsafeMutablePointer<Float>,
        rows: Int, path: Path, scratch: UnsafeMutablePointer<Float>
    ) {
        let (inFeatures, outFeatures) = (shape.inFeatures, shape.outFeatures)
        switch path {
        case .reconstruct:
            let weight = scratch
            let weightGradient = scratch + inFeatures * outFeatures
            let partials = weightGradient + inFeatures * outFeatures
            reconstruct(cores: cores, into: weight, partials: partials)
            // dx += scale·dy·ΔWᵀ ;  dΔW = scale·xᵀ·dy
            Matmul.gemm(dy, weight, into: dx, m: rows, n: inFeatures, k: outFeatures, transposeB: true,
                        lda: outFeatures, ldb: outFeatures, ldc: inFeatures, alpha: scale, beta: 1)
            Matmul.gemm(x, dy, into: weightGradient, m: inFeatures, n: outFeatures, k: rows, transposeA: true, transposeB: false,
                        lda: inFeatures, ldb: outFeatures, ldc: outFeatures, alpha: scale, beta: 0)
            reconstructBackward(cores: cores, partials: partials, weightGradient: weightGradient,
                                coreGradients: coreGradients, gradientScratch: partials + reconstructionScratch)
        case .contract:
            contractBackward(dy: dy, x: x, cores: cores, dx: dx, coreGradients: coreGradients, rows: rows, scratch: scratch)
        }
    }

    // MARK: - Contraction

    /// Runs `x` through the cores, returning pointers to every state:
    /// `S_0 = xᵀ (in, rows)`, `S_k = G_kᵀ·S_{k-1}` as `(r_k) × (r_{k-1}·m_k) · (r_{k-1}·m_k) × (rest_k·rows)`
    /// for the input cores; then `V_0 = S_pᵀ (rows, r)`, `V_j = V_{j-1}·G_{p+j}` for the output
    /// cores. The last state is `x·ΔW (rows, out)` (unscaled).
    private func contract(x: UnsafePointer<Float>, cores: UnsafePointer<Float>, rows: Int, scratch: UnsafeMutablePointer<Float>)
        -> [UnsafeMutablePointer<Float>] {
        let sizes = stateSizes(rows: rows)
        var states: [UnsafeMutablePointer<Float>] = []
        var cursor = scratch
        for size in sizes {
            states.append(cursor)
            cursor += size
        }
        transpose(x, into: states[0], rows: rows, columns: shape.inFeatures)
        var rest = shape.inFeatures
        for k in 0..<inCores {
            let (left, mode, right) = (shape.bonds[k], shape.modes[k], shape.bonds[k + 1])
            rest /= mode
            Matmul.gemm(cores + shape.coreOffset(k), states[k], into: states[k + 1], m: right, n: rest * rows, k: left * mode,
                        transposeA: true, transposeB: false, lda: right, ldb: rest * rows, ldc: rest * rows, beta: 0)
        }
        var prefix = rows
        for k in inCores..<coreCount {
            let (left, mode, right) = (shape.bonds[k], shape.modes[k], shape.bonds[k + 1])
            let first = k == inCores
            Matmul.gemm(states[k], cores + shape.coreOffset(k), into: states[k + 1], m: prefix, n: mode * right, k: left,
                        transposeA: first, transposeB: false, lda: first ? rows : left, ldb: mode * right, ldc: mode * right, beta: 0)
            prefix *= mode
        }
        return states
    }

    private func contractBackward(
        dy: UnsafePointer<Float>, x: UnsafePointer<Float>, cores: UnsafePointer<Float>,
        dx: UnsafeMutablePointer<Float>, coreGradients: UnsafeMutablePointer<Float>, rows: Int, scratch: UnsafeMutablePointer<Float>
    ) {
        let states = contract(x: x, cores: cores, rows: rows, scratch: scratch)
        let sizes = stateSizes(rows: rows)
        var gradients: [UnsafeMutablePointer<Float>] = []
        var cursor = scratch + sizes.reduce(0, +)
        for size in sizes {
            gradients.append(cursor)
            cursor += size
        }
        let outputGradient = gradients[coreCount]
        for index in 0..<(rows * shape.outFeatures) { outputGradient[index] = scale * dy[index] }
        var prefix = rows * shape.outFeatures
        for k in stride(from: coreCount - 1, through: inCores, by: -1) {
            let (left, mode, right) = (shape.bonds[k], shape.modes[k], shape.bonds[k + 1])
            prefix /= mode
            let first = k == inCores
            let coreGradient = coreGradients + shape.coreOffset(k)
            // dG += V_{j-1}ᵀ·dV_j ;  dV_{j-1} = dV_j·Gᵀ  (for the first output core, V_0 = S_pᵀ,
            // so dS_p = G·dV_jᵀ lands directly in S_p's layout).
            Matmul.gemm(states[k], gradients[k + 1], into: coreGradient, m: left, n: mode * right, k: prefix,
                        transposeA: !first, transposeB: false, lda: first ? rows : left, ldb: mode * right,
                        ldc: mode * right, beta: 1)
            if first {
                Matmul.gemm(cores + shape.coreOffset(k), gradients[k + 1], into: gradients[k], m: left, n: rows, k: mode * right,
                            transposeB: true, lda: mode * right, ldb: mode * right, ldc: rows, beta: 0)
            } else {
                Matmul.gemm(gradients[k + 1], cores + shape.coreOffset(k), into: gradients[k], m: prefix, n: left, k: mode * right,
                            transposeB: true, lda: mode * right, ldb: mode * right, ldc: left, beta: 0)
            }
        }
        var rest = 1
        for k in stride(from: inCores - 1, through: 0, by: -1) {
            let (left, mode, right) = (shape.bonds[k], shape.modes[k], shape.bonds[k + 1])
            let coreGradient = coreGradients + shape.coreOffset(k)
            // S_{k+1} = Gᵀ·S_k  ⇒  dG += S_k·dS_{k+1}ᵀ ;  dS_k = G·dS_{k+1}
            Matmul.gemm(states[k], gradients[k + 1], into: coreGradient, m: left * mode, n: right, k: rest * rows,
                        transposeB: true, lda: rest * rows, ldb: rest * rows, ldc: right, beta: 1)
            Matmul.gemm(cores + shape.coreOffset(k), gradients[k + 1], into: gradients[k], m: left * mode, n: rest * rows, k: right,
                        transposeB: false, lda: right, ldb: rest * rows, ldc: rest * rows, beta: 0)
            rest *= mode
        }
        let inputGradient = gradients[0]  // (in, rows)
        let inFeatures = shape.inFeatures
        for row in 0..<rows {
            for column in 0..<inFeatures { dx[row * inFeatures + column] += inputGradient[column * rows + row] }
        }
    }

    /// `target (columns, rows) = sourceᵀ` for `source (rows, columns)`.
    private func transpose(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, rows: Int, columns: Int) {
        for row in 0..<rows {
            for column in 0..<columns { target[column * rows + row] = source[row * columns + column] }
        }
    }
}
