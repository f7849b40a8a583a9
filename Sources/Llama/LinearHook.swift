/// The seven linear layers of a llama block, named as in Hugging Face/PEFT so adapter targets
/// read the same (`q_proj`, `v_proj`, …).
public enum LinearSite: String, CaseIterable, Sendable {
    case qProj = "q_proj", kProj = "k_proj", vProj = "v_proj", oProj = "o_proj"
    case gateProj = "gate_proj", upProj = "up_proj", downProj = "down_proj"

    /// The Hugging Face module path inside a layer (`self_attn.q_proj`, `mlp.down_proj`).
    public var modulePath: String {
        switch self {
        case .qProj, .kProj, .vProj, .oProj: return "self_attn.\(rawValue)"
        case .gateProj, .upProj, .downProj: return "mlp.\(rawValue)"
        }
    }
}

/// One hook call: which layer and site, and the shapes. The model calls the hook of each linear once
/// per sequence; the call covers rows `firstRow ..< firstRow + rows` of the packed batch.
public struct LinearCall: Sendable, Equatable {
    public let layer: Int
    public let site: LinearSite
    public let firstRow: Int
    public let rows: Int
    public let inFeatures: Int
    public let outFeatures: Int

    public init(layer: Int, site: LinearSite, firstRow: Int, rows: Int, inFeatures: Int, outFeatures: Int) {
        self.layer = layer
        self.site = site
        self.firstRow = firstRow
        self.rows = rows
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }
}

/// Where adapters attach: the model calls the hook around every linear layer, and the hook adds
/// its own contribution without the model knowing what kind of adapter it is (or whether any).
///
/// Pointers are row-major `(rows, features)` views into the model's activation buffers, valid
/// only during the call. `base` is the layer's frozen weight, for a hook whose arithmetic needs
/// `W` itself.
public protocol LinearHook: AnyObject {
    /// Called after the base product `y = x·Wᵀ` is in `output`; may change it (add `Δy`, rescale).
    func forward(_ call: LinearCall, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, base: FrozenLinear)

    /// Called in backward with `dL/dy`, after the base activation gradient `dy·W` is in
    /// `inputGradient`; may add its own part of `dL/dx` there and record its parameter gradients.
    func backward(
        _ call: LinearCall, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>, base: FrozenLinear)
}
