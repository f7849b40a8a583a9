#!/usr/bin/env python3
"""The Tucker compression design-space sweep (arXiv 2405.06626) for a ttl-train model.

    scripts/sweep_compress.py [--model M.h5] [--job jobs/sentiment-ttlora.yaml] [--text samples/english.txt]
        [--checkpoint C.h5] [--ranks 2] [--examples 128] --out DIR
    scripts/sweep_compress.py --plot DIR/sweep.h5 --out DIR          # plots and table only

1. Counts the design space of the model and writes a sample of it as plans to DIR/plans/: which
   layers (the first, middle and last third of the blocks, or all), which matrices (attention:
   q/k/v/o_proj as heads × head_dim × hidden; MLP: gate/up/down_proj as matrices), which ranks
   (each mode but the heads kept at a level of 1/2, 1/4 or 1/8 of its size).
2. Tokenizes the held-out text (scripts/tokenize_text.py) and runs `mpirun -np RANKS ttl-train
   sweep` over the plans (plans spread across the ranks), which
   writes DIR/sweep.h5: per plan the stored parameters, the perplexity of the held-out ids, the
   zero-shot accuracy on the job's eval split and the accuracy with the checkpoint's adapter
   (trained on the uncompressed model, not retrained).
3. Plots DIR/tradeoff.png — perplexity and accuracy against the share of parameters removed,
   the Pareto front of each highlighted — and writes DIR/sweep.md, the table.
"""
import argparse
import math
import os
import subprocess
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
LEVELS = {"1/2": 0.5, "1/4": 0.25, "1/8": 0.125}


def read_config(model):
    with h5py.File(model, "r") as f:
        return {key: int(f.attrs[key]) for key in ("num_hidden_layers", "hidden_size", "intermediate_size",
                                                   "num_attention_heads", "num_key_value_heads", "head_dim")}


def views(config):
    """Each matrix's Tucker view as `ttl-train compress` makes it by default."""
    h, i, d = config["hidden_size"], config["intermediate_size"], config["head_dim"]
    heads, kv = config["num_attention_heads"], config["num_key_value_heads"]
    return {"q_proj": [heads, d, h], "k_proj": [kv, d, h], "v_proj": [kv, d, h], "o_proj": [h, heads, d],
            "gate_proj": [i, h], "up_proj": [i, h], "down_proj": [h, i]}


