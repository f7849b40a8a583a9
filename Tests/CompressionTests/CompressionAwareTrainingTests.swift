import Adapters
import Compression
import Distributed
import Foundation
import Llama
import TestSupport
import Training
import XCTest

/// A teacher (the tiny dense llama with a TT-LoRA adapter trained 4 steps) and a Tucker-compressed
/// student model in a temporary directory, and the student's job.
struct CompressionAwareFixture {
    let directory: TemporaryDirectory
    let job: TinyJob
    var compressedPath: String { directory.path("compressed.h5") }
    var teacherCheckpoint: String { directory.path("teacher/checkpoints/step-000004.h5") }

    init() throws {
        directory = try TemporaryDirectory()
        job = try TinyJob(directory: directory)
        let teacher = try JobSpec.parse(job.yaml(kind: "tt-lora", output: directory.path("teacher")), file: "teacher.yaml")
        try Trainer(spec: teacher, file: "teacher.yaml", communicator: SingleProcessCommunicator()).run(resume: .fresh) { _ in }
        let dense = try ModelFile(path: job.modelPath)
        let plan = try CompressionPlan.parse("targets: [{matrices: [q_proj], ranks: [2, 8, 16]}, {matrices: [down_proj], ranks: [12, 12]}]",
                                             file: "plan.yaml", config: dense.config)
        _ = try ModelCompressor.compress(model: dense, plan: plan, to: compressedPath)
    }

    /// The student's job: the teacher's TT-LoRA plus recovery modules, on the compressed model.
    func studentYAML(output: String, steps: Int = 4, teacherModel: String? = nil, adapterRank: Int = 4, distill: Double = 0.5,
                     kl: Double = 0) -> String {
        job.yaml(kind: "tt-lora", steps: steps, output: directory.path(output),
                 extra: ", recovery: {rank: 2, alpha: 4, activation: gelu}", checkpointEvery: 2)
            .replacingOccurrences(of: "model: \(job.modelPath)", with: "model: \(compressedPath)")
            .replacingOccurrences(of: "rank: 4, targets", with: "rank: \(adapterRank), targets")
            + "compression_aware: {teacher_model: \(teacherModel ?? job.modelPath), teacher_checkpoint: \(teacherCheckpoint), distill_weight: \(distill), kl_weight: \(kl)}\n"
    }

    func student(output: String, steps: Int = 4, kl: Double = 0, communicator: Communicator = SingleProcessCommunicator()) throws -> Trainer {
        try Trainer(spec: try JobSpec.parse(studentYAML(output: output, steps: steps, kl: kl), file: "student.yaml"), file: "student.yaml",
                    communicator: communicator)
    }
}

/// CA-LoRA on a tiny llama: a teacher (the dense model with a trained adapter), a student (the
/// Tucker-compressed model with the inherited adapter and GELU recovery modules) distilled
/// towards it. Inheritance, the loss's gradient, world-size independence (this class also runs
/// under `mpirun -np 2/3/4`), exact resume, and refusals of mismatched teachers.
final class CompressionAwareTrainingTests: XCTestCase {
    private var fixture: CompressionAwareFixture!
    private var directory: TemporaryDirectory { fixture.directory }
    private var job: TinyJob { fixture.job }
    private var compressedPath: String { fixture.compressedPath }
    private var teacherCheckpoint: String { fixture.teacherCheckpoint }

    override func setUpWithError() throws {
        fixture = try CompressionAwareFixture()
    }

    private func studentYAML(output: String, teacherModel: String? = nil, adapterRank: Int = 4, distill: Double = 0.5) -> String {
        fixture.studentYAML(output: output, teacherModel: teacherModel, adapterRank: adapterRank, distill: distill)
    }

    private func student(output: String, steps: Int = 4, kl: Double = 0, communicator: Communicator = SingleProcessCommunicator()) throws -> Trainer {
        try fixture.student(output: output, steps: steps, kl: kl, communicator: communicator)
    }

    private let batch = TokenBatch(sequences: [[21, 40, 77, 130, 11], [25, 99, 64, 30, 58, 200, 10]])

