import Adapters
import Foundation
import Llama
import Training

/// Where an exported adapter comes from — the checkpoint, the job that trained it, the base
/// weights it was trained on, its last evaluation — for the model card and the safetensors
/// metadata. The card says plainly when those weights are not the Hugging Face model the config
/// names (a dequantized GGUF build, say): the adapter is then applied to weights it was not
/// trained on.
struct Provenance {
    let checkpoint: String
    let step: Int
    let kind: AdapterSpec.Kind
    /// `lora_dropout` as trained (0 for a kind without dropout).
    let dropout: Double
    let job: JobSpec?
    let modelFingerprint: String
    /// The trained-on model file's own description, when it is still at the job's path with the
    /// checkpoint's fingerprint.
    let modelSource: String?
    let baseModel: String
    let lastEval: (step: Int, loss: Double, accuracy: Double?)?

    init(checkpoint: String, summary: CheckpointSummary, baseModel: String) throws {
        self.checkpoint = checkpoint
        step = summary.state.step
        kind = summary.adapters[0].kind
        modelFingerprint = summary.state.modelFingerprint
        self.baseModel = baseModel
        job = try? JobSpec.parse(summary.state.jobSpec, file: "\(checkpoint) (its job_spec)")
        // Through its shortest decimal text: the Float 0.05 is exported as 0.05, not 0.0500000007.
        dropout = kind.method.takesDropout ? job.flatMap { Double("\($0.adapter.dropout)") } ?? 0 : 0
        if let job, let model = try? ModelFile(path: job.model), model.fingerprint == modelFingerprint {
            modelSource = model.source
        } else {
            modelSource = nil
        }
        lastEval = Self.lastEvaluation(beside: checkpoint, upTo: step)
    }

    /// Whether the base weights were dequantized from a quantized file.
    var trainedOnDequantizedWeights: Bool { modelSource?.contains("dequantized") ?? false }

    var metadata: [String: String] {
        var values = ["format": "pt", "ttl_train_checkpoint": (checkpoint as NSString).lastPathComponent, "ttl_train_adapter_kind": kind.rawValue,
                      "ttl_train_step": "\(step)", "ttl_train_base_model_fingerprint": modelFingerprint]
        if let modelSource { values["ttl_train_base_model_source"] = modelSource }
        return values
    }

    /// `method` is the kind's own description (`PEFTModule.method`).
    func modelCard(method: String, loraAlpha: Double, modules: [String], layers: [Int]) -> String {
        var weights = "`\(modelFingerprint)` (SHA-256 of the float32 weights ttl-train trained on)"
        if let modelSource { weights += ", \(modelSource)" }
        var card = """
            ---
            base_model: \(baseModel)
            library_name: peft
            tags:
            - ttl-train
            - \(kind)
            ---

            # \(job?.name ?? "ttl-train adapter")

            A \(method), trained with ttl-train on a frozen base model and exported for PEFT \(PEFTExport.peftVersion) \
            (`lora_alpha` \(loraAlpha), `lora_dropout` \(dropout), target modules \(modules.joined(separator: ", ")), \
            layers \(layers.count == layers.last.map({ $0 + 1 }) ? "all \(layers.count)" : layers.map(String.init).joined(separator: ","))).

            ## Base model

            Trained on \(weights).


            """
        if trainedOnDequantizedWeights {
            card += """
                These are **not** the original weights of `\(baseModel)`, which `adapter_config.json` names so that PEFT \
                can load the adapter: they were dequantized from a quantized GGUF build. Applied to `\(baseModel)`'s own \
                weights the adapter sees slightly different activations than in training; for the trained behaviour, \
                apply it to the same dequantized weights.


                """
        }
        if let job {
            card += """
                ## Training

                - data: `\(job.dataPath)` (split `\(job.trainSplit)`, task \(job.task.rawValue))
                - steps: \(step) of \(job.schedule.totalSteps), \(job.batch.global) examples each, \(job.schedule.shape.rawValue) schedule, \
                peak learning rate \(job.optimizer.learningRate), AdamW (β \(job.optimizer.adam.beta1), \(job.optimizer.adam.beta2), \
                weight decay \(job.optimizer.adam.weightDecay)), seed \(job.seed)
                - checkpoint: `\((checkpoint as NSString).lastPathComponent)`


                """
        }
        if let lastEval {
            let accuracy = lastEval.accuracy.map { String(format: ", accuracy %.4f", $0) } ?? ""
            card += """
                ## Evaluation

                At step \(lastEval.step), on `\(job?.evalSplit ?? "the evaluation split")`: loss \(String(format: "%.4f", lastEval.loss))\(accuracy) (from `metrics.h5`).


                """
        }
        return card
    }

    /// The last evaluation at or before `step` in the run's `metrics.h5` (next to its
    /// `checkpoints/` directory), if the file is there.
    private static func lastEvaluation(beside checkpoint: String, upTo step: Int) -> (step: Int, loss: Double, accuracy: Double?)? {
        let run = ((checkpoint as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
        let metrics = try? MetricsLog.read((run as NSString).appendingPathComponent("metrics.h5"))
        guard let eval = metrics?.tables.first(where: { $0.name == "eval" })?.table,
              let steps = eval.column("step"), let losses = eval.column("loss"), let accuracies = eval.column("accuracy"),
              let row = steps.lastIndex(where: { $0 <= Double(step) }) else { return nil }
        return (Int(steps[row]), losses[row], accuracies[row].isNaN ? nil : accuracies[row])
    }
}
