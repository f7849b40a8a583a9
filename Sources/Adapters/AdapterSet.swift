import Kernels
import Llama

/// All adapters of a model: parameters in one flat buffer, gradients in a twin buffer, and the
/// layout table. Attached to a `LlamaModel` as its `linearHook`, it adds each adapter's output
/// in forward and its input and parameter gradients in backward; the model never learns which
/// kind it is.
///
/// ```swift
/// let adapters = try AdapterSet(layout: AdapterLayout(spec: spec, config: model.config), maxRows: 128)
/// adapters.initialize(seed: 42, model: model)
/// model.linearHook = adapters
/// ```
public final class AdapterSet: LinearHook {
    public let layout: AdapterLayout
    /// All adapter parameters, laid out by `layout`.
    public let parameters: FloatBuffer
    /// dL/d(parameters), summed over every backward since the last `zeroGradients()`.
    public let gradients: FloatBuffer
    /// 1 where a parameter trains, 0 where sparse LoRA pruned it (all 1 for other kinds). Masks
    /// are identical on every rank, so the gradient reduction can skip the pruned entries.
    public let masks: FloatBuffer
    /// Set while training (e.g. from the seed, step and micro-batch) to turn LoRA dropout on with
    /// a reproducible mask; nil evaluates without dropout.
    public var dropoutSeed: UInt64?
    private let adapters: [Adapter]
    private let entryIndex: [Int: Int]
    private let scratch: FloatBuffer

    /// An adapter set with zero parameters; `maxRows` bounds the rows of one linear call (the
    /// longest sequence).
    public init(layout: AdapterLayout, maxRows: Int) {
        self.layout = layout
        parameters = FloatBuffer(count: layout.parameterCount)
        gradients = FloatBuffer(count: layout.parameterCount)
        masks = FloatBuffer([Float](repeating: 1, count: layout.parameterCount))
        adapters = layout.entries.map { $0.makeAdapter(spec: layout.spec) }
        var index: [Int: Int] = [:]
        for (position, entry) in layout.entries.enumerated() { index[Self.key(entry.layer, entry.site)] = position }
        entryIndex = index
        scratch = FloatBuffer(count: adapters.map { $0.scratchCount(rows: maxRows) }.max() ?? 0)
    }

    private static func key(_ layer: Int, _ site: LinearSite) -> Int {
        layer * LinearSite.allCases.count + LinearSite.allCases.firstIndex(of: site)!
    }

    private func adapter(layer: Int, site: LinearSite) -> Adapter? {
        entryIndex[Self.key(layer, site)].map { adapters[$0] }
    }

    /// The entry adapting `layer`'s `site`, if any.
    public func entry(layer: Int, site: LinearSite) -> AdapterEntry? {
        adapter(layer: layer, site: site)?.entry
    }

    /// Seeded initialisation, the same bits on every rank and machine (each kind documents its
    /// own: LoRA's zero `B`, TT-LoRA's normalised cores, DoRA's magnitudes from `model`'s
    /// weights). Clears all masks.
    public func initialize(seed: UInt64, model: LlamaModel) {
        var generator = SplitMix64(seed: seed)
        parameters.zero()
        masks.copy(from: [Float](repeating: 1, count: masks.count))
        for adapter in adapters {
            adapter.initialize(parameters.at(adapter.entry.tensors[0].offset), generator: &generator, spec: layout.spec,
                               base: model.frozenLinear(layer: adapter.entry.layer, site: adapter.entry.site))
        }
    }

    /// Copies `source`'s tensors into this set's same-named tensors of the same targets (CA-LoRA's
    /// knowledge inheritance: the student's recovery modules keep their own values).
    public func inherit(from source: AdapterSet) {
        for sourceEntry in source.layout.entries {
            guard let entry = entry(layer: sourceEntry.layer, site: sourceEntry.site) else { continue }
            for tensor in sourceEntry.tensors {
                parameters.copy(from: source.parameters.array(tensor.range), at: entry.tensor(tensor.name).offset)
            }
        }
    }

    public func zeroGradients() {
        gradients.zero()
    }

    public func forward(_ call: LinearCall, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, base: FrozenLinear) {
        guard let adapter = adapter(layer: call.layer, site: call.site) else { return }
        adapter.forward(x: input, parameters: parameters.at(adapter.entry.tensors[0].offset), into: output,
                        call: call, dropoutSeed: dropoutSeed, scratch: scratch.pointer, base: base)
    }

    public func backward(
        _ call: LinearCall, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>, base: FrozenLinear
    ) {
        guard let adapter = adapter(layer: call.layer, site: call.site) else { return }
        let first = adapter.entry.tensors[0].offset
        adapter.backward(dy: outputGradient, x: input, parameters: parameters.at(first), dx: inputGradient,
                         gradients: gradients.at(first), masks: masks.at(first), call: call, dropoutSeed: dropoutSeed,
                         scratch: scratch.pointer, base: base)
    }
}

extension AdapterSet {
    /// The base weight `(out, in)` of `entry`'s layer with the adapter folded in (`W + ΔW`, or
    /// DoRA's rescaled rows). Merging uses it, and a test checks that the merged model equals
    /// base + adapter.
    public func merged(_ entry: AdapterEntry, into weight: [Float]) -> [Float] {
        guard let adapter = adapter(layer: entry.layer, site: entry.site) else { return weight }
        precondition(weight.count == entry.outFeatures * entry.inFeatures, "weight of \(entry.target) has the wrong size")
        var merged = weight
        adapter.merge(parameters.at(entry.tensors[0].offset), into: &merged)
        return merged
    }
}
