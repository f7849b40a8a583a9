import Adapters
import Kernels
import Llama

/// CA-LoRA's teacher (Zhao et al., arXiv 2307.07705, §3.3): the uncompressed model with the
/// adapter trained on it. It gives the student (compressed model + inherited adapter + recovery
/// modules) its starting adapter — knowledge inheritance — and, every micro-batch, the final
/// hidden state the student is pulled towards: `λ·Σ_rows mean_h (s − t)²` over the rows the task
/// loss supervises, added to the summed cross-entropy, so the trainer's division by the global
/// count of supervised tokens normalises both alike and world-size independence holds.
final class DistillationTeacher {
    let adapters: AdapterSet
    let weight: Double
    /// The teacher's forward runs in inference mode: no activations kept, no backward.
    private let model: LlamaModel?

    init(_ teacher: JobSpec.Teacher, weight: Double, maxTokens: Int, maxSequenceLength: Int) throws {
        adapters = AdapterSet(layout: teacher.layout, maxRows: maxSequenceLength)
        _ = try Checkpoint.read(teacher.checkpoint, into: adapters, optimizer: AdamW(count: teacher.layout.parameterCount, settings: AdamW.Settings()),
                                modelFingerprint: teacher.model.fingerprint)
        self.weight = weight
        if weight > 0 {
            let model = LlamaModel(weights: try LlamaWeights(file: teacher.model), maxTokens: maxTokens,
                                   maxSequenceLength: maxSequenceLength, trainable: false)
            model.linearHook = adapters
            self.model = model
        } else {
            model = nil
        }
    }

    /// Knowledge inheritance: the teacher's adapter tensors copied into the student's same-named
    /// ones; the student's recovery modules keep their initialisation (`A2 = 0`), so the student
    /// starts as exactly the compressed model plus the teacher's adapter.
    func inherit(into student: AdapterSet) {
        for (teacherEntry, studentEntry) in zip(adapters.layout.entries, student.layout.entries) {
            precondition(teacherEntry.target == studentEntry.target, "layouts are checked when the job is resolved")
            for tensor in teacherEntry.tensors {
                student.parameters.copy(from: adapters.parameters.array(tensor.range), at: studentEntry.tensor(tensor.name).offset)
            }
        }
    }

    /// After the student's `forward` and `crossEntropy(_:gradientScale:)` on `batch`: runs the
    /// teacher on it, adds `λ·∇` of the distillation term at `rows` to the student's final-hidden
    /// gradient and returns the term (nats-comparable, summed over the rows).
    func distill(into student: LlamaModel, batch: TokenBatch, rows: [Int]) throws -> Double {
        guard let model, !rows.isEmpty else { return 0 }
        try model.forward(batch)
        let target = model.finalHidden(rows: rows)
        let actual = student.finalHidden(rows: rows)
        let hidden = Float(student.config.hiddenSize)
        var loss = 0.0
        var gradient = [Float](repeating: 0, count: actual.count)
        for index in actual.indices {
            let difference = actual[index] - target[index]
            loss += Double(difference * difference)
            gradient[index] = Float(weight) * 2 * difference / hidden
        }
        student.addFinalHiddenGradient(gradient, rows: rows)
        return weight * loss / Double(hidden)
    }
}
