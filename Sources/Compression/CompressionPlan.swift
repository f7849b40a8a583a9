import Foundation
import Llama
import SpecFiles
import Yams

/// Which base weights `ttl-train compress` decomposes, viewed how, at which ranks — read strictly
/// from YAML and checked against the model before any decomposition starts:
///
/// ```yaml
/// refinements: 1                  # HOOI sweeps after the HOSVD (default 0: plain HOSVD)
/// targets:
///   - matrices: [q_proj, k_proj]  # PEFT names
///     layers: [20, 21, 22]        # default: all
///     view: heads                 # heads (attention: heads × head_dim × hidden) | matrix (truncated SVD)
///     ranks: [3, 32, 288]         # one per mode of the view ...
///   - matrices: [gate_proj, up_proj]
///     energy: 0.9                 # ... or the share of each mode's squared singular values to keep
/// ```
public struct CompressionPlan: Sendable {
    /// One weight to decompose.
    public struct Target: Sendable, Equatable {
        public let layer: Int
        public let site: LinearSite
        /// The view's dimensions; its first `outputModes` modes index the weight's output rows.
        public let tensorShape: [Int]
        public let outputModes: Int
        public let ranks: TuckerDecomposition.Ranks

        /// The Hugging Face name of the weight (`model.layers.3.self_attn.q_proj.weight`).
        public var weightName: String { "model.layers.\(layer).\(site.modulePath).weight" }
    }

    public let refinements: Int
    public let targets: [Target]
    /// The plan as written, recorded in the compressed model file.
    public let text: String

    public static func load(path: String, config: LlamaConfig) throws -> CompressionPlan {
        switch TextFile.read(path, limit: SpecReader.maxDocumentBytes) {
        case .success(let text): return try parse(text, file: path, config: config)
        case .failure(let error): throw SpecError(file: path, keyPath: "(file)", problem: error.problem)
        }
    }

    /// Parses and checks plan text against a model's config; `file` names it in errors.
    public static func parse(_ text: String, file: String, config: LlamaConfig) throws -> CompressionPlan {
        let r = SpecReader(file: file)
        let root = try r.document(text, needs: "a compression plan needs targets: a list of matrices with ranks or energy")
        let top = try r.table(root, at: "", keys: ["refinements", "targets"])
        let refinements = try r.int(top, "refinements", at: "", in: 0...TuckerDecomposition.maxRefinements, default: 0)
        guard let entries = top["targets"]?.sequence, !entries.isEmpty else {
            throw r.error("targets", "is required: a list of {matrices, layers, view, ranks | energy}", found: top["targets"])
        }
        var targets: [Target] = []
        for (index, entry) in entries.enumerated() {
            targets += try Self.targets(entry, at: "targets[\(index)]", reader: r, config: config)
        }
        var seen: Set<String> = []
        for target in targets where !seen.insert(target.weightName).inserted {
            throw r.error("targets", "\(target.site.rawValue) of layer \(target.layer) is named by more than one target")
        }
        return CompressionPlan(refinements: refinements, targets: targets, text: text)
    }

    private static func targets(_ node: Node, at path: String, reader r: SpecReader, config: LlamaConfig) throws -> [Target] {
        let table = try r.table(node, at: path, keys: ["matrices", "layers", "view", "ranks", "energy"])
        let sites = try r.list(table, "matrices", at: path) { node, at -> LinearSite in
            let name = try r.stringElement(node, at)
            guard let site = LinearSite(rawValue: name) else {
                throw r.error(at, "unknown matrix '\(name)' (expected one of \(LinearSite.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return site
        }
        guard !sites.isEmpty else { throw r.error(r.join(path, "matrices"), "names no matrix") }
        let layers = try r.list(table, "layers", at: path, default: Array(0..<config.layerCount)) { node, at -> Int in
            let layer = try r.intElement(in: Int.min...Int.max)(node, at)
            guard (0..<config.layerCount).contains(layer) else {
                throw r.error(at, "layer \(layer) does not exist (the model has \(config.layerCount) layers, 0…\(config.layerCount - 1))")
            }
            return layer
        }
        guard !layers.isEmpty else { throw r.error(r.join(path, "layers"), "names no layer (leave it out for all)") }
        let view = try table["view"].map { _ in try r.choice(table, "view", at: path, ["heads", "matrix"]) }
        let ranks: TuckerDecomposition.Ranks
        switch (table["ranks"], table["energy"]) {
        case (_?, _?), (nil, nil):
            throw r.error(path, "give either ranks (one per mode of the view) or energy (0 < energy ≤ 1)")
        case (_?, nil):
            ranks = .fixed(try r.list(table, "ranks", at: path, r.intElement(in: Int.min...Int.max)))
        case (nil, _?):
            let energy = try r.double(table, "energy", at: path, "in (0, 1]", valid: { $0 > 0 && $0 <= 1 })
            ranks = .energy(energy)
        }
        return try layers.flatMap { layer in
            try sites.map { site in
                let (shape, outputModes) = try Self.view(view, of: site, config: config, reader: r, at: r.join(path, "view"))
                if case .fixed(let given) = ranks { try check(given, shape: shape, site: site, reader: r, at: r.join(path, "ranks")) }
                return Target(layer: layer, site: site, tensorShape: shape, outputModes: outputModes, ranks: ranks)
            }
        }
    }

    /// The tensor a weight is viewed as: attention projections split their head side into
    /// heads × head_dim (the default for them); any weight can be a plain out × in matrix.
    static func view(_ name: String?, of site: LinearSite, config: LlamaConfig, reader r: SpecReader, at path: String) throws -> ([Int], Int) {
        let (h, d) = (config.hiddenSize, config.headDim)
        let headsView: ([Int], Int)?
        switch site {
        case .qProj: headsView = ([config.attentionHeads, d, h], 2)
        case .kProj, .vProj: headsView = ([config.keyValueHeads, d, h], 2)
        case .oProj: headsView = ([h, config.attentionHeads, d], 1)
        case .gateProj, .upProj, .downProj: headsView = nil
        }
        let (inFeatures, outFeatures) = config.linearShape(site)
        let matrix = [outFeatures, inFeatures]
        switch name ?? (headsView == nil ? "matrix" : "heads") {
        case "heads":
            guard let headsView else { throw r.error(path, "\(site.rawValue) has no heads to split; use view: matrix") }
            return headsView
        default:
            return (matrix, 1)
        }
    }

    /// Ranks must be one per mode, at least 1, and at most what the mode's unfolding can have.
    private static func check(_ ranks: [Int], shape: [Int], site: LinearSite, reader r: SpecReader, at path: String) throws {
        let shown = shape.map(String.init).joined(separator: "×")
        guard ranks.count == shape.count else {
            throw r.error(path, "\(ranks.count) ranks for the \(shape.count) modes of \(site.rawValue)'s view \(shown)")
        }
        let total = shape.reduce(1, *)
        for (mode, rank) in ranks.enumerated() {
            let limit = min(shape[mode], total / shape[mode])
            guard rank >= 1 else { throw r.error("\(path)[\(mode)]", "rank \(rank) must be at least 1") }
            guard rank <= limit else {
                throw r.error("\(path)[\(mode)]", "rank \(rank) exceeds \(limit), the largest mode \(mode) of \(site.rawValue)'s view \(shown) allows")
            }
        }
        guard TuckerDecomposition.consistent(ranks) == ranks else {
            throw r.error(path, "ranks \(ranks): no rank may exceed the product of the others (try \(TuckerDecomposition.consistent(ranks)))")
        }
    }
}
