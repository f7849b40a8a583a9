"""`ttl-train compress` against an independent reading of its file format: the Tucker factors read
with h5py and multiplied out by numpy (core ×₀ U₀ ×₁ U₁ ×₂ U₂, reshaped by the stored view),
then run through the numpy reference forward, reproduce the logits ttl-train computes on the
compressed model's factors, and differ from the uncompressed model's."""
import h5py
import numpy as np

from test_parity import key_values, needs_binary, reference_forward, ttl_train, write_random_llama


def reconstruct(group):
    """The dense (out, in) weight of a `…/tucker` group, by its stored view."""
    core = group["core"][()].astype(np.float64)
    factors = [group[f"factor_{mode}"][()].astype(np.float64) for mode in range(core.ndim)]
    tensor = np.einsum({2: "pq,ap,bq->ab", 3: "pqs,ap,bq,cs->abc"}[core.ndim], core, *factors)
    shape, output_modes = list(group.attrs["tensor_shape"]), int(group.attrs["output_modes"])
    assert list(tensor.shape) == shape
    return tensor.reshape(int(np.prod(shape[:output_modes])), int(np.prod(shape[output_modes:])))


@needs_binary
def test_compressed_file_read_by_numpy_reproduces_the_logits(tmp_path):
    model, compressed = tmp_path / "dense.h5", tmp_path / "compressed.h5"
    write_random_llama(model, seed=4, tied=True)
    (tmp_path / "plan.yaml").write_text(
        "refinements: 1\n"
        "targets:\n"
        "  - {matrices: [q_proj], ranks: [4, 6, 20]}\n"            # heads on the output side: 6×8×48
        "  - {matrices: [o_proj], layers: [1, 2], ranks: [30, 5, 6]}\n"  # heads on the input side: 48×6×8
        "  - {matrices: [gate_proj, down_proj], view: matrix, ranks: [24, 24]}\n")
    run = ttl_train("compress", "--model", str(model), "--plan", str(tmp_path / "plan.yaml"), "--out", str(compressed))
    assert run.returncode == 0, run.stderr
    totals = key_values("\n".join(line for line in run.stdout.splitlines() if " " not in line))
    assert totals["factored_weights"] == "11"  # q_proj × 3 layers, o_proj × 2, gate_proj and down_proj × 3

    config, weights = reference_forward.load(str(model))
    with h5py.File(compressed, "r") as f:
        assert f.attrs["format_version"] == 2 and f.attrs["compressed_from"] == h5py.File(model, "r").attrs["fingerprint"]
        groups = []
        f.visititems(lambda name, obj: groups.append(name) if name.endswith("/tucker") else None)
        assert len(groups) == 11
        for name in groups:
            weight = name.removesuffix("/tucker").replace("/", ".") + ".weight"
            assert name.removesuffix("/tucker") + "/weight" not in f, "a factored weight is stored only as factors"
            weights[weight] = reconstruct(f[name])

    ids = [3, 17, 42, 8, 66, 23, 91, 5, 30, 12, 77, 50]
    (tmp_path / "ids.txt").write_text(" ".join(map(str, ids)))
    swift = ttl_train("perplexity", "--model", str(compressed), "--ids", str(tmp_path / "ids.txt"), "--logits-out", str(tmp_path / "logits.h5"))
    assert swift.returncode == 0, swift.stderr
    with h5py.File(tmp_path / "logits.h5", "r") as f:
        factored = f["logits"][()].astype(np.float64)
    reference = reference_forward.forward(config, weights, np.array(ids))
    dense = reference_forward.forward(config, reference_forward.load(str(model))[1], np.array(ids))
    assert np.abs(reference - dense).max() > 1e-2, "the compression changed the model"
    assert np.abs(factored - reference).max() < 1e-4 * max(1.0, np.abs(reference).max())
