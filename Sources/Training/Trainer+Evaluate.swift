import Llama

extension Trainer {
    /// `Evaluation.run` of the model being trained, with its adapters as they are now.
    public func evaluate(split name: String, examples: Int) throws -> (loss: Double, accuracy: Double?) {
        try Evaluation(dataset: resolved.dataset, task: spec.task, communicator: communicator).run(model, split: name, examples: examples)
    }
}