def consistent(ranks):
    """No rank above the product of the others (the same rule as ttl-train's plans)."""
    ranks = list(ranks)
    while True:
        product = math.prod(ranks)
        bad = [mode for mode, rank in enumerate(ranks) if rank > product // rank]
        if not bad:
            return ranks
        ranks[bad[0]] = product // ranks[bad[0]]


def ranks_at(shape, matrix, level):
    """Ranks keeping `level` of each mode; attention keeps every head."""
    if len(shape) == 2:
        rank = max(1, round(level * min(shape)))
        return [rank, rank]
    heads_mode = 1 if matrix == "o_proj" else 0
    return consistent([size if mode == heads_mode else max(1, round(level * size)) for mode, size in enumerate(shape)])


def layer_groups(layers):
    third = layers // 3
    return {"first": list(range(third)), "middle": list(range(third, 2 * third)),
            "last": list(range(layers - third, layers)), "all": list(range(layers))}


def design_space(config, levels=len(LEVELS)):
    """How many plans there are: per-matrix choices (dense or one of `levels` rank settings) for
    every matrix of every layer, and the structured space the paper searches (a set of layers ×
    a set of matrix kinds × one rank level)."""
    matrices = config["num_hidden_layers"] * len(views(config))
    per_matrix = (levels + 1) ** matrices
    structured = (2 ** config["num_hidden_layers"] - 1) * (2 ** len(views(config)) - 1) * levels
    return matrices, per_matrix, structured


def write_plans(config, directory):
    os.makedirs(directory, exist_ok=True)
    shapes = views(config)
    names = []
    for group, layers in layer_groups(config["num_hidden_layers"]).items():
        for kind, matrices in (("attention", ATTENTION), ("mlp", MLP)):
            for label, level in LEVELS.items():
                name = f"{group}-{kind}-{label.replace('/', 'of')}"
                lines = [f"# {kind} of the {group} blocks, each mode (but the heads) kept at {label}", "targets:"]
                for matrix in matrices:
                    ranks = ranks_at(shapes[matrix], matrix, level)
                    lines.append(f"  - {{matrices: [{matrix}], layers: [{', '.join(map(str, layers))}], ranks: [{', '.join(map(str, ranks))}]}}")
                with open(os.path.join(directory, name + ".yaml"), "w") as handle:
                    handle.write("\n".join(lines) + "\n")
                names.append(name)
    return names


def pareto(reduction, quality):
    """Indices of the points no other point beats in both reduction and quality (higher is better)."""
    front = []
    for i, (x, y) in enumerate(zip(reduction, quality)):
        if not any((x2 >= x and y2 >= y) and (x2 > x or y2 > y) for j, (x2, y2) in enumerate(zip(reduction, quality)) if j != i):
            front.append(i)
    return sorted(front, key=lambda i: reduction[i])


def read_results(path):
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "ttl-train-sweep":
            sys.exit(f"sweep_compress.py: {path}: not a ttl-train sweep results file")
        columns = [k for k in f if k != "plan_text"]
        table = pd.DataFrame({k: [v.decode() if isinstance(v, bytes) else v for v in f[k][()]] for k in columns})
        attributes = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    return table, attributes


def plot(results, directory):
    table, attributes = read_results(results)
    dense = table.iloc[0]
    reduction = (100 * table["parameter_reduction"]).tolist()
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    panels = [(left, [("perplexity", "perplexity", "tab:purple")], f"perplexity of the held-out text ({attributes.get('held_out_tokens', '?')} tokens)")]
    accuracy_series = [("zero_shot_accuracy", "zero-shot", "tab:blue")]
    if table["adapter_accuracy"].notna().any():
        accuracy_series.append(("adapter_accuracy", "adapter trained on the dense model", "tab:orange"))
    panels.append((right, accuracy_series, f"accuracy on {attributes.get('eval_examples', '?')} {attributes.get('eval_split', 'eval')} examples"))
    front_rows = set()
    for axis, series, ylabel in panels:
        for column, label, color in series:
            values = table[column].tolist()
            quality = [-v for v in values] if column == "perplexity" else values
            front = pareto(reduction, quality)
            front_rows.update(front)
            axis.scatter(reduction, values, s=22, color=color, alpha=0.45, label=label)
            axis.plot([reduction[i] for i in front], [values[i] for i in front], "-o", color=color, markersize=5,
                      label=f"{label}: Pareto front")
            axis.axhline(dense[column], color=color, linestyle=":", linewidth=1)
        axis.set_xlabel("parameters removed (% of the model)")
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    left.set_yscale("log")
    left.set_title("perplexity (dotted: uncompressed)")
    right.set_title("accuracy (dotted: uncompressed)")
    figure.suptitle(f"Tucker compression of {os.path.basename(attributes.get('model', '?'))}: {len(table) - 1} plans")
    figure.tight_layout()
    os.makedirs(directory, exist_ok=True)
    figure.savefig(os.path.join(directory, "tradeoff.png"), dpi=110)
    plt.close(figure)

    lines = ["| plan | parameters | removed | perplexity | zero-shot accuracy | adapter accuracy | Pareto |",
             "|---|---|---|---|---|---|---|"]
    for index, row in table.sort_values("parameter_reduction").iterrows():
        lines.append(f"| {row['plan']} | {int(row['parameters']):,} | {100 * row['parameter_reduction']:.2f} % | "
                     f"{row['perplexity']:.2f} | {row['zero_shot_accuracy']:.4f} | {row['adapter_accuracy']:.4f} | "
                     f"{'yes' if index in front_rows else ''} |")
    with open(os.path.join(directory, "sweep.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=os.path.join(REPO, "assets", "smollm2-135m-instruct.h5"))
    parser.add_argument("--job", default=os.path.join(REPO, "jobs", "sentiment-ttlora.yaml"))
    parser.add_argument("--text", default=os.path.join(REPO, "samples", "english.txt"), help="held-out text")
    parser.add_argument("--tokenizer", default=os.path.join(REPO, "assets", "tokenizer.json"))
    parser.add_argument("--checkpoint", help="an adapter checkpoint of the job, trained on the dense model")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--examples", type=int, default=128)
    parser.add_argument("--ttl-train", default=os.path.join(REPO, ".build", "release", "ttl-train"))
    parser.add_argument("--plot", metavar="SWEEP_H5", help="only plot these results")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.plot:
        plot(args.plot, args.out)
        return 0
    config = read_config(args.model)
    ids = os.path.join(args.out, "held_out.ids")
    os.makedirs(args.out, exist_ok=True)
    subprocess.run([sys.executable, os.path.join(REPO, "scripts", "tokenize_text.py"), args.text, "--tokenizer", args.tokenizer,
                    "--out", ids], check=True, stdout=subprocess.DEVNULL)
    matrices, per_matrix, structured = design_space(config)
    names = write_plans(config, os.path.join(args.out, "plans"))
    print(f"design space: {matrices} matrices; per-matrix choices (dense or one of {len(LEVELS)} rank levels): "
          f"{per_matrix:.3e} plans; layer set × matrix-kind set × level: {structured:,} (2^{math.log2(structured):.1f}); "
          f"sampled: {len(names)} plans + the dense model")
    command = ["mpirun", "-np", str(args.ranks), "--bind-to", "none", args.ttl_train, "sweep", "--model", args.model,
               "--job", args.job, "--plans", os.path.join(args.out, "plans"), "--ids", ids,
               "--examples", str(args.examples), "--out", os.path.join(args.out, "sweep.h5")]
    if args.checkpoint:
        command += ["--checkpoint", args.checkpoint]
    if subprocess.run(command).returncode != 0:
        return 1
    plot(os.path.join(args.out, "sweep.h5"), args.out)
    print(f"wrote {os.path.join(args.out, 'tradeoff.png')} and {os.path.join(args.out, 'sweep.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
