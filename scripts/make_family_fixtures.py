#!/usr/bin/env python3
"""Writes the model-family fixtures of the tests: for Llama 3.2 (llama3 RoPE scaling, saved with
transformers 5's `rope_parameters`), Qwen2.5, Qwen3 and Mistral, a tiny random model saved by
transformers' own `save_pretrained`, 200 token ids (past the llama3 scaling's original context of
64) and the logits transformers computes for them in float32.

    .venv-peer/bin/python scripts/make_family_fixtures.py [OUT_DIR]   (default Tests/Fixtures/families)

Needs the PyTorch peer (scripts/peer_venv.sh); the tests read what it wrote, so they need neither
torch nor transformers. Re-running writes the same weights (seeded) and, on the same library
versions, the same logits.
"""
import json
import os
import sys

import numpy as np
import torch
import transformers

SHAPE = dict(vocab_size=300, hidden_size=48, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2)
FAMILIES = {
    "llama3.2": (transformers.LlamaConfig, dict(
        tie_word_embeddings=True, rope_parameters=dict(rope_type="llama3", rope_theta=10000.0, factor=8.0,
                                                       low_freq_factor=1.0, high_freq_factor=4.0,
                                                       original_max_position_embeddings=64))),
    "qwen2.5": (transformers.Qwen2Config, dict(tie_word_embeddings=True, rope_parameters=dict(rope_theta=1e6))),
    "qwen3": (transformers.Qwen3Config, dict(head_dim=16, tie_word_embeddings=False,
                                             rope_parameters=dict(rope_theta=1e6))),
    "mistral": (transformers.MistralConfig, dict(sliding_window=4096, tie_word_embeddings=False)),
}
TOKENS = 200


def randomize(model, seed):
    """Weights large enough that the logits differ from token to token (transformers' own init is
    std 0.02, under which every family computes almost the same near-uniform logits)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if name.endswith("norm.weight"):
                parameter.copy_(1 + 0.1 * noise)
            elif name.endswith(".bias"):
                parameter.copy_(0.1 * noise)
            else:
                parameter.copy_((0.5 if "embed" in name else 0.15) * noise)


def main(argv):
    out = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "families")
    ids = np.random.default_rng(7).integers(0, SHAPE["vocab_size"], size=TOKENS)
    for seed, (name, (config_class, extra)) in enumerate(FAMILIES.items()):
        torch.manual_seed(seed)
        config = config_class(**SHAPE, **extra)
        model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
        randomize(model, seed)
        directory = os.path.join(out, name)
        model.save_pretrained(directory, safe_serialization=True)
        with torch.no_grad():
            logits = model(torch.tensor(ids)[None]).logits[0].numpy().astype(np.float32)
        np.savetxt(os.path.join(directory, "ids.txt"), ids[None], fmt="%d")
        np.save(os.path.join(directory, "logits.npy"), logits)
        with open(os.path.join(directory, "made_by.json"), "w") as handle:
            json.dump({"transformers": transformers.__version__, "torch": torch.__version__.split("+")[0],
                       "script": "scripts/make_family_fixtures.py"}, handle, indent=1)
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, logits std {logits.std():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