    func testTheStudentInheritsTheTeachersAdapterAndStartsAsCompressedModelPlusAdapter() throws {
        let trainer = try student(output: "inherit")
        let teacher = AdapterSet(layout: trainer.resolved.teacher!.layout, maxRows: 16)
        _ = try Checkpoint.read(teacherCheckpoint, into: teacher, optimizer: AdamW(count: teacher.layout.parameterCount, settings: .init()),
                                modelFingerprint: try ModelFile(path: job.modelPath).fingerprint)
        for (mine, theirs) in zip(trainer.adapters.layout.entries, teacher.layout.entries) {
            for tensor in theirs.tensors {
                XCTAssertEqual(trainer.adapters.parameters.array(mine.tensor(tensor.name).range), teacher.parameters.array(tensor.range), mine.target)
            }
            XCTAssertTrue(trainer.adapters.parameters.array(mine.tensor("recovery_A2").range).allSatisfy { $0 == 0 })
            XCTAssertTrue(trainer.adapters.parameters.array(mine.tensor("recovery_A1").range).contains { $0 != 0 })
        }
        let plain = LlamaModel(weights: try LlamaWeights(file: try ModelFile(path: compressedPath)), maxTokens: 16, maxSequenceLength: 16, trainable: false)
        plain.linearHook = teacher
        try plain.forward(batch)
        try trainer.model.forward(batch)
        for row in 0..<batch.count { XCTAssertEqual(trainer.model.logits(row: row), plain.logits(row: row), "row \(row)") }
    }

    func testDistillationLossAndItsGradientAgainstAReferenceAndFiniteDifferences() throws {
        let trainer = try student(output: "gradient", kl: 0.3)
        var generator = SplitMix64(seed: 8)
        for entry in trainer.adapters.layout.entries {
            for index in entry.tensor("recovery_A2").range { trainer.adapters.parameters.pointer[index] = generator.nextFloat(in: -0.2..<0.2) }
        }
        let targets = batch.nextTokenTargets
        trainer.adapters.zeroGradients()
        let loss = try trainer.lossAndGradients(batch, targets)
        let gradient = trainer.adapters.gradients.array()

        // The term by hand: the teacher (dense model + its adapter) and the student's final hidden states at the supervised rows.
        let rows = targets.map(\.row)
        let studentHidden = trainer.model.finalHidden(rows: rows)
        let studentLogits = rows.map { trainer.model.logits(row: $0) }
        let crossEntropy = try trainer.model.crossEntropy(targets)
        let teacherModel = LlamaModel(weights: try LlamaWeights(file: try ModelFile(path: job.modelPath)), maxTokens: 16, maxSequenceLength: 16, trainable: false)
        teacherModel.linearHook = AdapterSet(layout: trainer.resolved.teacher!.layout, maxRows: 16)
        _ = try Checkpoint.read(teacherCheckpoint, into: teacherModel.linearHook as! AdapterSet,
                                optimizer: AdamW(count: trainer.resolved.teacher!.layout.parameterCount, settings: .init()),
                                modelFingerprint: try ModelFile(path: job.modelPath).fingerprint)
        try teacherModel.forward(batch)
        let teacherHidden = teacherModel.finalHidden(rows: rows)
        let squared = zip(studentHidden, teacherHidden).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
        let distillation = 0.5 * squared / Double(LlamaConfig.tiny.hiddenSize)
        XCTAssertGreaterThan(distillation, 1e-4 * crossEntropy, "compression moved the hidden states")
        func probabilities(_ logits: [Float]) -> [Double] {
            let exponentials = logits.map { Foundation.exp(Double($0)) }
            let total = exponentials.reduce(0, +)
            return exponentials.map { $0 / total }
        }
        let divergence = 0.3 * zip(rows, studentLogits).reduce(0.0) { total, pair in
            let (p, q) = (probabilities(teacherModel.logits(row: pair.0)), probabilities(pair.1))
            return total + zip(p, q).reduce(0.0) { $0 + $1.0 * Foundation.log($1.0 / $1.1) }
        }
        XCTAssertGreaterThan(divergence, 0)
        XCTAssertEqual(loss, crossEntropy + distillation + divergence, accuracy: 1e-6 * loss)

        let original = trainer.adapters.parameters.array()
        let direction = FiniteDifferences.direction(along: gradient, seed: 5)
        let step: Float = 1e-4
        let (numeric, analytic) = try FiniteDifferences.directionalDerivative(gradient: gradient, direction: direction, step: step) { sign in
            trainer.adapters.parameters.copy(from: zip(original, direction).map { $0 + sign * step * $1 })
            trainer.adapters.zeroGradients()
            return try trainer.lossAndGradients(batch, targets)
        }
        trainer.adapters.parameters.copy(from: original)
        XCTAssertEqual(numeric, analytic, accuracy: 1e-3 * abs(analytic))
        for entry in trainer.adapters.layout.entries {
            for tensor in entry.tensors { XCTAssertTrue(gradient[tensor.range].contains { $0 != 0 }, "\(entry.target).\(tensor.name) gets a gradient") }
        }
    }

