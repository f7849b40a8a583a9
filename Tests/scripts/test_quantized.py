"""Quantized base weights: the GGUF import that keeps Q4_1/Q8_0 blocks, the README's numpy decoder,
and `ttl-train quantize` against gguf-py's reference quantizer (bit-exact with ggml's C code)."""
import os
import sys

import gguf
import h5py
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from test_import_gguf import GGUF, MODEL, needs_assets, run_import  # noqa: E402
from test_parity import needs_binary, ttl_train  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import import_gguf  # noqa: E402

QUANTIZED = os.path.join(os.path.dirname(MODEL), "smollm2-135m-instruct-q4_1.h5")
BLOCK_BYTES = {"q8_0": 34, "q4_0": 18, "q4_1": 20}
GGML_TYPES = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0,
              "q4_1": gguf.GGMLQuantizationType.Q4_1}


def decode(dataset):
    """The README's decoder: a quantized weight dataset to its float32 (out, in) values."""
    kind, (rows, cols) = dataset.attrs["quantization"], dataset.attrs["shape"]
    raw = dataset[()].reshape(-1, {"q8_0": 34, "q4_0": 18, "q4_1": 20}[kind])
    d = raw[:, :2].copy().view(np.float16).astype(np.float32)
    if kind == "q8_0":
        return (raw[:, 2:].copy().view(np.int8).astype(np.float32) * d).reshape(rows, cols)
    nibbles = raw[:, -16:]
    q = np.concatenate([nibbles & 15, nibbles >> 4], axis=1).astype(np.float32)
    if kind == "q4_0":
        return (d * (q - 8)).reshape(rows, cols)
    m = raw[:, 2:4].copy().view(np.float16).astype(np.float32)
    return (d * q + m).reshape(rows, cols)


def datasets(path):
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name.replace("/", "."), obj.name) if isinstance(obj, h5py.Dataset) else None)
    return found


@needs_assets
def test_kept_blocks_are_the_ggufs_bytes_and_decode_to_the_float32_import():
    reader = gguf.GGUFReader(GGUF)
    tensors = {import_gguf.hf_name(t.name): t for t in reader.tensors}
    with h5py.File(QUANTIZED, "r") as q, h5py.File(MODEL, "r") as f:
        assert q.attrs["format_version"] == 3 and q.attrs["fingerprint"] == f.attrs["fingerprint"]
        kinds = {}
        for name, location in datasets(QUANTIZED).items():
            stored, dense = q[location], f[location]
            if "quantization" not in stored.attrs:
                assert stored.dtype == np.float32 and stored.ndim == 1
                continue
            kind = stored.attrs["quantization"]
            kinds[kind] = kinds.get(kind, 0) + 1
            assert stored.dtype == np.uint8 and stored.fletcher32 and tuple(stored.attrs["shape"]) == dense.shape
            assert stored.shape == (dense.shape[0], dense.shape[1] // 32 * BLOCK_BYTES[kind])
            source = np.asarray(tensors[name].data).reshape(dense.shape[0], -1)
            if name.endswith(("q_proj.weight", "k_proj.weight")):
                heads = q.attrs["num_attention_heads"] if "q_proj" in name else q.attrs["num_key_value_heads"]
                source = import_gguf.unpermute_rows(source, int(heads))
            assert np.array_equal(stored[()], source), name
            assert np.array_equal(decode(stored).view(np.uint32), dense[()].view(np.uint32)), name
        assert kinds == {"q4_1": 210, "q8_0": 1}


@needs_assets
@needs_binary
def test_ttl_train_quantize_writes_ggmls_reference_blocks(tmp_path):
    """One run covers the three formats and f32: q4_0 by default, rules for the embedding (q8_0),
    layer 0's MLP (q4_1, a path prefix) and one matrix kept float32."""
    out = tmp_path / "mixed.h5"
    run = ttl_train("quantize", "--model", MODEL, "--to", "q4_0", "--keep", "embed_tokens=q8_0",
                    "--keep", "model.layers.0.mlp=q4_1", "--keep", "model.layers.29.mlp.down_proj=f32", "--out", str(out))
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if " bytes " in line]
    assert len(lines) == 211 and all(" f32 " in line for line in lines if "layers.29.mlp.down_proj" in line)
    expected = {"model.embed_tokens.weight": "q8_0", "model.layers.29.mlp.down_proj.weight": None,
                "model.layers.0.mlp.gate_proj.weight": "q4_1", "model.layers.0.mlp.up_proj.weight": "q4_1",
                "model.layers.0.mlp.down_proj.weight": "q4_1", "model.layers.0.self_attn.q_proj.weight": "q4_0",
                "model.layers.0.self_attn.k_proj.weight": "q4_0", "model.layers.0.self_attn.v_proj.weight": "q4_0",
                "model.layers.0.self_attn.o_proj.weight": "q4_0", "model.layers.1.mlp.up_proj.weight": "q4_0"}
    with h5py.File(out, "r") as q, h5py.File(MODEL, "r") as f:
        assert q.attrs["quantized_from"] == f.attrs["fingerprint"] and q.attrs["format_version"] == 3
        assert q.attrs["eos_token_id"] == f.attrs["eos_token_id"] == 2, "generation still knows where a reply ends"
        for name, kind in expected.items():
            location = "/" + name.replace(".", "/")
            stored, values = q[location], f[location][()]
            if kind is None:
                assert stored.dtype == np.float32 and np.array_equal(stored[()], values)
                continue
            assert stored.attrs["quantization"] == kind, name
            reference = gguf.quants.quantize(values, GGML_TYPES[kind])
            assert np.array_equal(stored[()], reference.reshape(stored.shape)), name
        decoded = {name: (decode(q[loc]) if "quantization" in q[loc].attrs else q[loc][()]) for name, loc in datasets(str(out)).items()}
        assert import_gguf.fingerprint(decoded) == q.attrs["fingerprint"]


@needs_assets
@needs_binary
def test_quantize_refuses_bad_requests_in_one_line(tmp_path):
    for args, message in [(["--to", "q5_k"], "The value 'q5_k' is invalid for '--to <format>'. Please provide one of 'q8_0', 'q4_0' or 'q4_1'."),
                          (["--to", "q4_0", "--keep", "nothing=q8_0"], "--keep 'nothing' names no matrix"),
                          (["--to", "q4_0", "--keep", "q_proj"], "--keep 'q_proj': write it as name=format")]:
        run = ttl_train("quantize", "--model", QUANTIZED, *args, "--out", str(tmp_path / "out.h5"))
        assert run.returncode != 0 and message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
        assert not (tmp_path / "out.h5").exists()


@needs_assets
def test_import_f32_and_keep_agree_on_the_fingerprint(tmp_path):
    kept = run_import(GGUF, "--out", str(tmp_path / "kept.h5"))
    assert kept.returncode == 0, kept.stderr
    with h5py.File(tmp_path / "kept.h5", "r") as k, h5py.File(MODEL, "r") as f:
        assert k.attrs["fingerprint"] == f.attrs["fingerprint"]
        assert "Q4_1, Q8_0 kept as blocks" in k.attrs["source"] and "dequantized" in f.attrs["source"]
