"""Tests of scripts/import_hf.py: tiny random Hugging Face llama directories written with numpy and
the `safetensors` package (tied and untied, float32 and bfloat16, one file and sharded) import,
and ttl-train's logits on them equal the independent numpy reference within 1e-4."""
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
from safetensors import TensorSpec, serialize_file

sys.path.insert(0, os.path.dirname(__file__))
from test_parity import REPO, needs_binary, ttl_train, write_ids  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "scripts"))
import import_gguf  # noqa: E402
import reference_forward  # noqa: E402

HIDDEN, INTER, LAYERS, HEADS, KV_HEADS, HEAD_DIM, VOCAB = 64, 96, 2, 4, 2, 16, 160


def hf_config(tied, **changes):
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN,
              "intermediate_size": INTER, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
              "num_key_value_heads": KV_HEADS, "vocab_size": VOCAB, "max_position_embeddings": 128,
              "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": tied, "hidden_act": "silu",
              "attention_bias": False, "mlp_bias": False, "rope_scaling": None, "bos_token_id": 1,
              "eos_token_id": [2, 3], "torch_dtype": "float32"}
    config.update(changes)
    return {key: value for key, value in config.items() if value is not ...}


def random_weights(seed, tied, bf16):
    """HF names and layouts; values rounded to bfloat16 when `bf16` (what the file will hold)."""
    rng = np.random.default_rng(seed)
    shapes = import_gguf.llama_shapes(dict(hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
                                           num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM,
                                           vocab_size=VOCAB, tie_word_embeddings=tied))
    weights = {}
    for name, shape in shapes.items():
        values = (1 + 0.1 * rng.standard_normal(shape) if len(shape) == 1 else 0.15 * rng.standard_normal(shape)).astype(np.float32)
        if bf16:
            values = ((values.view(np.uint32) + 0x8000) & 0xFFFF0000).view(np.float32)
        weights[name] = values
    return weights


def save_file(tensors, path, bf16):
    specs, keep = {}, []
    for name, values in tensors.items():
        data = (values.view(np.uint32) >> 16).astype(np.uint16) if bf16 else np.ascontiguousarray(values)
        keep.append(data)
        specs[name] = TensorSpec(dtype="bfloat16" if bf16 else "float32", shape=data.shape,
                                 data_ptr=data.ctypes.data, data_len=data.nbytes)
    serialize_file(specs, str(path), {"format": "pt"})


def write_hf_directory(directory, weights, config, bf16=False, shards=1, tokenizer=None):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    names = sorted(weights)
    if shards == 1:
        save_file(weights, directory / "model.safetensors", bf16)
    else:
        weight_map = {}
        for shard in range(shards):
            file = f"model-{shard + 1:05d}-of-{shards:05d}.safetensors"
            part = {name: weights[name] for name in names[shard::shards]}
            save_file(part, directory / file, bf16)
            weight_map.update({name: file for name in part})
        (directory / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    if tokenizer is not None:
        (directory / "tokenizer.json").write_text(tokenizer)


def run_import(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "scripts", "import_hf.py"), *args], capture_output=True, text=True)


