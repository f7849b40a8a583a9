import Llama

/// What an adapter kind is, beyond one layer's arithmetic (`Adapter`): its tensors and their
/// shapes, its scale and default α, which settings it takes, what its checkpoint group records,
/// and its PEFT form. One file per kind conforms, and `AdapterKinds.all` lists them; nothing
/// outside this module asks which kind it has (docs/DESIGN.md, "Adding an adapter kind").
public protocol AdapterKind: Sendable {
    /// The name in job specs (`adapter.kind`), on the command line and in checkpoints.
    var name: String { get }
    /// One line for help texts.
    var summary: String { get }

    /// α when the spec or the command line gives none.
    func defaultAlpha(rank: Int) -> Float
    /// The factor multiplying the adapter's product (α/r for LoRA).
    func scale(alpha: Float, rank: Int) -> Float

    /// Whether `adapter.dropout` applies (on the adapter's input while training).
    var takesDropout: Bool { get }
    /// Whether parameters carry 0/1 masks that `adapter.sparsity` prunes.
    var isMasked: Bool { get }
    /// Whether CA-LoRA's recovery modules may sit beside it.
    var takesRecovery: Bool { get }
    /// Checks of the settings only this kind has, naming the setting.
    func validate(_ spec: AdapterSpec) throws

    /// What fixes the tensors of one adapted layer besides rank and features (TT-LoRA's
    /// factors), as integer lists: recorded as attributes of its checkpoint group.
    func shapeAttributes(inFeatures: Int, outFeatures: Int, spec: AdapterSpec) -> [String: [Int]]
    /// The names `shapeAttributes` uses: what a checkpoint reader reads back.
    var shapeAttributeNames: [String] { get }
    /// The tensors of one adapted layer, in buffer order; a problem (thrown as a `String`-carrying
    /// `AdapterKindError`) when stored attributes do not fit together.
    func tensorShapes(rank: Int, inFeatures: Int, outFeatures: Int, attributes: [String: [Int]]) throws -> [(name: String, shape: [Int])]
    /// The spec settings a stored adapter's shape attributes imply, for rebuilding a layout from
    /// a checkpoint alone.
    func restore(_ attributes: [String: [Int]], inFeatures: Int, outFeatures: Int, into spec: inout AdapterSpec)

    /// The implementation of one adapted layer.
    func makeAdapter(entry: AdapterEntry, spec: AdapterSpec) -> Adapter

    /// The adapter as PEFT stores it (tensor name suffixes and `LoraConfig` values), or an
    /// `AdapterKindError` saying why PEFT cannot hold it.
    func peftModule(_ adapter: StoredAdapter) throws -> PEFTModule
}

extension AdapterKind {
    /// 2·rank, PEFT's common choice for a low-rank update.
    public func defaultAlpha(rank: Int) -> Float { Float(2 * rank) }

    /// α/r, PEFT's LoRA scaling.
    public func scale(alpha: Float, rank: Int) -> Float { alpha / Float(rank) }

    public var shapeAttributeNames: [String] { [] }

    public func shapeAttributes(inFeatures: Int, outFeatures: Int, spec: AdapterSpec) -> [String: [Int]] { [:] }

    public func restore(_ attributes: [String: [Int]], inFeatures: Int, outFeatures: Int, into spec: inout AdapterSpec) {}

    public func validate(_ spec: AdapterSpec) throws {}
}

/// The adapter kinds this ttl-train knows: the one registry. A new kind is one file and one
/// entry here.
public enum AdapterKinds {
    public static let all: [any AdapterKind] = [LoRAKind(), SparseLoRAKind(), TensorTrainKind(), DoRAKind()]

    public static func named(_ name: String) -> (any AdapterKind)? {
        all.first { $0.name == name }
    }

    /// The names of the kinds satisfying `condition`, for messages (`lora and tt-lora`).
    public static func names(where condition: (any AdapterKind) -> Bool = { _ in true }) -> String {
        let names = all.filter(condition).map(\.name)
        return names.count <= 1 ? names.joined() : names.dropLast().joined(separator: ", ") + " and " + names.last!
    }
}

/// Why stored adapter values do not fit their kind, or why a kind cannot be exported.
public struct AdapterKindError: Error, CustomStringConvertible, Sendable {
    public let problem: String

    public init(_ problem: String) {
        self.problem = problem
    }

    public var description: String { problem }
}

/// One adapted module as a PEFT adapter directory holds it.
public struct PEFTModule: Sendable {
    /// Tensors by the suffix after the module path (`lora_A.weight`, `lora_magnitude_vector`).
    public var tensors: [(suffix: String, shape: [Int], values: [Float])]
    public var rank: Int
    /// `lora_alpha`: PEFT's scale is `lora_alpha / r`.
    public var loraAlpha: Double
    public var useDora: Bool
    /// What the adapter is, for the model card: `LoRA of rank 8`.
    public var method: String

    public init(tensors: [(suffix: String, shape: [Int], values: [Float])], rank: Int, loraAlpha: Double, useDora: Bool = false, method: String) {
        self.tensors = tensors
        self.rank = rank
        self.loraAlpha = loraAlpha
        self.useDora = useDora
        self.method = method
    }
}