    func testWorldSizeAndResumeDoNotChangeTheStudent() throws {
        let world = try MPICommunicator.world()
        let alone = try student(output: "alone")
        try alone.run(resume: .fresh) { _ in }
        let spread = try student(output: "world", communicator: world)
        try spread.run(resume: .fresh) { _ in }
        XCTAssertEqual(spread.adapters.parameters.array(), alone.adapters.parameters.array(), "world size \(world.size)")
        XCTAssertEqual(spread.optimizer.secondMoment.array(), alone.optimizer.secondMoment.array())
        XCTAssertNotEqual(alone.adapters.parameters.array(), try student(output: "fresh").adapters.parameters.array(), "training moved the student")

        let halfway = try student(output: "halves", steps: 4)
        let stop = StopRequest()
        let outcome = try halfway.run(resume: .fresh, stop: stop) { progress in
            if case .step(let step) = progress, step.step == 2 { stop.request(signal: SIGTERM) }
        }
        XCTAssertEqual(outcome.state.step, 2)
        let resumed = try student(output: "halves", communicator: world)
        try resumed.run(resume: .auto) { _ in }
        XCTAssertEqual(resumed.adapters.parameters.array(), alone.adapters.parameters.array(), "stopped at 2, resumed on \(world.size) rank(s)")
    }

    func testMismatchedTeachersAreRefusedWithTheKeyPath() throws {
        func error(_ yaml: String) -> String {
            do {
                _ = try JobSpec.parse(yaml, file: "student.yaml").resolve(file: "student.yaml")
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        let other = directory.path("other.h5")
        try ModelWriter.writeRandom(to: other, config: .tiny, seed: 99)
        XCTAssertTrue(error(studentYAML(output: "x", teacherModel: other)).contains("student.yaml: model: '\(compressedPath)' was not compressed from teacher_model"))
        XCTAssertTrue(error(studentYAML(output: "x", adapterRank: 3)).contains("student.yaml: adapter: inheriting needs the teacher's adapter (tt-lora rank 4"))
        XCTAssertTrue(error(studentYAML(output: "x", distill: -1)).contains("compression_aware.distill_weight: must be zero (term off) or positive"))
        let missing = studentYAML(output: "x").replacingOccurrences(of: teacherCheckpoint, with: directory.path("none.h5"))
        XCTAssertTrue(error(missing).contains("compression_aware.teacher_checkpoint: no such file"), error(missing))
    }
}

/// `ttl-train eval --initial` and `export` on a compression-aware job, run as a user would
/// (outside mpirun, so not in the class above, which also runs under it).
final class CompressionAwareCommandTests: XCTestCase {
    private var setup: CompressionAwareFixture!

    override func setUpWithError() throws {
        setup = try CompressionAwareFixture()
    }

    func testEvalInitialMeasuresTheInheritedStart() throws {
        let path = setup.directory.path("student.yaml")
        try setup.studentYAML(output: "cli").write(toFile: path, atomically: true, encoding: .utf8)
        let run = try ChildProcess.ttlTrain(["eval", path, "--initial", "--examples", "8", "--threads", "1"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.keyValues["adapters"], "initial (inherited from \(setup.teacherCheckpoint))")
        let (loss, accuracy) = try setup.student(output: "cli").evaluate(split: "validation", examples: 8)
        XCTAssertEqual(run.keyValues["loss"], String(format: "%.6f", loss))
        XCTAssertEqual(run.keyValues["accuracy"], String(format: "%.4f", accuracy!))
    }

    func testPEFTExportAndMergeRefuseRecoveryModulesWithOneLine() throws {
        let trainer = try setup.student(output: "export", steps: 2)
        try trainer.run(resume: .fresh) { _ in }
        let checkpoint = setup.directory.path("export/checkpoints/step-000002.h5")
        let out = setup.directory.path("peft")
        let cases = [(["export", checkpoint, "--format", "peft", "--out", out], "which a PEFT LoRA adapter cannot hold"),
                     (["merge", checkpoint, "--out", out], "which cannot be merged into a weight"),
                     (["export", checkpoint, "--format", "hf", "--out", out], "which cannot be merged into a weight")]
        for (arguments, message) in cases {
            let run = try ChildProcess.ttlTrain(arguments)
            XCTAssertNotEqual(run.status, 0)
            XCTAssertEqual(run.stderr.split(separator: "\n").count, 1, run.stderr)
            XCTAssertTrue(run.stderr.contains("has a CA-LoRA recovery module (gelu rank 2 alpha 4.0), \(message)"), run.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        }
    }
}
