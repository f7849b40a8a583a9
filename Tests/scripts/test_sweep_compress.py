"""scripts/sweep_compress.py: the design-space count, the sampled plans, the Pareto front and the
plot and table from a results file in ttl-train's sweep format."""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import sweep_compress  # noqa: E402

SMOL = {"num_hidden_layers": 30, "hidden_size": 576, "intermediate_size": 1536, "num_attention_heads": 9,
        "num_key_value_heads": 3, "head_dim": 64}


def test_design_space_counts():
    matrices, per_matrix, structured = sweep_compress.design_space(SMOL)
    assert matrices == 210
    assert per_matrix == 4 ** 210
    assert structured == (2 ** 30 - 1) * (2 ** 7 - 1) * 3


def test_ranks_keep_the_heads_and_stay_consistent():
    views = sweep_compress.views(SMOL)
    assert sweep_compress.ranks_at(views["q_proj"], "q_proj", 0.25) == [9, 16, 144]
    assert sweep_compress.ranks_at(views["o_proj"], "o_proj", 0.25) == [144, 9, 16]
    assert sweep_compress.ranks_at(views["k_proj"], "k_proj", 0.125) == [3, 8, 24], "72 > 3·8 is lowered to 24"
    assert sweep_compress.ranks_at(views["down_proj"], "down_proj", 0.5) == [288, 288]
    assert sweep_compress.consistent([5, 7]) == [5, 5]


def test_plans_cover_the_sampled_grid(tmp_path):
    names = sweep_compress.write_plans(SMOL, str(tmp_path))
    assert len(names) == 4 * 2 * 3 and len(set(names)) == len(names)
    text = (tmp_path / "last-mlp-1of2.yaml").read_text()
    assert "layers: [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]" in text
    assert "{matrices: [gate_proj]" in text and "ranks: [288, 288]" in text


def test_pareto_front():
    reduction = [0, 1, 2, 3, 4]
    quality = [10, 9, 9.5, 5, 6]
    assert sweep_compress.pareto(reduction, quality) == [0, 2, 4]


def test_plot_and_table_from_a_results_file(tmp_path):
    path = tmp_path / "sweep.h5"
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "ttl-train-sweep"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["model"] = "m.h5"
        f.attrs["eval_split"] = "validation"
        f.attrs["eval_examples"] = "64"
        f.attrs["held_out_tokens"] = "1117"
        f["plan"] = np.array([b"dense", b"a", b"b", b"c"], dtype=h5py.string_dtype())
        f["plan_text"] = np.array([b"", b"x", b"y", b"z"], dtype=h5py.string_dtype())
        f["parameters"] = np.array([100, 95, 90, 80], dtype=np.int64)
        f["parameter_reduction"] = np.array([0, 0.05, 0.1, 0.2])
        f["perplexity"] = np.array([20.0, 30.0, 25.0, 400.0])
        f["zero_shot_accuracy"] = np.array([0.7, 0.6, 0.5, 0.4])
        f["adapter_accuracy"] = np.array([0.85, 0.8, 0.81, 0.5])
        f["seconds"] = np.array([1.0, 2.0, 3.0, 4.0])
    table = sweep_compress.plot(str(path), str(tmp_path))
    assert list(table["plan"]) == ["dense", "a", "b", "c"]
    assert (tmp_path / "tradeoff.png").stat().st_size > 10000
    rows = (tmp_path / "sweep.md").read_text().splitlines()
    assert rows[2].startswith("| dense | 100 | 0.00 % | 20.00 | 0.7000 | 0.8500 | yes |")
    assert rows[3].startswith("| a | 95 | 5.00 % | 30.00 |"), "a is dominated by b in perplexity, but on the zero-shot front"
    assert rows[3].endswith("| yes |")
