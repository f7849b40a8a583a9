import Adapters
import Llama
import SpecFiles

extension JobSpec {
    /// What a spec resolves to against its model and data: the adapter layout and the training
    /// split, checked for everything that can be known before training starts.
    public struct Resolved {
        public let model: ModelFile
        public let layout: AdapterLayout
        public let dataset: TokenDataset
        public let train: TokenDataset.Split
        /// The split evaluations read (`data.eval_split`).
        public let evaluation: TokenDataset.Split
        /// CA-LoRA's teacher, checked against the student.
        public let teacher: Teacher?
    }

    /// The uncompressed model and its trained adapter, read once from the checkpoint.
    public struct Teacher {
        public let model: ModelFile
        public let layout: AdapterLayout
        public let checkpoint: String
        public let adapters: [StoredAdapter]

        /// The teacher's adapters as a set for `maxRows`-row calls.
        public func adapterSet(maxRows: Int) -> AdapterSet {
            AdapterSet(layout: layout, stored: adapters, maxRows: maxRows)
        }
    }

    /// Opens the model and data and checks them against the spec: files exist, the adapter fits
    /// the model, the data was tokenized with the model's tokenizer, splits exist, the task
    /// matches, and every training example fits `batch.max_length`.
    public func resolve(file: String) throws -> Resolved {
        try checkFiles(file: file)
        let model = try naming("model", in: file) { try ModelFile(path: self.model) }
        let layout = try SpecReader(file: file).adapterSetting { try AdapterLayout(spec: adapter, config: model.config) }
        let dataPath = datasetFile
        let dataset = try naming("data.path", in: file) { try TokenDataset(path: dataPath, vocabulary: model.config.vocabSize) }
        if !model.tokenizerFingerprint.isEmpty, dataset.tokenizerFingerprint != model.tokenizerFingerprint {
            throw SpecError(file: file, keyPath: "data.path",
                               problem: "'\(dataPath)' was tokenized with another tokenizer (\(dataset.tokenizerFingerprint)) than the model's (\(model.tokenizerFingerprint)); re-run scripts/prepare_data.py")
        }
        guard dataset.task == task.rawValue else {
            throw SpecError(file: file, keyPath: "task", problem: "'\(task.rawValue)' but '\(dataPath)' holds a \(dataset.task) data set")
        }
        let train: TokenDataset.Split, evaluation: TokenDataset.Split
        do {
            train = try dataset.split(trainSplit)
            evaluation = try dataset.split(evalSplit)
        } catch let error as DatasetError {
            throw SpecError(file: file, keyPath: "data", problem: error.description)
        }
        for split in [train, evaluation] {
            guard split.count > 0 else {
                throw SpecError(file: file, keyPath: "data", problem: "\(dataPath):/\(split.name): has no examples")
            }
            guard split.lossMask.contains(where: { $0 != 0 }) else {
                throw SpecError(file: file, keyPath: "data", problem: "\(dataPath):/\(split.name)/loss_mask: is all zero, so nothing would be learned or measured")
            }
        }
        let longest = max(train.longestExample, evaluation.longestExample)
        guard longest <= batch.maxLength, batch.maxLength <= model.config.contextLength else {
            throw SpecError(file: file, keyPath: "batch.max_length",
                               problem: "\(batch.maxLength) must cover the longest example (\(longest) tokens) and fit the model's context (\(model.config.contextLength))")
        }
        let teacher = try compressionAware.map { try resolveTeacher($0, student: model, layout: layout, file: file) }
        return Resolved(model: model, layout: layout, dataset: dataset, train: train, evaluation: evaluation, teacher: teacher)
    }

    /// The teacher model must be what the job's model was compressed from, its checkpoint trained
    /// on it, and — for knowledge inheritance — its adapter laid out as the student's.
    private func resolveTeacher(_ aware: CompressionAware, student: ModelFile, layout: AdapterLayout, file: String) throws -> Teacher {
        let teacher = try naming("compression_aware.teacher_model", in: file) { try ModelFile(path: aware.teacherModel) }
        guard student.compressedFrom == teacher.fingerprint else {
            throw SpecError(file: file, keyPath: "model",
                               problem: "'\(model)' was not compressed from teacher_model '\(aware.teacherModel)' (make it with ttl-train compress --model \(aware.teacherModel))")
        }
        let summary = try naming("compression_aware.teacher_checkpoint", in: file) { try Checkpoint.summary(of: aware.teacherCheckpoint) }
        guard summary.state.modelFingerprint == teacher.fingerprint else {
            throw SpecError(file: file, keyPath: "compression_aware.teacher_checkpoint",
                               problem: "'\(aware.teacherCheckpoint)' was trained on another model than teacher_model '\(aware.teacherModel)'")
        }
        let teacherLayout = try naming("compression_aware.teacher_checkpoint", in: file) {
            try AdapterLayout(stored: summary.adapters, config: teacher.config)
        }
        let teacherAdapter = teacherLayout.spec
        if aware.inherit, !teacherLayout.adapts(like: try AdapterLayout(spec: adapter.withoutRecovery, config: student.config)) {
            throw SpecError(file: file, keyPath: "adapter",
                               problem: "inheriting needs the teacher's adapter (\(teacherAdapter.kind) rank \(teacherAdapter.rank) on \(teacherAdapter.targets.map(\.rawValue).joined(separator: ", "))) with the same kind, rank, alpha, targets and layers")
        }
        return Teacher(model: teacher, layout: teacherLayout, checkpoint: aware.teacherCheckpoint, adapters: summary.adapters)
    }

    /// Runs `body`, reporting a failure to read a file as a mistake at `keyPath` of the spec.
    private func naming<Value>(_ keyPath: String, in file: String, _ body: () throws -> Value) throws -> Value {
        do {
            return try body()
        } catch let error as SpecError {
            throw error
        } catch {
            throw SpecError(file: file, keyPath: keyPath, problem: "\(error)")
        }
    }
}
