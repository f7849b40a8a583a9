import Adapters
import Distributed
import Foundation
import HDF5
import Kernels
import Llama
import TestSupport
import Training
import XCTest

/// Checkpoints written by ttl-train before adapter kinds became plug-ins (format 1, committed in
/// Tests/Fixtures/checkpoints-v1 as HDF5 text fixtures, with the logits `ttl-train perplexity
/// --logits-out` gave then on the tiny model and `ids.txt`) still load: for inference by the
/// layout their own adapter groups record — the job spec they carry names files that no longer
/// exist — and for a resume into today's trainer.
final class OldCheckpointTests: XCTestCase {
    private let fixtures = Repository.path("Tests/Fixtures/checkpoints-v1")
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory()
    }

    private func ids() throws -> [Int32] {
        try String(contentsOfFile: "\(fixtures)/ids.txt", encoding: .utf8).split(whereSeparator: \.isWhitespace).map { Int32($0)! }
    }

    /// The fixture `name` (e.g. `lora.h5`) as an HDF5 file in the test's directory.
    private func fixture(_ name: String) throws -> String {
        let path = directory.path(name)
        if !FileManager.default.fileExists(atPath: path) { try HDF5TextFixture.materialize("\(fixtures)/\(name).json", to: path) }
        return path
    }

    /// The fixtures' logits were computed with OpenBLAS's `SkylakeX`/`Cooperlake` kernels (which
    /// give the same bits) under attention's products; ttl-train's own kernels give the same bits
    /// on every path. OpenBLAS's kernels for older extensions sum in another order, so there the
    /// logits agree to rounding.
    private var writtenWithTheseKernels: Bool {
        ["SkylakeX", "Cooperlake"].contains(ComputePlatform.blasCore)
    }

    func testEveryKindLoadsForInferenceAndGivesTheLogitsItGaveThen() throws {
        let job = try TinyJob(directory: directory)
        let file = try ModelFile(path: job.modelPath)
        let tokens = try ids()
        for kind in ["lora", "tt-lora", "sparse-lora"] {
            let inference = InferenceModel(weights: try LlamaWeights(file: file), fingerprint: file.fingerprint,
                                           maxTokens: tokens.count, maxSequenceLength: tokens.count)
            let adapters = try inference.load(checkpoint: try fixture("\(kind).h5"))
            XCTAssertEqual(adapters.layout.spec.kind.rawValue, kind)
            XCTAssertEqual(adapters.layout.entries.map(\.site), [.qProj, .vProj, .downProj, .qProj, .vProj, .downProj])
            try inference.model.forward(TokenBatch(sequences: [tokens]))
            let logits = inference.model.logits(rows: 0..<tokens.count)
            let expected = try HDF5File.open(try fixture("\(kind)-logits.h5")).root.read("logits", as: Float.self)
            if writtenWithTheseKernels {
                XCTAssertEqual(logits, expected, "\(kind): the same bits as when it was written")
            } else {
                XCTAssertEqual(logits.count, expected.count)
                let worst = zip(logits, expected).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
                XCTAssertLessThan(worst, 1e-5, "\(kind): the logits it gave then, to rounding (other BLAS kernels)")
            }
            inference.attach(nil)
            try inference.model.forward(TokenBatch(sequences: [tokens]))
            XCTAssertNotEqual(inference.model.logits(rows: 0..<tokens.count), expected, "\(kind): the adapters matter")
        }
    }

    func testEveryKindResumesIntoTodaysTrainer() throws {
        let job = try TinyJob(directory: directory)
        let extras = ["lora": ", dropout: 0.1", "tt-lora": "", "sparse-lora": ", sparsity: {final: 0.5, start_step: 1, end_step: 2, every: 1}"]
        for (kind, extra) in extras.sorted(by: { $0.key < $1.key }) {
            let spec = try JobSpec.parse(job.yaml(kind: kind, steps: 4, output: directory.path("run-\(kind)"), extra: extra), file: "\(kind).yaml")
            let trainer = try Trainer(spec: spec, file: "\(kind).yaml", communicator: SingleProcessCommunicator())
            let state = try Checkpoint.read(try fixture("\(kind).h5"), into: trainer.adapters, optimizer: trainer.optimizer,
                                            modelFingerprint: trainer.resolved.model.fingerprint, maxStep: 4)
            XCTAssertEqual(state.step, 2, kind)
            XCTAssertEqual(trainer.optimizer.steps, 2, kind)
            let loss = try trainer.step(2).loss
            XCTAssertTrue(loss.isFinite && loss > 0, kind)
        }
    }
}
