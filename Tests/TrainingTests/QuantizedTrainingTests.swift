import Distributed
import Foundation
import Kernels
import Llama
import TestSupport
import Training
import XCTest

/// Training on a quantized base is training on the float32 model of its decoded values, bit for
/// bit, for every adapter kind: the trainer never sees how the base is stored.
final class QuantizedTrainingTests: XCTestCase {
    func testEveryAdapterKindTrainsTheSameBitsOnTheQuantizedBaseAndItsDecodedFloat32Twin() throws {
        let directory = try TemporaryDirectory()
        let job = try TinyJob(directory: directory)
        let quantized = directory.path("q4_0.h5"), decoded = directory.path("decoded.h5")
        _ = try ModelQuantizer.quantize(model: try ModelFile(path: job.modelPath), to: .q4_0,
                                        rules: [try ModelQuantizer.Rule(parsing: "embed_tokens=q8_0")], path: quantized)
        let quantizedFile = try ModelFile(path: quantized)
        XCTAssertEqual(quantizedFile.storageDescription, "f32:5,q8_0:1,q4_0:14")
        try ModelWriter.write(to: decoded, config: quantizedFile.config, source: "decoded") { name, _ in try quantizedFile.read(name) }
        for (kind, extra) in [("lora", ", dropout: 0.1"), ("tt-lora", ""), ("sparse-lora", ", sparsity: {final: 0.5, start_step: 1, end_step: 3, every: 1}"),
                             ("dora", "")] {
            var trained: [Trainer] = []
            for model in [quantized, decoded] {
                let text = job.yaml(kind: kind, steps: 4, output: directory.path("\(kind)-\((model as NSString).lastPathComponent)"), extra: extra)
                    .replacingOccurrences(of: job.modelPath, with: model)
                let trainer = try Trainer(spec: try JobSpec.parse(text, file: "tiny.yaml"), file: "tiny.yaml", communicator: SingleProcessCommunicator())
                _ = try trainer.run(resume: .fresh, stop: StopRequest()) { _ in }
                trained.append(trainer)
            }
            XCTAssertEqual(trained[0].adapters.parameters.array().map(\.bitPattern), trained[1].adapters.parameters.array().map(\.bitPattern), kind)
            XCTAssertEqual(trained[0].optimizer.secondMoment.array().map(\.bitPattern), trained[1].optimizer.secondMoment.array().map(\.bitPattern), kind)
            XCTAssertEqual(trained[0].optimizer.steps, 4, kind)
        }
    }
}
