#!/usr/bin/env python3
"""An independent numpy forward pass over a ttl-train model file, for parity checks.

Written from the llama architecture directly (RMSNorm, rotate-half RoPE, grouped-query causal
attention, SwiGLU), in float64, sharing no code with the Swift implementation, with what the
families add (ModelFamily.swift): biases on the linear layers named by `linear_bias` (Qwen2's
q/k/v), RMSNorm over each head of q and k before RoPE (Qwen3's `qk_norm`), and RoPE's frequency
scaling (`rope_type` linear, or llama3 as Meta's Llama 3.1 reference code writes it):

    reference_forward.py MODEL.h5 --ids FILE        # whitespace-separated token ids
    reference_forward.py MODEL.h5 --text "..." --tokenizer assets/tokenizer.json

prints `tokens=`, `perplexity=` (next-token, over the whole window) and `top5=` (ids predicted
after the last token) as key=value lines.
"""
import argparse
import sys

import h5py
import numpy as np


def load(path):
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "ttl-train-model":
            raise SystemExit(f"reference_forward: {path}: not a ttl-train model file")
        config = {key: f.attrs[key] for key in f.attrs}
        weights = {}
        f.visititems(lambda name, obj: weights.__setitem__(name.replace("/", "."), obj[()].astype(np.float64))
                     if isinstance(obj, h5py.Dataset) else None)
    return config, weights


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def frequencies(config, dim):
    """RoPE's angular frequencies, rescaled as the model's `rope_type` says."""
    inverse = float(config["rope_theta"]) ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)
    kind = config.get("rope_type", "default")
    if kind == "linear":
        return inverse / float(config["rope_factor"])
    if kind == "llama3":
        factor, low, high = (float(config[k]) for k in ("rope_factor", "rope_low_freq_factor", "rope_high_freq_factor"))
        original = float(config["rope_original_max_position_embeddings"])
        scaled = []
        for frequency in inverse:
            wavelength = 2 * np.pi / frequency
            if wavelength < original / high:
                scaled.append(frequency)
            elif wavelength > original / low:
                scaled.append(frequency / factor)
            else:
                smooth = (original / wavelength - low) / (high - low)
                scaled.append((1 - smooth) * frequency / factor + smooth * frequency)
        return np.array(scaled)
    return inverse


def rope(x, inverse):
    """Rotate-half RoPE over (heads, T, head_dim): pairs (i, i + d/2)."""
    _, length, dim = x.shape
    angles = np.outer(np.arange(length), inverse)
    cos = np.concatenate([np.cos(angles)] * 2, axis=-1)
    sin = np.concatenate([np.sin(angles)] * 2, axis=-1)
    half = dim // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


def forward(config, w, ids):
    """Logits (T, vocab) for token ids (T,)."""
    heads, kv_heads, dim = int(config["num_attention_heads"]), int(config["num_key_value_heads"]), int(config["head_dim"])
    eps, inverse = float(config["rms_norm_eps"]), frequencies(config, dim)
    length = len(ids)

    def linear(h, name):
        y = h @ w[name + ".weight"].T
        return y + w[name + ".bias"] if name + ".bias" in w else y

    x = w["model.embed_tokens.weight"][ids]
    mask = np.triu(np.full((length, length), -np.inf), k=1)
    for layer in range(int(config["num_hidden_layers"])):
        p = f"model.layers.{layer}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = linear(h, p + "self_attn.q_proj").reshape(length, heads, dim).transpose(1, 0, 2)
        k = linear(h, p + "self_attn.k_proj").reshape(length, kv_heads, dim).transpose(1, 0, 2)
        v = linear(h, p + "self_attn.v_proj").reshape(length, kv_heads, dim).transpose(1, 0, 2)
        if p + "self_attn.q_norm.weight" in w:
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k = rope(q, inverse), rope(k, inverse)
        group = heads // kv_heads
        k, v = np.repeat(k, group, axis=0), np.repeat(v, group, axis=0)
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(dim) + mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        attention = (scores / scores.sum(axis=-1, keepdims=True)) @ v
        x = x + linear(attention.transpose(1, 0, 2).reshape(length, heads * dim), p + "self_attn.o_proj")
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = linear(h, p + "mlp.gate_proj")
        up = linear(h, p + "mlp.up_proj")
        x = x + linear(gate / (1 + np.exp(-gate)) * up, p + "mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if int(config["tie_word_embeddings"]) else w["lm_head.weight"]
    return x @ head.T


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--ids", help="file of whitespace-separated token ids")
    source.add_argument("--text", help="text to tokenize with --tokenizer")
    parser.add_argument("--tokenizer", help="tokenizer.json for --text")
    args = parser.parse_args(argv)
    if args.ids:
        with open(args.ids) as handle:
            ids = np.array([int(t) for t in handle.read().split()], dtype=np.int64)
    else:
        from tokenizers import Tokenizer
        ids = np.array(Tokenizer.from_file(args.tokenizer).encode(args.text).ids, dtype=np.int64)
    config, weights = load(args.model)
    logits = forward(config, weights, ids)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    nll = -log_probs[np.arange(len(ids) - 1), ids[1:]]
    print(f"tokens={len(ids)}")
    print(f"perplexity={float(np.exp(nll.mean())):.6f}")
    print("top5=" + ",".join(str(i) for i in np.argsort(-logits[-1])[:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
