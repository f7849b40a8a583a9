"""`ttl-train export --format peft` against the safetensors format, read here by hand, and against
the trained model: the exported LoRA merged into the base weights by numpy
(scripts/reference_forward.py) reproduces the logits ttl-train computes with the checkpoint's
adapters, for LoRA, sparse LoRA, TT-LoRA and DoRA (merged as PEFT's DoRA layer does:
W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖ per output row). Then `ttl-train merge` (a model file with the
adapters folded in gives the same logits without them) and `export --format hf` (config.json and
model.safetensors, read here with numpy, reproduce the logits through the numpy forward)."""
import json
import os
import struct

import h5py
import numpy as np
import pytest

from test_parity import REPO, TOKENIZER, key_values, needs_binary, reference_forward, ttl_train, write_random_llama


def write_dataset(path, vocab, seed):
    """A two-class data set over the random llama's vocabulary: the answer token (10 or 11) is the
    parity of the second token."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f.attrs.update({"format": "ttl-train-dataset", "format_version": np.int64(1), "task": "classification",
                        "label_names": ["even", "odd"], "label_token_ids": np.array([10, 11], dtype=np.int64),
                        "tokenizer_fingerprint": "sha256:synthetic"})
        for split, count in (("train", 24), ("validation", 4)):
            tokens, offsets, mask, labels = [], [0], [], []
            for _ in range(count):
                body = list(rng.integers(20, vocab, size=int(rng.integers(4, 10))))
                label = body[1] % 2
                tokens += body + [10 + label]
                mask += [0] * len(body) + [1]
                labels.append(label)
                offsets.append(len(tokens))
            f[f"{split}/tokens"] = np.array(tokens, dtype=np.int32)
            f[f"{split}/offsets"] = np.array(offsets, dtype=np.int64)
            f[f"{split}/loss_mask"] = np.array(mask, dtype=np.uint8)
            f[f"{split}/labels"] = np.array(labels, dtype=np.int32)


def read_safetensors(path):
    """Header and float32 tensors, parsed from the bytes as the format specifies."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    assert length % 8 == 0, "header padded to 8 bytes"
    header = json.loads(data[8:8 + length].decode("utf-8"))
    body = data[8 + length:]
    tensors, end = {}, 0
    for name, entry in sorted(((k, v) for k, v in header.items() if k != "__metadata__"), key=lambda item: item[1]["data_offsets"][0]):
        begin, stop = entry["data_offsets"]
        assert entry["dtype"] == "F32" and begin == end, (name, entry)
        assert stop - begin == 4 * int(np.prod(entry["shape"]))
        tensors[name] = np.frombuffer(body[begin:stop], dtype="<f4").reshape(entry["shape"])
        end = stop
    assert end == len(body), "no bytes after the last tensor"
    return header, tensors


KINDS = {
    "lora": "kind: lora, rank: 4, alpha: 8",
    "sparse-lora": "kind: sparse-lora, rank: 4, alpha: 8, sparsity: {final: 0.5, start_step: 1, end_step: 3, every: 1}",
    "tt-lora": "kind: tt-lora, rank: 3, alpha: 1.0",
    "dora": "kind: dora, rank: 4, alpha: 8",
}


def train_adapter(tmp_path, model, vocab, adapter, data_seed, name="tiny"):
    """4 steps of the `adapter` settings (YAML flow mapping) on `model` with the parity data set
    over `vocab`; the step-4 checkpoint."""
    data = tmp_path / "data.h5"
    write_dataset(data, vocab=vocab, seed=data_seed)
    job = tmp_path / "job.yaml"
    job.write_text(f"""name: {name}
model: {model}
data: {{path: {data}}}
task: classification
adapter: {{{adapter}}}
optimizer: {{lr: 5.0e-2, weight_decay: 0.0}}
schedule: {{kind: constant, warmup_steps: 0, total_steps: 4}}
batch: {{global: 4, micro: 2, max_length: 16}}
eval: {{every: 100, examples: 4}}
output: {tmp_path / "run"}
""")
    trained = ttl_train("train", str(job))
    assert trained.returncode == 0, trained.stderr
    return tmp_path / "run" / "checkpoints" / "step-000004.h5"


