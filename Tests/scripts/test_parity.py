"""The Swift forward pass (ttl-train perplexity, release build) against the independent numpy
reference (scripts/reference_forward.py), on the real SmolLM2 and on a small random llama written
here by h5py, plus the perplexity command's handling of bad input."""
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import import_gguf  # noqa: E402
import reference_forward  # noqa: E402

MODEL = os.path.join(REPO, "assets", "smollm2-135m-instruct.h5")
TOKENIZER = os.path.join(REPO, "assets", "tokenizer.json")
SAMPLE = os.path.join(REPO, "samples", "english.txt")
TTL_TRAIN = os.path.join(REPO, ".build", "release", "ttl-train")

needs_binary = pytest.mark.skipif(not os.path.exists(TTL_TRAIN), reason="build with swift build -c release first")


def ttl_train(*args):
    return subprocess.run([TTL_TRAIN, *args], capture_output=True, text=True)


def key_values(text):
    return dict(line.split("=", 1) for line in text.strip().splitlines())


def write_ids(path, ids):
    path.write_text(" ".join(str(i) for i in ids) + "\n")
    return str(path)


def tokenize(text):
    from tokenizers import Tokenizer
    return Tokenizer.from_file(TOKENIZER).encode(text).ids


@needs_binary
def test_real_model_perplexity_and_top5_match_the_reference(tmp_path):
    with open(SAMPLE, encoding="utf-8") as handle:
        ids = tokenize(handle.read())
    assert len(ids) >= 1000
    path = write_ids(tmp_path / "sample.ids", ids)
    swift = ttl_train("perplexity", "--model", MODEL, "--ids", path, "--ctx", str(len(ids)), "--threads", "2")
    assert swift.returncode == 0, swift.stderr
    ours = key_values(swift.stdout)
    config, weights = reference_forward.load(MODEL)
    logits = reference_forward.forward(config, weights, np.array(ids))
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    reference = float(np.exp(-log_probs[np.arange(len(ids) - 1), ids[1:]].mean()))
    assert int(ours["tokens"]) == len(ids)
    assert abs(float(ours["perplexity"]) / reference - 1) < 0.005, (ours["perplexity"], reference)
    # A RoPE or Q/K permutation mistake multiplies perplexity several times (ASSETS.md).
    assert 5 < reference < 60
    assert [int(i) for i in ours["top5"].split(",")] == list(np.argsort(-logits[-1])[:5])


@needs_binary
def test_capital_of_italy_is_rome(tmp_path):
    ids = tokenize("The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is")
    result = ttl_train("perplexity", "--model", MODEL, "--ids", write_ids(tmp_path / "prompt.ids", ids))
    assert result.returncode == 0, result.stderr
    top = int(key_values(result.stdout)["top5"].split(",")[0])
    from tokenizers import Tokenizer
    assert Tokenizer.from_file(TOKENIZER).decode([top]) == " Rome"


def write_random_llama(path, seed, tied):
    """A small llama in the model format, written independently of the Swift ModelWriter:
    3 layers, hidden 48, 6 query heads over 2 KV heads of dim 8, vocab 97."""
    rng = np.random.default_rng(seed)
    config = dict(vocab_size=97, hidden_size=48, intermediate_size=80, num_hidden_layers=3,
                  num_attention_heads=6, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
                  tie_word_embeddings=int(tied))
    hidden, q, kv, inter = 48, 6 * 8, 2 * 8, 80
    shapes = {"model.embed_tokens.weight": (97, hidden), "model.norm.weight": (hidden,)}
    if not tied:
        shapes["lm_head.weight"] = (97, hidden)
    for layer in range(3):
        p = f"model.layers.{layer}."
        shapes.update({p + "input_layernorm.weight": (hidden,), p + "post_attention_layernorm.weight": (hidden,),
                       p + "self_attn.q_proj.weight": (q, hidden), p + "self_attn.k_proj.weight": (kv, hidden),
                       p + "self_attn.v_proj.weight": (kv, hidden), p + "self_attn.o_proj.weight": (hidden, q),
                       p + "mlp.gate_proj.weight": (inter, hidden), p + "mlp.up_proj.weight": (inter, hidden),
                       p + "mlp.down_proj.weight": (hidden, inter)})
    weights = {name: (1 + 0.1 * rng.standard_normal(shape) if len(shape) == 1 else 0.2 * rng.standard_normal(shape)).astype(np.float32)
               for name, shape in shapes.items()}
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "ttl-train-model"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["architecture"] = "llama"
        for key, value in config.items():
            f.attrs[key] = np.int64(value)
        f.attrs["rope_theta"] = 500.0
        f.attrs["rms_norm_eps"] = 1e-6
        f.attrs["fingerprint"] = import_gguf.fingerprint(weights)
        for name, values in weights.items():
            f.create_dataset("/" + name.replace(".", "/"), data=values)


@needs_binary
@pytest.mark.parametrize("tied", [True, False])
def test_small_random_llama_matches_the_reference(tmp_path, tied):
    model = str(tmp_path / "small.h5")
    write_random_llama(model, seed=3, tied=tied)
    ids = list(np.random.default_rng(4).integers(0, 97, size=150))
    path = write_ids(tmp_path / "small.ids", ids)
    swift = ttl_train("perplexity", "--model", model, "--ids", path, "--ctx", "50")
    assert swift.returncode == 0, swift.stderr
    config, weights = reference_forward.load(model)
    nll = []
    for start in range(0, 150, 50):
        window = np.array(ids[start:start + 50])
        logits = reference_forward.forward(config, weights, window)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        nll.extend(-log_probs[np.arange(len(window) - 1), window[1:]])
    ours = key_values(swift.stdout)
    assert abs(float(ours["perplexity"]) / float(np.exp(np.mean(nll))) - 1) < 1e-4
    assert [int(i) for i in ours["top5"].split(",")] == list(np.argsort(-logits[-1])[:5])


@needs_binary
def test_bad_perplexity_input_fails_with_one_line(tmp_path):
    model = str(tmp_path / "small.h5")
    write_random_llama(model, seed=3, tied=True)
    cases = [
        (write_ids(tmp_path / "range.ids", [1, 2, 97]), [], "token 2 has id 97, outside the model's vocabulary 0..<97"),
        (write_ids(tmp_path / "empty.ids", []), [], "no token ids in the file"),
        (write_ids(tmp_path / "words.ids", [1, "x2"]), [], "is not an integer id"),
        (write_ids(tmp_path / "ok.ids", [1, 2, 3]), ["--ctx", "65"], "--ctx 65 exceeds the model's context of 64 tokens"),
        (str(tmp_path / "absent.ids"), [], "no such file"),
    ]
    for ids, extra, message in cases:
        result = ttl_train("perplexity", "--model", model, "--ids", ids, *extra)
        assert result.returncode != 0, message
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
        assert result.stdout == ""
