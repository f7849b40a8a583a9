#!/usr/bin/env python3
"""Plots and a table from ttl-train runs: `scripts/analyze.py RUN_DIR [RUN_DIR ...] [--out DIR]`.

Reads each run's `metrics.h5` (opened in SWMR mode, so a run that is still writing can be
analysed) and writes to DIR (default: `analysis/` inside the first run):

- `training.png`: training loss and learning rate against step, one line per run;
- `eval.png`: evaluation accuracy (classification) and loss against step;
- `comparison.png`: final accuracy against trainable parameters and against bytes all-reduced
  per step (log scales), one point per run;
- `results.md`: a markdown table of the same numbers plus the median training tokens/s.

With `--tensorboard DIR` it also writes TensorBoard event files, one directory per run under DIR
(`tensorboard --logdir DIR`): every train and eval column as a scalar against step, at the row's
wall-clock time when the file has timestamps, and the run's attributes as text.
"""
import argparse
import os
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import pandas as pd  # noqa: E402


def read_run(directory):
    """The run's train and eval tables and its root attributes."""
    path = os.path.join(directory, "metrics.h5")
    if not os.path.exists(path):
        sys.exit(f"analyze.py: {path}: no such file (is {directory} a ttl-train run directory?)")
    try:
        with h5py.File(path, "r", libver="latest", swmr=True) as f:
            if f.attrs.get("format") != "ttl-train-metrics":
                sys.exit(f"analyze.py: {path}: not a ttl-train metrics file")
            tables = {group: pd.DataFrame({column: f[group][column][()] for column in f[group]}) for group in ("train", "eval")}
            attributes = {key: (value.decode() if isinstance(value, bytes) else value) for key, value in f.attrs.items()}
    except OSError as error:
        sys.exit(f"analyze.py: {path}: cannot read: {error}")
    name = os.path.basename(os.path.normpath(directory))
    return name, tables["train"].sort_values("step"), tables["eval"].sort_values("step"), attributes


def summary(name, train, evaluation, attributes):
    last_eval = evaluation.iloc[-1] if len(evaluation) else None
    return {
        "run": name,
        "job": attributes.get("job", "?"),
        "adapter": attributes.get("adapter_kind", "?"),
        "steps": int(train["step"].max()) if len(train) else 0,
        "train loss (last)": float(train["loss"].iloc[-1]) if len(train) else float("nan"),
        "eval step": int(last_eval["step"]) if last_eval is not None else 0,
        "eval loss": float(last_eval["loss"]) if last_eval is not None else float("nan"),
        "eval accuracy": float(last_eval["accuracy"]) if last_eval is not None else float("nan"),
        "trainable parameters": int(attributes.get("trainable_parameters", 0)),
        "bytes reduced per step": int(attributes.get("reduced_bytes_per_step", 0)),
        "median tokens/s": float(train["tokens_per_s"].iloc[1:].median()) if len(train) > 1 else float("nan"),
    }


def legend(name, table, attributes):
    """A run's label; evaluation curves say on how many examples each point was measured."""
    examples = attributes.get("eval_examples")
    return f"{name} ({int(examples)} examples)" if table == "eval" and examples is not None else name


def write_tensorboard(runs, directory):
    """One event-file directory per run (tensorboardX writes the format)."""
    from tensorboardX import SummaryWriter

    for name, train, evaluation, attributes in runs:
        with SummaryWriter(logdir=os.path.join(directory, name)) as writer:
            writer.add_text("run", "\n".join(f"- {key}: {value}" for key, value in sorted(attributes.items())), 0)
            for table, frame in (("train", train), ("eval", evaluation)):
                for _, row in frame.iterrows():
                    walltime = row.get("timestamp")
                    walltime = None if walltime is None or walltime != walltime else float(walltime)
                    for column in frame.columns:
                        if column in ("step", "timestamp") or row[column] != row[column]:
                            continue
                        writer.add_scalar(f"{table}/{column}", float(row[column]), int(row["step"]), walltime=walltime)


def plot_against_step(runs, panels, title, path):
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.2))
    for axis, (table, column, label) in zip(axes, panels):
        for name, train, evaluation, attributes in runs:
            frame = train if table == "train" else evaluation
            if len(frame) and frame[column].notna().any():
                axis.plot(frame["step"], frame[column], marker="o" if table == "eval" else None, markersize=4,
                          label=legend(name, table, attributes))
        axis.set_xlabel("step")
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_comparison(rows, path):
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for axis, column in zip(axes, ("trainable parameters", "bytes reduced per step")):
        for row in rows:
            if row[column] > 0 and row["eval accuracy"] == row["eval accuracy"]:
                axis.scatter(row[column], row["eval accuracy"], s=40)
                axis.annotate(row["run"], (row[column], row["eval accuracy"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
        axis.set_xscale("log")
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axis.margins(x=0.2, y=0.2)
        axis.set_xlabel(column + " (log scale)")
        axis.set_ylabel("final eval accuracy")
        axis.grid(alpha=0.3, which="both")
    figure.suptitle("Accuracy against adapter size and communication")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def markdown(rows):
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for column in columns:
            value = row[column]
            if isinstance(value, float):
                cells.append(f"{value:.0f}" if column == "median tokens/s" else f"{value:.4f}")
            elif isinstance(value, int) and column in ("trainable parameters", "bytes reduced per step"):
                cells.append(f"{value:,}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (the job's output), each with metrics.h5")
    parser.add_argument("--out", help="where to write the PNGs and results.md (default: RUN_DIR/analysis of the first run)")
    parser.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard event files, one directory per run, under DIR")
    arguments = parser.parse_args()
    runs = [read_run(directory) for directory in arguments.runs]
    out = arguments.out or os.path.join(arguments.runs[0], "analysis")
    os.makedirs(out, exist_ok=True)
    plot_against_step(runs, [("train", "loss", "training loss"), ("train", "lr", "learning rate")],
                      "Training", os.path.join(out, "training.png"))
    plot_against_step(runs, [("eval", "accuracy", "eval accuracy"), ("eval", "loss", "eval loss")],
                      "Evaluation", os.path.join(out, "eval.png"))
    rows = [summary(*run) for run in runs]
    plot_comparison(rows, os.path.join(out, "comparison.png"))
    table = markdown(rows)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(table)
    print(table, end="")
    print(f"wrote {out}/training.png, eval.png, comparison.png, results.md")
    if arguments.tensorboard:
        write_tensorboard(runs, arguments.tensorboard)
        print(f"wrote TensorBoard event files under {arguments.tensorboard}")


if __name__ == "__main__":
    main()
