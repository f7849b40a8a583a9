import ArgumentParser
import HDF5

/// `ttl-train`: data-parallel fine-tuning of tiny adapters on a frozen llama model, under `mpirun`.
struct TTLTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ttl-train",
        abstract:
            "Fine-tune LoRA, TT-LoRA, sparse LoRA and DoRA adapters on a frozen llama model, data-parallel under "
                + "mpirun; generate, merge and export.",
        discussion: """
            Launch training with `mpirun -np N ttl-train JOB.yaml`. Checkpoints and metrics are HDF5 \
            files that h5py, pandas, h5dump and MATLAB read as they are.
            """,
        version: TTLTrainVersion.string,
        subcommands: [
            Train.self, Validate.self, Eval.self, Generate.self, DataCommand.self, Tokenize.self, Inspect.self,
            ExportCommand.self, Merge.self, Info.self, Perplexity.self, Bench.self, AdaptersCommand.self, Compress.self,
            Quantize.self, Sweep.self, Metrics.self,
        ],
        defaultSubcommand: Train.self
    )
}

enum TTLTrainVersion {
    static let string = Writer.version
}