@needs_binary
@pytest.mark.parametrize("tied,bf16,shards", [(True, False, 1), (False, False, 3), (True, True, 2), (False, True, 1)])
def test_imported_model_matches_the_reference_on_the_hf_weights(tmp_path, tied, bf16, shards):
    weights = random_weights(seed=7, tied=tied, bf16=bf16)
    config = hf_config(tied)
    write_hf_directory(tmp_path / "hf", weights, config, bf16=bf16, shards=shards, tokenizer='{"model": {}}')
    model = tmp_path / "out" / "model.h5"
    model.parent.mkdir()
    result = run_import(str(tmp_path / "hf"), "--out", str(model))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "tokenizer.json").read_text() == '{"model": {}}'
    with h5py.File(model, "r") as f:
        assert f.attrs["tie_word_embeddings"] == int(tied) and f.attrs["head_dim"] == HEAD_DIM
        assert f.attrs["eos_token_id"] == 2 and f.attrs["tokenizer_fingerprint"].startswith("sha256:")
        assert ("lm_head" in f) == (not tied)
    ids = list(np.random.default_rng(5).integers(0, VOCAB, size=40))
    run = ttl_train("perplexity", "--model", str(model), "--ids", write_ids(tmp_path / "x.ids", ids),
                    "--logits-out", str(tmp_path / "logits.h5"))
    assert run.returncode == 0, run.stderr
    reference_config = dict(num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM, rms_norm_eps=1e-5,
                            rope_theta=10000.0, num_hidden_layers=LAYERS, tie_word_embeddings=int(tied))
    expected = reference_forward.forward(reference_config, {k: v.astype(np.float64) for k, v in weights.items()}, np.array(ids))
    with h5py.File(tmp_path / "logits.h5", "r") as f:
        ours = f["logits"][()]
    assert np.abs(ours - expected).max() < 1e-4 * max(1.0, np.abs(expected).max())


@needs_binary
@pytest.mark.parametrize("dtype", ["q8_0", "q4_0", "q4_1"])
def test_quantized_import_equals_ttl_train_quantize_of_the_float_import(tmp_path, dtype):
    write_hf_directory(tmp_path / "hf", random_weights(seed=2, tied=False, bf16=True), hf_config(False), bf16=True)
    assert run_import(str(tmp_path / "hf"), "--out", str(tmp_path / "f32.h5")).returncode == 0
    result = run_import(str(tmp_path / "hf"), "--out", str(tmp_path / "q.h5"), "--dtype", dtype)
    assert result.returncode == 0, result.stderr
    quantize = ttl_train("quantize", "--model", str(tmp_path / "f32.h5"), "--to", dtype, "--out", str(tmp_path / "swift.h5"))
    assert quantize.returncode == 0, quantize.stderr
    with h5py.File(tmp_path / "q.h5", "r") as python, h5py.File(tmp_path / "swift.h5", "r") as swift:
        assert python.attrs["fingerprint"] == swift.attrs["fingerprint"]
        blocks = python["model/layers/1/mlp/down_proj/weight"]
        assert blocks.attrs["quantization"] == dtype and blocks.dtype == np.uint8
        assert np.array_equal(blocks[()], swift["model/layers/1/mlp/down_proj/weight"][()])
    info = ttl_train("info", "--model", str(tmp_path / "q.h5"), "--verify")
    assert info.returncode == 0 and f"weight_storage=f32:5,{dtype}:16" in info.stdout, info.stdout + info.stderr


@pytest.mark.parametrize("change,message", [
    (dict(architectures=["Gemma2ForCausalLM"], model_type="gemma2"), "model_type 'gemma2' is not supported"),
    (dict(attention_bias=True), "tensor 'model.layers.0.self_attn.k_proj.bias' is missing"),
    (dict(mlp_bias=True), "tensor 'model.layers.0.mlp.down_proj.bias' is missing"),
    (dict(rope_scaling={"rope_type": "llama3", "factor": 8.0}), "'rope_scaling.low_freq_factor' is null, not a "
        "positive number"),
    (dict(hidden_act="gelu"), "'hidden_act' is \"gelu\""),
    (dict(hidden_size=-64), "'hidden_size' is -64, not an integer"),
    (dict(num_attention_heads="4"), "'num_attention_heads' is \"4\", not an integer"),
    (dict(rms_norm_eps=0), "'rms_norm_eps' is 0, not a positive number"),
    (dict(intermediate_size=...), "'intermediate_size' is null"),
])
def test_variants_ttl_train_cannot_run_are_refused_naming_the_key(tmp_path, change, message):
    write_hf_directory(tmp_path / "hf", random_weights(seed=1, tied=True, bf16=False), hf_config(True, **change))
    result = run_import(str(tmp_path / "hf"), "--out", str(tmp_path / "out.h5"))
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "out.h5").exists()


