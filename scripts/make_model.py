#!/usr/bin/env python3
"""Write a random-weight model of a real model's shape, for memory and speed work — never for
accuracy claims (the weights are noise).

    make_model.py --shape SHAPE --dtype f32|q8_0|q4_0 --out M.h5 [--seed N]

SHAPE is smollm2-360m, smollm2-1.7b, llama3-8b, llama3.2-1b, llama3.2-3b (llama3 RoPE scaling),
qwen2.5-0.5b, qwen2.5-1.5b (q/k/v biases) or qwen3-0.6b (q/k norms, head_dim 128), each with its
published configuration.

Matrices are drawn at the scale of trained weights (σ ≈ 0.02): float32 normals, or random q8_0 /
q4_0 blocks written directly (a random scale per block, random integers), so an 8B-shaped model
takes a few minutes, not the hours of quantizing 8 billion floats in numpy; norm weights are near 1.
Tensors are generated, written and hashed one at a time (the fingerprint covers the decoded values,
as ttl-train's does), so memory stays at one tensor. The file is ttl-train's model format (version 1
for f32, 3 for blocks, 4 for the families beyond llama's first form) and appears only when complete.
"""
import argparse
import hashlib
import json
import os
import sys

import h5py
import numpy as np

from import_gguf import FORMAT_NAME, chunk_rows, format_version, llama_shapes

LLAMA3_ROPE = dict(rope_theta=500000.0, max_position_embeddings=131072, rope_type="llama3", rope_factor=32.0,
                   rope_low_freq_factor=1.0, rope_high_freq_factor=4.0, rope_original_max_position_embeddings=8192)
SHAPES = {
    # hidden, layers, heads, kv heads, ffn, vocab, tied, rope theta
    "smollm2-360m": dict(hidden_size=960, num_hidden_layers=32, num_attention_heads=15, num_key_value_heads=5,
                         intermediate_size=2560, vocab_size=49152, tie_word_embeddings=1, rope_theta=100000.0),
    "smollm2-1.7b": dict(hidden_size=2048, num_hidden_layers=24, num_attention_heads=32, num_key_value_heads=32,
                         intermediate_size=8192, vocab_size=49152, tie_word_embeddings=1, rope_theta=130000.0),
    "llama3-8b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                      intermediate_size=14336, vocab_size=128256, tie_word_embeddings=0, rope_theta=500000.0),
    "llama3.2-1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8,
                        intermediate_size=8192, vocab_size=128256, tie_word_embeddings=1, **LLAMA3_ROPE),
    "llama3.2-3b": dict(hidden_size=3072, num_hidden_layers=28, num_attention_heads=24, num_key_value_heads=8,
                        intermediate_size=8192, vocab_size=128256, tie_word_embeddings=1, **LLAMA3_ROPE),
    "qwen2.5-0.5b": dict(architecture="qwen2", hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, intermediate_size=4864, vocab_size=151936, tie_word_embeddings=1,
                         rope_theta=1000000.0, max_position_embeddings=32768, rms_norm_eps=1e-6,
                         linear_bias="q_proj,k_proj,v_proj"),
    "qwen2.5-1.5b": dict(architecture="qwen2", hidden_size=1536, num_hidden_layers=28, num_attention_heads=12,
                         num_key_value_heads=2, intermediate_size=8960, vocab_size=151936, tie_word_embeddings=1,
                         rope_theta=1000000.0, max_position_embeddings=32768, rms_norm_eps=1e-6,
                         linear_bias="q_proj,k_proj,v_proj"),
    "qwen3-0.6b": dict(architecture="qwen3", hidden_size=1024, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, intermediate_size=3072, vocab_size=151936,
                       tie_word_embeddings=1, rope_theta=1000000.0, max_position_embeddings=40960, rms_norm_eps=1e-6,
                       qk_norm=1),
}
BLOCK_BYTES = {"q8_0": 34, "q4_0": 18}
SIGMA = 0.02
ROWS_PER_PIECE = 4096  # rows generated and hashed at a time


