import Adapters
import Foundation
import Kernels
import Llama

/// CA-LoRA's teacher (Zhao et al., arXiv 2307.07705, §3.3): the uncompressed model with the
/// adapter trained on it. It gives the student (compressed model + inherited adapter + recovery
/// modules) its starting adapter — knowledge inheritance — and, every micro-batch, the final
/// hidden state the student is pulled towards: `λ·Σ_rows mean_h (s − t)²` over the rows the task
/// loss supervises, plus optionally `κ·Σ_rows KL(p_teacher ‖ p_student)` of the next-token
/// distributions there, added to the summed cross-entropy, so the trainer's division by the
/// global count of supervised tokens normalises all terms alike and world-size independence holds.
final class DistillationTeacher {
    /// The teacher's adapter, read from its checkpoint: what the student inherits (its recovery
    /// modules keep their `A2 = 0`, so it starts as exactly the compressed model plus this).
    let adapters: AdapterSet
    let weight: Double
    let klWeight: Double
    /// The teacher runs forward only; nil when neither term needs it.
    private let model: LlamaModel?

    init(_ teacher: JobSpec.Teacher, weight: Double, klWeight: Double, maxTokens: Int, maxSequenceLength: Int, memory: WeightMemory?) throws {
        adapters = teacher.adapterSet(maxRows: maxSequenceLength)
        self.weight = weight
        self.klWeight = klWeight
        if weight > 0 || klWeight > 0 {
            let inference = InferenceModel(weights: try LlamaWeights(file: teacher.model, memory: memory), fingerprint: teacher.model.fingerprint,
                                           maxTokens: maxTokens, maxSequenceLength: maxSequenceLength)
            inference.attach(adapters)
            model = inference.model
        } else {
            model = nil
        }
    }

    /// After the student's `forward` and `crossEntropy(_:gradientScale:)` on `batch`: runs the
    /// teacher on it, adds the gradients of the distillation terms at `rows` to the student's
    /// final-hidden gradient and returns the terms (summed over the rows).
    func distill(into student: LlamaModel, batch: TokenBatch, rows: [Int]) throws -> Double {
        guard let model, !rows.isEmpty else { return 0 }
        try model.forward(batch)
        return hiddenStateTerm(model, student, rows: rows) + logitTerm(model, student, rows: rows)
    }

    /// `λ·Σ_rows mean_h (s − t)²`, its gradient `λ·2(s − t)/H` added to the student's.
    private func hiddenStateTerm(_ model: LlamaModel, _ student: LlamaModel, rows: [Int]) -> Double {
        guard weight > 0 else { return 0 }
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

    /// `κ·Σ_rows KL(p_t ‖ p_s)` with `p = softmax(logits)`, its gradient `κ·(p_s − p_t)` with
    /// respect to the student's logits sent back through the output head.
    private func logitTerm(_ model: LlamaModel, _ student: LlamaModel, rows: [Int]) -> Double {
        guard klWeight > 0 else { return 0 }
        var loss = 0.0
        var gradient: [Float] = []
        gradient.reserveCapacity(rows.count * student.config.vocabSize)
        for row in rows {
            let (teacherLog, studentLog) = (logSoftmax(model.logits(row: row)), logSoftmax(student.logits(row: row)))
            for (t, s) in zip(teacherLog, studentLog) {
                let (pt, ps) = (Foundation.exp(t), Foundation.exp(s))
                loss += pt * (t - s)
                gradient.append(Float(klWeight * (ps - pt)))
            }
        }
        student.addLogitGradient(gradient, rows: rows)
        return klWeight * loss
    }

    /// `log softmax` in Double.
    private func logSoftmax(_ logits: [Float]) -> [Double] {
        let peak = Double(logits.max() ?? 0)
        let total = logits.reduce(0.0) { $0 + Foundation.exp(Double($1) - peak) }
        let shift = peak + Foundation.log(total)
        return logits.map { Double($0) - shift }
    }
}