def test_broken_directories_are_refused_in_one_line(tmp_path):
    weights = random_weights(seed=1, tied=True, bf16=False)
    cases = []
    write_hf_directory(tmp_path / "bias", {**weights, "model.layers.0.self_attn.q_proj.bias": np.zeros(64, np.float32)}, hf_config(True))
    cases.append(("bias", "tensor 'model.layers.0.self_attn.q_proj.bias' is not part of a llama"))
    write_hf_directory(tmp_path / "short", {k: v for k, v in weights.items() if "layers.1.mlp" not in k}, hf_config(True))
    cases.append(("short", "tensor 'model.layers.1.mlp.down_proj.weight' is missing (and 2 more)"))
    write_hf_directory(tmp_path / "shape", weights, hf_config(True, intermediate_size=128))
    cases.append(("shape", "has shape [64, 96], config.json implies [64, 128]"))
    write_hf_directory(tmp_path / "untied", weights, hf_config(False))
    cases.append(("untied", "tensor 'lm_head.weight' is missing"))
    (tmp_path / "empty").mkdir()
    cases.append(("empty", "config.json is missing"))
    write_hf_directory(tmp_path / "truncated", weights, hf_config(True))
    data = (tmp_path / "truncated" / "model.safetensors").read_bytes()
    (tmp_path / "truncated" / "model.safetensors").write_bytes(data[:len(data) // 2])
    cases.append(("truncated", "do not fit"))
    write_hf_directory(tmp_path / "garbage", weights, hf_config(True))
    (tmp_path / "garbage" / "model.safetensors").write_bytes(b"\xff" * 64)
    cases.append(("garbage", "the header claims"))
    write_hf_directory(tmp_path / "nan", {**weights, "model.norm.weight": np.full(HIDDEN, np.nan, np.float32)}, hf_config(True))
    cases.append(("nan", "tensor 'model.norm.weight' holds a NaN or infinity"))
    write_hf_directory(tmp_path / "shards", weights, hf_config(True), shards=2)
    os.remove(tmp_path / "shards" / "model-00002-of-00002.safetensors")
    cases.append(("shards", "shard model-00002-of-00002.safetensors is missing"))
    for directory, message in cases:
        result = run_import(str(tmp_path / directory), "--out", str(tmp_path / "out.h5"))
        assert result.returncode == 1 and message in result.stderr, (directory, result.stderr)
        assert result.stderr.count("\n") == 1 and not (tmp_path / "out.h5").exists(), directory


@pytest.mark.parametrize("spelling", ["tokenizer_config", "named", "jinja_file"])
def test_the_chat_template_and_special_tokens_travel_with_the_tokenizer(tmp_path, spelling):
    """tokenizer_config.json's chat_template (a string, or named templates of which "default"),
    or chat_template.jinja as newer transformers save it, lands in tokenizer_config.json beside
    the imported tokenizer with bos_token and eos_token (an AddedToken dict or a string)."""
    template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}"
    source = tmp_path / "hf"
    write_hf_directory(source, random_weights(seed=3, tied=True, bf16=False), hf_config(True), tokenizer='{"model": '
        '{}}')
    config = {"bos_token": {"content": "<s>", "lstrip": False}, "eos_token": "</s>"}
    if spelling == "tokenizer_config":
        config["chat_template"] = template
    elif spelling == "named":
        config["chat_template"] = [{"name": "tool_use", "template": "other"}, {"name": "default", "template": template}]
    else:
        (source / "chat_template.jinja").write_text(template)
    (source / "tokenizer_config.json").write_text(json.dumps(config))
    out = tmp_path / "out"
    out.mkdir()
    result = run_import(str(source), "--out", str(out / "model.h5"))
    assert result.returncode == 0, result.stderr
    written = json.loads((out / "tokenizer_config.json").read_text())
    assert written == {"bos_token": "<s>", "eos_token": "</s>", "chat_template": template}