def train_tiny(tmp_path, kind, seed, tied):
    """A random llama (`model.h5`), the parity data set, and 4 steps of `kind` on 3 targets:
    (model path, checkpoint path)."""
    model = tmp_path / "model.h5"
    write_random_llama(model, seed=seed, tied=tied)
    adapter = f"{KINDS[kind]}, targets: [q_proj, v_proj, down_proj]"
    return model, train_adapter(tmp_path, model, 97, adapter, data_seed=seed - 3, name=f"tiny-{kind}")


@needs_binary
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_exported_lora_reproduces_the_trained_logits(tmp_path, kind):
    model, checkpoint = train_tiny(tmp_path, kind, seed=5, tied=True)
    exported = ttl_train("export", str(checkpoint), "--format", "peft", "--out", str(tmp_path / "peft"))
    assert exported.returncode == 0, exported.stderr
    values = key_values(exported.stdout)
    assert values["adapter_kind"] == kind and values["targets"] == "9"

    config = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["task_type"] == "CAUSAL_LM"
    assert config["target_modules"] == ["down_proj", "q_proj", "v_proj"] and config["layers_to_transform"] == [0, 1, 2]
    rank = config["r"]
    assert rank == (3 if kind == "tt-lora" else 4)
    header, tensors = read_safetensors(tmp_path / "peft" / "adapter_model.safetensors")
    assert header["__metadata__"]["format"] == "pt"
    assert config["use_dora"] == (kind == "dora")
    assert len(tensors) == (27 if kind == "dora" else 18)
    shapes = {"self_attn.q_proj": (48, 48), "self_attn.v_proj": (16, 48), "mlp.down_proj": (48, 80)}
    for layer in range(3):
        for module, (out_features, in_features) in shapes.items():
            prefix = f"base_model.model.model.layers.{layer}.{module}"
            assert tensors[prefix + ".lora_A.weight"].shape == (rank, in_features)
            assert tensors[prefix + ".lora_B.weight"].shape == (out_features, rank)
            if kind == "dora":
                assert tensors[prefix + ".lora_magnitude_vector"].shape == (out_features,)
    if kind == "sparse-lora":
        a = tensors["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]
        assert np.count_nonzero(a) == a.size // 2, "the pruned half exported as zeros"

    # Merge as PEFT does (W += lora_alpha / r · B·A; DoRA then rescales each output row to its
    # magnitude) and run the independent numpy forward.
    base_config, weights = reference_forward.load(str(model))
    scale = config["lora_alpha"] / rank
    for name in list(weights):
        prefix = "base_model.model." + name.removesuffix(".weight")
        if prefix + ".lora_A.weight" in tensors:
            weights[name] = weights[name] + scale * tensors[prefix + ".lora_B.weight"].astype(np.float64) @ tensors[prefix + ".lora_A.weight"].astype(np.float64)
            if config["use_dora"]:
                magnitude = tensors[prefix + ".lora_magnitude_vector"].astype(np.float64)
                weights[name] = weights[name] * (magnitude / np.linalg.norm(weights[name], axis=1))[:, None]
    ids = [3, 17, 42, 8, 66, 23, 91, 5, 30, 12, 77, 50]
    (tmp_path / "ids.txt").write_text(" ".join(map(str, ids)))
    swift = ttl_train("perplexity", "--model", str(model), "--ids", str(tmp_path / "ids.txt"), "--checkpoint", str(checkpoint),
                      "--logits-out", str(tmp_path / "logits.h5"))
    assert swift.returncode == 0, swift.stderr
    with h5py.File(tmp_path / "logits.h5", "r") as f:
        adapted = f["logits"][()].astype(np.float64)
        assert list(f["ids"][()]) == ids
    reference = reference_forward.forward(base_config, weights, np.array(ids))
    base = reference_forward.forward(base_config, reference_forward.load(str(model))[1], np.array(ids))
    assert np.abs(reference - base).max() > 1e-2, "the trained adapters change the logits"
    assert np.abs(adapted - reference).max() < 1e-4 * max(1.0, np.abs(reference).max())


@needs_binary
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_merged_model_and_hugging_face_export_reproduce_the_adapted_logits(tmp_path, kind):
    model, checkpoint = train_tiny(tmp_path, kind, seed=7, tied=kind != "lora")
    checkpoint = str(checkpoint)
    ids = [3, 17, 42, 8, 66, 23, 91, 5, 30, 12, 77, 50]
    (tmp_path / "ids.txt").write_text(" ".join(map(str, ids)))

    def logits(*args):
        out = tmp_path / "logits.h5"
        run = ttl_train("perplexity", "--ids", str(tmp_path / "ids.txt"), "--logits-out", str(out), *args)
        assert run.returncode == 0, run.stderr
        with h5py.File(out, "r") as f:
            return f["logits"][()].astype(np.float64)

    adapted = logits("--model", str(model), "--checkpoint", checkpoint)
    merged = tmp_path / "merged.h5"
    run = ttl_train("merge", checkpoint, "--out", str(merged))
    assert run.returncode == 0, run.stderr
    assert key_values(run.stdout)["weight_storage"].startswith("f32:")
    tolerance = 1e-4 * max(1.0, np.abs(adapted).max())
    assert np.abs(logits("--model", str(merged)) - adapted).max() < tolerance
    assert np.abs(logits("--model", str(model)) - adapted).max() > 1e-2, "the adapters change the logits"

    hf = tmp_path / "hf"
    run = ttl_train("export", checkpoint, "--format", "hf", "--out", str(hf), "--tokenizer", TOKENIZER)
    assert run.returncode == 0, run.stderr
    config = json.loads((hf / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["tie_word_embeddings"] == (kind != "lora")
    _, tensors = read_safetensors(hf / "model.safetensors")
    assert ("lm_head.weight" in tensors) == (kind == "lora")
    assert (hf / "tokenizer.json").read_bytes() == open(TOKENIZER, "rb").read()
    beside = os.path.join(os.path.dirname(TOKENIZER), "tokenizer_config.json")
    assert (hf / "tokenizer_config.json").read_bytes() == open(beside, "rb").read(), "the chat template travels out too"
    reference = reference_forward.forward(config, {name: value.astype(np.float64) for name, value in tensors.items()}, np.array(ids))
    assert np.abs(reference - adapted).max() < tolerance


@needs_binary
def test_merge_refuses_a_checkpoint_of_another_model(tmp_path):
    model, other = tmp_path / "model.h5", tmp_path / "other.h5"
    write_random_llama(model, seed=7, tied=True)
    write_random_llama(other, seed=8, tied=True)
    data = tmp_path / "data.h5"
    write_dataset(data, vocab=97, seed=3)
    job = tmp_path / "job.yaml"
    job.write_text(f"""name: merge-refusal
model: {model}
data: {{path: {data}}}
task: classification
adapter: {{kind: lora, rank: 2, targets: [q_proj]}}
optimizer: {{lr: 1.0e-2}}
schedule: {{kind: constant, warmup_steps: 0, total_steps: 2}}
batch: {{global: 2, micro: 1, max_length: 16}}
eval: {{every: 100, examples: 2}}
output: {tmp_path / "run"}
""")
    assert ttl_train("train", str(job)).returncode == 0
    checkpoint = str(tmp_path / "run" / "checkpoints" / "step-000002.h5")
    run = ttl_train("merge", checkpoint, "--model", str(other), "--out", str(tmp_path / "m.h5"))
    assert run.returncode != 0 and "another base model" in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not (tmp_path / "m.h5").exists()
