import ArgumentParser
import Training

/// The job spec argument and its overrides, shared by `train`, `validate` and `eval`.
struct JobOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The job spec (YAML).", valueName: "job.yaml"))
    var job: String

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a field, e.g. --set optimizer.lr=1e-4 (repeatable).", valueName: "key.path=value"))
    var overrides: [String] = []

    func load() throws -> JobSpec {
        try JobSpec.load(path: job, overrides: overrides)
    }
}
