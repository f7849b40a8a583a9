import Foundation
import Kernels
import Llama

/// TT-LoRA: `ΔW = α·TT(cores)`, the update as a tensor train over the factors of its input and
/// output dimensions (`TensorTrainShape`); its checkpoint group records the factors.
struct TensorTrainKind: AdapterKind {
    var name: String { "tt-lora" }
    var summary: String { "TT-LoRA: ΔW = α·TT(cores) over the factors of in and out" }

    /// 1: the scale multiplies the whole tensor train.
    func defaultAlpha(rank: Int) -> Float { 1 }
    func scale(alpha: Float, rank: Int) -> Float { alpha }

    var takesDropout: Bool { false }
    var isMasked: Bool { false }
    var takesRecovery: Bool { true }

    /// The largest number of modes a stored train may have: beyond any real factorisation.
    static let maxModes = 16

    /// The factors of in and out, and the train's modes they make (`tt_shape`, for readers).
    var shapeAttributeNames: [String] { ["in_factors", "out_factors", "tt_shape"] }

    func shapeAttributes(inFeatures: Int, outFeatures: Int, spec: AdapterSpec) -> [String: [Int]] {
        let (inFactors, outFactors) = (spec.factors(of: inFeatures), spec.factors(of: outFeatures))
        return ["in_factors": inFactors, "out_factors": outFactors,
                "tt_shape": TensorTrainShape(inFactors: inFactors, outFactors: outFactors, rank: spec.rank).modes]
    }

    func tensorShapes(rank: Int, inFeatures: Int, outFeatures: Int, attributes: [String: [Int]]) throws -> [(name: String, shape: [Int])] {
        let train = try Self.shape(rank: rank, inFeatures: inFeatures, outFeatures: outFeatures, attributes: attributes)
        return (0..<train.modes.count).map { ("core_\($0)", train.coreShape($0)) }
    }

    func restore(_ attributes: [String: [Int]], inFeatures: Int, outFeatures: Int, into spec: inout AdapterSpec) {
        spec.tensorTrainFactors[inFeatures] = attributes["in_factors"]
        spec.tensorTrainFactors[outFeatures] = attributes["out_factors"]
    }

    func makeAdapter(entry: AdapterEntry, spec: AdapterSpec) -> Adapter {
        let shape = try! Self.shape(rank: entry.rank, inFeatures: entry.inFeatures, outFeatures: entry.outFeatures, attributes: entry.attributes)
        return TensorTrainAdapter(entry: entry, train: TensorTrain(shape: shape, scale: entry.scale), path: spec.tensorTrainPath)
    }

    /// The train of factors `attributes` records, checked to factor the features.
    static func shape(rank: Int, inFeatures: Int, outFeatures: Int, attributes: [String: [Int]]) throws -> TensorTrainShape {
        let (inFactors, outFactors) = (attributes["in_factors"] ?? [], attributes["out_factors"] ?? [])
        guard !inFactors.isEmpty, !outFactors.isEmpty, inFactors.count + outFactors.count <= maxModes,
              TensorTrainShape.product(of: inFactors) == inFeatures, TensorTrainShape.product(of: outFactors) == outFeatures else {
            throw AdapterKindError("in_factors \(inFactors) and out_factors \(outFactors) do not factor \(inFeatures) × \(outFeatures)")
        }
        let shape = TensorTrainShape(inFactors: inFactors, outFactors: outFactors, rank: rank)
        guard attributes["tt_shape"] == shape.modes else {
            throw AdapterKindError("tt_shape \(attributes["tt_shape"] ?? []) is not the modes \(shape.modes) of in_factors \(inFactors) and out_factors \(outFactors)")
        }
        return shape
    }

    /// Exactly, as a LoRA of the tensor-train rank r. The train's modes are the input factors
    /// followed by the output factors, so contracting the input cores gives `U (in, r)` and the
    /// output cores `V (r, out)` with `ΔW = α·U·V` — an exact rank-r factorisation, no SVD and no
    /// approximation. Exported as `A = Uᵀ`, `B = α·Vᵀ`, `lora_alpha = r` (PEFT scale 1).
    func peftModule(_ adapter: StoredAdapter) throws -> PEFTModule {
        let inCores = adapter.attributes["in_factors"]?.count ?? 0
        let coreCount = inCores + (adapter.attributes["out_factors"]?.count ?? 0)
        let cores = try (0..<coreCount).map { k in
            guard let core = adapter.tensor("core_\(k)") else { throw AdapterKindError("\(adapter.target) has no core_\(k)") }
            return core
        }
        let u = Self.contract(cores[..<inCores])
        let v = Self.contract(cores[inCores...])
        let r = adapter.rank
        let (inFeatures, outFeatures) = (adapter.inFeatures, adapter.outFeatures)
        var a = [Float](repeating: 0, count: r * inFeatures)
        var b = [Float](repeating: 0, count: outFeatures * r)
        for i in 0..<inFeatures {
            for k in 0..<r { a[k * inFeatures + i] = Float(u[i * r + k]) }
        }
        for o in 0..<outFeatures {
            for k in 0..<r { b[o * r + k] = Float(Double(adapter.alpha) * v[k * outFeatures + o]) }
        }
        return PEFTModule(tensors: [("lora_A.weight", [r, inFeatures], a), ("lora_B.weight", [outFeatures, r], b)],
                          rank: r, loraAlpha: Double(r), method: "TT-LoRA (tensor-train LoRA) of TT rank \(r), exported exactly as a LoRA of rank \(r)")
    }