def config_of(shape):
    config = dict(architecture="llama", max_position_embeddings=8192, rms_norm_eps=1e-5)
    config.update(SHAPES[shape])
    config.setdefault("head_dim", config["hidden_size"] // config["num_attention_heads"])
    return config


def random_blocks(rng, dtype, rows, cols):
    """(rows, cols/32 · block bytes) uint8 of random blocks whose values have σ ≈ SIGMA, and their values."""
    blocks = rows * cols // 32
    if dtype == "q8_0":
        q = rng.integers(-127, 128, size=(blocks, 32), dtype=np.int8)
        unit = SIGMA / 73.3  # σ of uniform integers in ±127
    else:
        q = rng.integers(0, 16, size=(blocks, 32), dtype=np.uint8)
        unit = SIGMA / 4.6  # σ of uniform nibbles minus 8
    d = (unit * rng.uniform(0.5, 1.5, size=(blocks, 1))).astype(np.float16)
    if dtype == "q8_0":
        raw = np.concatenate([d.view(np.uint8), q.view(np.uint8)], axis=1)
        values = q.astype(np.float32) * d.astype(np.float32)
    else:
        raw = np.concatenate([d.view(np.uint8), q[:, :16] | (q[:, 16:] << 4)], axis=1)
        values = d.astype(np.float32) * (q.astype(np.int8) - np.int8(8)).astype(np.float32)
    return raw.reshape(rows, -1), values.reshape(rows, cols)


def write(path, shape, dtype, seed):
    config = config_of(shape)
    shapes = llama_shapes(config)
    rng = np.random.default_rng(seed)
    digest = hashlib.sha256()
    quantized = dtype != "f32"
    temporary = path + ".tmp"
    with h5py.File(temporary, "w") as out:
        out.attrs["format"] = FORMAT_NAME
        out.attrs["format_version"] = format_version(config, quantized)
        for key, value in config.items():
            out.attrs[key] = value if isinstance(value, str) else (np.float64(value) if isinstance(value, float) else np.int64(value))
        kind = config["architecture"]
        out.attrs["source"] = f"random {shape}-shaped {kind} ({dtype}, seed {seed}) by scripts/make_model.py"
        out.attrs["tokenizer_fingerprint"] = ""
        for name in sorted(shapes):  # the fingerprint's order
            dims = shapes[name]
            digest.update(name.encode("utf-8") + b"\0")
            digest.update(np.asarray(dims, dtype="<i8").tobytes())
            location = "/" + name.replace(".", "/")
            if len(dims) == 1:
                values = ((0 if name.endswith(".bias") else 1) + 0.05 * rng.standard_normal(dims)).astype(np.float32)
                out.create_dataset(location, data=values, fletcher32=True, chunks=dims)
                digest.update(values.tobytes())
                continue
            rows, cols = dims
            if quantized:
                row_bytes = cols // 32 * BLOCK_BYTES[dtype]
                dataset = out.create_dataset(location, shape=(rows, row_bytes), dtype=np.uint8,
                                             chunks=chunk_rows((rows, row_bytes), 1), fletcher32=True)
                dataset.attrs["quantization"] = dtype
                dataset.attrs["shape"] = np.asarray(dims, dtype=np.int64)
            else:
                dataset = out.create_dataset(location, shape=dims, dtype=np.float32, chunks=chunk_rows(dims), fletcher32=True)
            for start in range(0, rows, ROWS_PER_PIECE):
                count = min(ROWS_PER_PIECE, rows - start)
                if quantized:
                    raw, values = random_blocks(rng, dtype, count, cols)
                    dataset[start:start + count] = raw
                else:
                    values = (SIGMA * rng.standard_normal((count, cols), dtype=np.float32))
                    dataset[start:start + count] = values
                digest.update(np.ascontiguousarray(values, dtype="<f4").tobytes())
        fingerprint = "sha256:" + digest.hexdigest()
        out.attrs["fingerprint"] = fingerprint
    os.replace(temporary, path)
    return config, fingerprint


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", required=True, choices=sorted(SHAPES))
    parser.add_argument("--dtype", default="f32", choices=("f32", "q8_0", "q4_0"))
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    config, fingerprint = write(args.out, args.shape, args.dtype, args.seed)
    parameters = sum(int(np.prod(s)) for s in llama_shapes(config).values())
    print(json.dumps({"out": args.out, "shape": args.shape, "dtype": args.dtype, "parameters": parameters, "fingerprint": fingerprint}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
