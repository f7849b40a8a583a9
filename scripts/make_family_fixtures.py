#!/usr/bin/env python3
"""Writes the model-family fixtures of the tests: for Llama 3.2 (llama3 RoPE scaling, saved with
transformers 5's `rope_parameters`), Qwen2.5, Qwen3 and Mistral, the `config.json` transformers'
own `save_pretrained` writes for a tiny model, 200 token ids (past the llama3 scaling's original
context of 64), and the logits transformers computes for them in float32 at every 10th position
and the last (`logits.txt`).

    .venv-peer/bin/python scripts/make_family_fixtures.py [OUT_DIR]   (default Tests/Fixtures/families)

The weights are not stored: `weights(config, seed)` draws them with numpy from the family's seed,
the same values here (loaded into transformers' model) and in the tests (written as
model.safetensors beside the config), so the fixtures stay text. Needs the PyTorch peer
(scripts/peer_venv.sh); the tests need neither torch nor transformers. Re-running gives the same
files on the same library versions.
"""
import json
import os
import sys
import zlib

import numpy as np

SHAPE = dict(vocab_size=300, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2)
FAMILIES = {  # name: (transformers config class, its settings, seed)
    "llama3.2": ("LlamaConfig", dict(
        tie_word_embeddings=True, rope_parameters=dict(rope_type="llama3", rope_theta=10000.0, factor=8.0,
                                                       low_freq_factor=1.0, high_freq_factor=4.0,
                                                       original_max_position_embeddings=64)), 0),
    "qwen2.5": ("Qwen2Config", dict(tie_word_embeddings=True, rope_parameters=dict(rope_theta=1e6)), 1),
    "qwen3": ("Qwen3Config", dict(head_dim=16, tie_word_embeddings=False, rope_parameters=dict(rope_theta=1e6)), 2),
    "mistral": ("MistralConfig", dict(sliding_window=4096, tie_word_embeddings=False), 3),
}
TOKENS = 200
LOGIT_ROWS = list(range(0, TOKENS, 10)) + [TOKENS - 1]


def weights(shapes, seed):
    """Name → float32 values for every weight in `shapes`, each drawn from its own stream (seed and
    the name's CRC), large enough that the logits differ from token to token (transformers' own
    init is std 0.02, under which every family computes almost the same near-uniform logits)."""
    values = {}
    for name, shape in sorted(shapes.items()):
        noise = np.random.default_rng([seed, zlib.crc32(name.encode())]).standard_normal(shape)
        if name.endswith("norm.weight"):
            noise = 1 + 0.1 * noise
        else:
            noise = (0.1 if name.endswith(".bias") else 0.5 if "embed" in name else 0.15) * noise
        values[name] = noise.astype(np.float32)
    return values


def main(argv):
    import torch
    import transformers

    out = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "families")
    ids = np.random.default_rng(7).integers(0, SHAPE["vocab_size"], size=TOKENS)
    for name, (config_class, extra, seed) in FAMILIES.items():
        config = getattr(transformers, config_class)(**SHAPE, **extra)
        model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
        state = {key: tuple(value.shape) for key, value in model.state_dict().items()}
        if config.tie_word_embeddings:
            state.pop("lm_head.weight")
        drawn = weights(state, seed)
        loaded = model.load_state_dict({key: torch.from_numpy(value) for key, value in drawn.items()}, strict=False)
        assert not loaded.unexpected_keys and set(loaded.missing_keys) <= {"lm_head.weight"}, loaded
        if config.tie_word_embeddings:
            assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
        directory = os.path.join(out, name)
        os.makedirs(directory, exist_ok=True)
        config.save_pretrained(directory)
        with torch.no_grad():
            logits = model(torch.tensor(ids)[None]).logits[0].numpy().astype(np.float32)
        np.savetxt(os.path.join(directory, "ids.txt"), ids, fmt="%d")
        np.savetxt(os.path.join(directory, "logits.txt"), logits[LOGIT_ROWS], fmt="%.8e",
                   header="transformers' logits at positions " + " ".join(map(str, LOGIT_ROWS)))
        with open(os.path.join(directory, "made_by.json"), "w") as handle:
            json.dump({"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0],
                       "script": "scripts/make_family_fixtures.py", "seed": seed}, handle, indent=1)
        print(f"{name}: {sum(v.size for v in drawn.values())} parameters, logits std {logits.std():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