    /// Cores `(r_{k-1}, s_k, r_k)` multiplied along their bonds into a row-major
    /// `(r_first · s_1 ⋯ s_n, r_last)` matrix, in Double (starting from the identity on the
    /// first bond).
    static func contract(_ cores: ArraySlice<StoredAdapter.Tensor>) -> [Double] {
        var width = cores.first!.shape[0]
        var rows = width
        var result = (0..<(rows * width)).map { $0 / width == $0 % width ? 1.0 : 0.0 }
        for core in cores {
            let (left, mode, right) = (core.shape[0], core.shape[1], core.shape[2])
            precondition(left == width)
            var next = [Double](repeating: 0, count: rows * mode * right)
            for row in 0..<rows {
                for bond in 0..<left where result[row * left + bond] != 0 {
                    let weight = result[row * left + bond]
                    for s in 0..<mode {
                        for k in 0..<right {
                            next[(row * mode + s) * right + k] += weight * Double(core.values[(bond * mode + s) * right + k])
                        }
                    }
                }
            }
            result = next
            rows *= mode
            width = right
        }
        return result
    }
}

extension AdapterSpec.Kind {
    public static let ttLora = Self(TensorTrainKind())
}

/// TT-LoRA as an adapter: `Δy = α·x·ΔW` with ΔW the tensor train of the entry's cores, by the
/// path the spec forces or, per call, the cheaper one by FLOP count.
struct TensorTrainAdapter: Adapter {
    let entry: AdapterEntry
    let train: TensorTrain
    let path: TensorTrain.Path?

    func scratchCount(rows: Int) -> Int {
        train.scratchCount(rows: rows)
    }

    /// Cores uniform in ±1, scaled alike so ΔW's entries have std 1/√in (the Kaiming scale of a
    /// dense layer); with `.zeroDelta` the last core is then zeroed so ΔW = 0 at step 0.
    func initialize(_ parameters: UnsafeMutablePointer<Float>, generator: inout SplitMix64, spec: AdapterSpec, base: FrozenLinear) {
        let count = train.shape.parameterCount
        for index in 0..<count { parameters[index] = generator.nextFloat(in: -1..<1) }
        let weight = reconstruction(parameters)
        let meanSquare = weight.reduce(0.0) { $0 + Double($1 * $1) } / Double(weight.count)
        let perCore = Float(Foundation.pow(1 / Double(entry.inFeatures) / max(meanSquare, 1e-30), 0.5 / Double(train.shape.modes.count)))
        for index in 0..<count { parameters[index] *= perCore }
        if spec.tensorTrainInitialization == .zeroDelta {
            let last = entry.tensor("core_\(train.shape.modes.count - 1)")
            (parameters + offset(last.name)).update(repeating: 0, count: last.count)
        }
    }

    func forward(x: UnsafePointer<Float>, parameters: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                 call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>, base: FrozenLinear) {
        train.forward(x: x, cores: parameters, into: y, rows: call.rows, path: path ?? train.cheaperPath(rows: call.rows), scratch: scratch)
    }

    func backward(dy: UnsafePointer<Float>, x: UnsafePointer<Float>, parameters: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>, masks: UnsafePointer<Float>,
                  call: LinearCall, dropoutSeed: UInt64?, scratch: UnsafeMutablePointer<Float>, base: FrozenLinear) {
        train.backward(dy: dy, x: x, cores: parameters, dx: dx, coreGradients: gradients, rows: call.rows,
                       path: path ?? train.cheaperPath(rows: call.rows), scratch: scratch)
    }

    /// `W + ΔW`; ΔW is `(in, out)` and the base weight `(out, in)`: the transpose, scaled.
    func merge(_ parameters: UnsafePointer<Float>, into weight: inout [Float]) {
        add(deltaWeight(parameters), into: &weight)
    }

    private func deltaWeight(_ parameters: UnsafePointer<Float>) -> [Float] {
        let weight = reconstruction(parameters)
        var delta = [Float](repeating: 0, count: entry.outFeatures * entry.inFeatures)
        for row in 0..<entry.outFeatures {
            for column in 0..<entry.inFeatures { delta[row * entry.inFeatures + column] = entry.scale * weight[column * entry.outFeatures + row] }
        }
        return delta
    }

    /// The unscaled `(in, out)` reconstruction.
    private func reconstruction(_ parameters: UnsafePointer<Float>) -> [Float] {
        var weight = [Float](repeating: 0, count: entry.inFeatures * entry.outFeatures)
        var partials = [Float](repeating: 0, count: train.scratchCount(rows: 1))
        train.reconstruct(cores: parameters, into: &weight, partials: &partials)
        return weight
    }
}
