#!/usr/bin/env python3
"""Import a llama, qwen2 or qwen3 GGUF model into ttl-train's HDF5 model format.

The output holds the weights in Hugging Face layout and naming, so that RoPE is the usual
rotate-half form and adapters line up with HF/PEFT module names:

    /model/embed_tokens/weight                      (vocab, hidden)
    /model/layers/<i>/input_layernorm/weight        (hidden,)
    /model/layers/<i>/self_attn/{q,k,v,o}_proj/weight   (out_features, in_features)
    /model/layers/<i>/post_attention_layernorm/weight
    /model/layers/<i>/mlp/{gate,up,down}_proj/weight
    /model/norm/weight
    /lm_head/weight                                 only when embeddings are not tied

Root attributes: format, format_version, architecture, the config under HF names, fingerprint
(sha256 of the weights, see `fingerprint`), tokenizer_fingerprint and source. Every dataset is
chunked with a Fletcher32 checksum, so corruption on disk fails loudly.

By default (`--dtype keep`) a matrix the GGUF stores as Q8_0, Q4_0 or Q4_1 keeps its blocks
byte for byte (format version 3): a uint8 dataset (out_features, bytes per row) with attributes
`quantization` and `shape`; ttl-train decodes it with the very float operations gguf-py uses, so
the model computes exactly what the float32 import (`--dtype f32`) computes. Other storage types
(F16, K-quants, …) are decoded to float32.

llama.cpp's converter permutes the rows of Q and K of a `llama` so that its RoPE rotates adjacent
pairs; this script undoes that permutation (see `unpermute_rows`); `qwen2` and `qwen3` use the
rotate-half form and are not permuted. Qwen2's q/k/v biases (`blk.N.attn_q.bias`) and Qwen3's
per-head norms (`attn_q_norm`, `attn_k_norm`) are read; Llama 3.1's scaled RoPE, which llama.cpp
stores as per-frequency divisors (`rope_freqs.weight`), is read back into its four parameters and
checked to reproduce every divisor.

Every metadata key is used, checked to have the value ttl-train supports, or known to change
nothing (provenance under `general.`, quantization bookkeeping); any other is refused by name.
"""
import argparse
import hashlib
import json
import os
import sys

import gguf
import h5py
import numpy as np
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors

FORMAT_NAME = "ttl-train-model"
DENSE_VERSION = 1
QUANTIZED_VERSION = 3
FAMILY_VERSION = 4
# The model-file attributes of format version 4 (a family's switches; see ModelFile.swift).
FAMILY_ATTRIBUTES = ("linear_bias", "qk_norm", "sliding_window", "rope_type")
SITES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
KEPT_TYPES = {"Q8_0": "q8_0", "Q4_0": "q4_0", "Q4_1": "q4_1"}
SUPPORTED_ARCHITECTURES = ("llama", "qwen2", "qwen3")
CHUNK_BYTES = 1 << 20

LAYER_TENSORS = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
}
# `{arch}.` metadata read into the config, and the tokenizer's keys build_tokenizer reads.
ARCHITECTURE_KEYS = {"context_length", "embedding_length", "feed_forward_length", "block_count", "attention.head_count",
                     "attention.head_count_kv", "attention.key_length", "attention.value_length", "rope.freq_base",
                     "rope.dimension_count", "attention.layer_norm_rms_epsilon", "vocab_size", "rope.scaling.type",
                     "rope.scaling.factor", "rope.scaling.original_context_length"}
TOKENIZER_KEYS = {"tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
                  "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.chat_template",
                  "tokenizer.ggml.pre", "tokenizer.ggml.add_space_prefix", "tokenizer.ggml.add_bos_token",
                  "tokenizer.ggml.add_eos_token"}
# Keys that change nothing ttl-train computes: special tokens it never inserts, BPE scores
# (llama.cpp's SentencePiece field), the file's own layout.
NO_EFFECT_KEYS = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count", "tokenizer.ggml.unknown_token_id",
                  "tokenizer.ggml.padding_token_id", "tokenizer.ggml.seperator_token_id",
                      "tokenizer.ggml.separator_token_id",
                  "tokenizer.ggml.cls_token_id", "tokenizer.ggml.mask_token_id", "tokenizer.ggml.eot_token_id",
                  "tokenizer.ggml.eom_token_id", "tokenizer.ggml.scores", "tokenizer.ggml.token_type_count"}
NO_EFFECT_PREFIXES = ("general.", "quantize.", "tokenizer.ggml.fim_")
# tokenizer.ggml.pre → the regex llama.cpp splits text with before BPE (None: SmolLM2's
# Digits + GPT-2 split, which ttl-train's own tokenizer implements).
PRE_TOKENIZERS = {
    "smollm": None,
    "llama-bpe": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| "
        r"?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| "
        r"?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}
GLOBAL_TENSORS = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    "output": "lm_head",
}


class ImportError_(Exception):
    """A problem with the input file, reported as one line."""


def field(reader, key, required=True):
    if key not in reader.fields:
        if required:
            raise ImportError_(f"GGUF metadata '{key}' is missing")
        return None
    return reader.fields[key].contents()


def check_keys(reader, arch):
    """Refuses a metadata key that is neither read, checked, nor known to change nothing."""
    for key in reader.fields:
        if key in NO_EFFECT_KEYS or key in TOKENIZER_KEYS or key.startswith(NO_EFFECT_PREFIXES):
            continue
        if key.startswith(arch + ".") and key[len(arch) + 1:] in ARCHITECTURE_KEYS:
            continue
        if key == "split.count" and int(field(reader, key)) == 1:
            continue
        raise ImportError_(f"GGUF metadata '{key}' is not known for {arch}; ttl-train will not guess what it changes")


def read_config(reader):
    """The model config under Hugging Face names, read from the GGUF metadata."""
    arch = field(reader, "general.architecture")
    if arch not in SUPPORTED_ARCHITECTURES:
        raise ImportError_(
            f"architecture '{arch}' is not supported (supported: {', '.join(SUPPORTED_ARCHITECTURES)})")
    check_keys(reader, arch)
    hidden = int(field(reader, f"{arch}.embedding_length"))
    heads = int(field(reader, f"{arch}.attention.head_count"))
    kv_heads = field(reader, f"{arch}.attention.head_count_kv", required=False)
    head_dim = int(field(reader, f"{arch}.attention.key_length", required=False) or hidden // heads)
    for key in ("attention.value_length", "rope.dimension_count"):
        value = field(reader, f"{arch}.{key}", required=False)
        if value is not None and int(value) != head_dim:
            raise ImportError_(f"GGUF metadata '{arch}.{key}' is {value}, not the head dimension {head_dim} "
                               "(partial or uneven rotary embeddings are not implemented)")
    scaling = field(reader, f"{arch}.rope.scaling.type", required=False)
    if scaling not in (None, "none"):
        raise ImportError_(f"GGUF metadata '{arch}.rope.scaling.type' is '{scaling}' (llama3's rope_freqs are read; "
                           "other scalings are not implemented)")
    vocab = field(reader, f"{arch}.vocab_size", required=False)
    if vocab is None:
        vocab = len(field(reader, "tokenizer.ggml.tokens"))
    names = {t.name for t in reader.tensors}
    config = {
        "architecture": arch,
        "vocab_size": int(vocab),
        "hidden_size": hidden,
        "intermediate_size": int(field(reader, f"{arch}.feed_forward_length")),
        "num_hidden_layers": int(field(reader, f"{arch}.block_count")),
        "num_attention_heads": heads,
        "num_key_value_heads": int(kv_heads if kv_heads is not None else heads),
        "head_dim": head_dim,
        "max_position_embeddings": int(field(reader, f"{arch}.context_length")),
        "rope_theta": float(field(reader, f"{arch}.rope.freq_base", required=False) or 10000.0),
        "rms_norm_eps": float(field(reader, f"{arch}.attention.layer_norm_rms_epsilon")),
        "tie_word_embeddings": 0 if "output.weight" in names else 1,
        "bos_token_id": int(field(reader, "tokenizer.ggml.bos_token_id")),
        "eos_token_id": int(field(reader, "tokenizer.ggml.eos_token_id")),
    }
    biased = [site for site in SITES if f"blk.0.{GGUF_SITES[site]}.bias" in names]
    if biased:
        config["linear_bias"] = ",".join(biased)
    if arch == "qwen3":
        config["qk_norm"] = 1
    if "rope_freqs.weight" in names:
        divisors = next(t for t in reader.tensors if t.name == "rope_freqs.weight")
        original = field(reader, f"{arch}.rope.scaling.original_context_length", required=False) or 8192
        config.update(llama3_from_divisors(np.asarray(divisors.data, dtype=np.float64).reshape(-1),
                                           config["rope_theta"],
                                           head_dim, int(original)))
    return config


def llama3_divisors(theta, head_dim, factor, low, high, original):
    """What llama.cpp's converter stores as `rope_freqs` for Llama 3.1's rule: per frequency, the
    number its RoPE divides the frequency by."""
    divisors = []
    for frequency in theta ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim):
        wavelength = 2 * np.pi / frequency
        if wavelength < original / high:
            divisors.append(1.0)
        elif wavelength > original / low:
            divisors.append(factor)
        else:
            smooth = (original / wavelength - low) / (high - low)
            divisors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(divisors)


def llama3_from_divisors(divisors, theta, head_dim, original):
    """Llama 3.1's four parameters from llama.cpp's divisors. Only `original / (high − low)` and
    `low / (high − low)` shape the curve, so `original` (the GGUF's, else Llama 3's 8192) fixes the
    rest; the blend between the bands is linear in 1 / wavelength and is fitted from its points, or
    with none, the band edges are put between the neighbouring wavelengths. The result must give
    back every divisor."""
    if len(divisors) != head_dim // 2 or not np.isfinite(divisors).all() or (divisors < 1 - 1e-6).any():
        raise ImportError_(f"tensor 'rope_freqs.weight' holds {len(divisors)} divisors ≥ 1 expected {head_dim // 2}")
    if np.allclose(divisors, 1):
        return {}
    inverse = theta ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    wavelength = 2 * np.pi / inverse
    factor = float(divisors.max())
    high_band, low_band = np.isclose(divisors, 1, rtol=1e-6), np.isclose(divisors, factor, rtol=1e-6)
    middle = ~high_band & ~low_band
    longest_high = wavelength[high_band].max() if high_band.any() else wavelength.min() / 2
    shortest_low = wavelength[low_band].min() if low_band.any() else wavelength.max() * 2
    smooth = (1 / divisors[middle] - 1 / factor) / (1 - 1 / factor)
    if middle.sum() >= 2:  # smooth = original / (high − low) / wavelength − low / (high − low)
        slope, intercept = np.polyfit(1 / wavelength[middle], smooth, 1)
        width = original / slope
        low = -intercept * width
        high = low + width
    else:  # the low band's edge between its neighbours, the high band's where the point says
        low_edge = np.sqrt(shortest_low * (wavelength[middle].max() if middle.any() else longest_high))
        high_edge = (1 / (1 / low_edge + (1 / wavelength[middle][0] - 1 / low_edge) / smooth[0]) if middle.any()
                     else np.sqrt(longest_high * low_edge))
        low, high = original / low_edge, original / high_edge
    parameters = {"rope_type": "llama3", "rope_factor": factor, "rope_low_freq_factor": float(low),
                  "rope_high_freq_factor": float(high), "rope_original_max_position_embeddings": original}
    if not 0 < low < high or not np.allclose(llama3_divisors(theta, head_dim, factor, low, high, original), divisors,
                                             rtol=1e-5):
        raise ImportError_("tensor 'rope_freqs.weight' does not follow Llama 3.1's RoPE rule (other frequency "
                           "scalings are not implemented)")
    return parameters


def unpermute_rows(weight, n_heads):
    """Undo llama.cpp's Q/K row permutation (adjacent-pair RoPE back to HF's rotate-half).

    llama.cpp stores `w.reshape(n, 2, d/2, in).swapaxes(1, 2)`; this is its inverse.
    """
    rows = weight.shape[0]
    return weight.reshape(n_heads, rows // n_heads // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def permute_rows(weight, n_heads):
    """llama.cpp's permutation, HF layout to GGUF layout (used by the tests)."""
    rows = weight.shape[0]
    return weight.reshape(n_heads, 2, rows // n_heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


GGUF_SITES = {hf.rpartition(".")[2]: gguf_name for gguf_name, hf in LAYER_TENSORS.items()}


def hf_name(gguf_name):
    base, _, suffix = gguf_name.rpartition(".")
    if suffix not in ("weight", "bias"):
        raise ImportError_(f"tensor '{gguf_name}' is not supported (only weights and biases are)")
    if base in GLOBAL_TENSORS and suffix == "weight":
        return GLOBAL_TENSORS[base] + ".weight"
    parts = base.split(".")
    if len(parts) == 3 and parts[0] == "blk" and parts[2] in LAYER_TENSORS:
        return f"model.layers.{int(parts[1])}.{LAYER_TENSORS[parts[2]]}.{suffix}"
    raise ImportError_(f"tensor '{gguf_name}' is not supported by the importer")


class Quantized:
    """A matrix kept as GGUF blocks: `blocks` (rows, bytes per row) uint8 in HF row order."""

    def __init__(self, kind, blocks, shape, values):
        self.kind, self.blocks, self.shape, self.values = kind, blocks, tuple(shape), values
        self.size = int(np.prod(shape))


def read_weights(reader, config, keep):
    """All weights keyed by HF name, in HF layout: float32 arrays, or `Quantized` for the matrices
    stored as Q8_0/Q4_0/Q4_1 when `keep`. Q and K rows are unpermuted either way — whole rows of
    blocks move, so the blocks stay exact."""
    weights = {}
    shapes = llama_shapes(config)
    permuted = config["architecture"] == "llama"
    for tensor in reader.tensors:
        if tensor.name == "rope_freqs.weight":
            continue  # read into the config
        name = hf_name(tensor.name)
        shape = [int(d) for d in reversed(tensor.shape)]
        if name not in shapes or tuple(shape) != shapes[name]:
            raise ImportError_(f"tensor '{tensor.name}' ({name}) has shape {shape}, the metadata implies "
                               f"{list(shapes[name]) if name in shapes else 'no such tensor'}")
        heads = None if not permuted else (
            config["num_attention_heads"] if name.endswith("self_attn.q_proj.weight") else
            config["num_key_value_heads"] if name.endswith("self_attn.k_proj.weight") else None)
        def in_hf_order(array):
            return np.ascontiguousarray(unpermute_rows(array, heads) if heads else array)
        values = in_hf_order(gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32).reshape(shape))
        kind = KEPT_TYPES.get(tensor.tensor_type.name)
        if keep and kind and len(shape) == 2:
            blocks = in_hf_order(np.asarray(tensor.data, dtype=np.uint8).reshape(shape[0], -1))
            weights[name] = Quantized(kind, blocks, shape, values)
        else:
            weights[name] = values
    missing = sorted(set(shapes) - set(weights))
    if missing:
        raise ImportError_(f"tensor '{missing[0]}' is missing" + (f" (and {len(missing) - 1} "
            f"more)" if len(missing) > 1 else ""))
    return weights


def values_of(weight):
    return weight.values if isinstance(weight, Quantized) else weight


def llama_shapes(config):
    """HF name → shape of every weight a model of `config` (ttl-train's attribute names) has: the
    llama block's, plus the biases of `linear_bias` and Qwen3's q/k norms when `qk_norm`."""
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    q, kv = config["num_attention_heads"] * config["head_dim"], config["num_key_value_heads"] * config["head_dim"]
    widths = {"q_proj": q, "k_proj": kv, "v_proj": kv, "o_proj": hidden, "gate_proj": inter, "up_proj": inter,
              "down_proj": hidden}
    biased = [site for site in config.get("linear_bias", "").split(",") if site]
    shapes = {"model.embed_tokens.weight": (config["vocab_size"], hidden), "model.norm.weight": (hidden,)}
    if not config["tie_word_embeddings"]:
        shapes["lm_head.weight"] = (config["vocab_size"], hidden)
    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        shapes.update({
            p + "input_layernorm.weight": (hidden,), p + "post_attention_layernorm.weight": (hidden,),
            p + "self_attn.q_proj.weight": (q, hidden), p + "self_attn.k_proj.weight": (kv, hidden),
            p + "self_attn.v_proj.weight": (kv, hidden), p + "self_attn.o_proj.weight": (hidden, q),
            p + "mlp.gate_proj.weight": (inter, hidden), p + "mlp.up_proj.weight": (inter, hidden),
            p + "mlp.down_proj.weight": (hidden, inter)})
        for site in biased:
            shapes[p + ("self_attn." if site in SITES[:4] else "mlp.") + site + ".bias"] = (widths[site],)
        if config.get("qk_norm"):
            shapes[p + "self_attn.q_norm.weight"] = (config["head_dim"],)
            shapes[p + "self_attn.k_norm.weight"] = (config["head_dim"],)
    return shapes


def fingerprint(weights):
    """sha256 over the weights in name order: per weight its UTF-8 name, a NUL, its shape as
    little-endian int64s, then its values as little-endian float32. Independent of file layout,
    chunking and compression, so two imports of the same GGUF agree."""
    digest = hashlib.sha256()
    for name in sorted(weights):
        values = values_of(weights[name])
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(np.asarray(values.shape, dtype="<i8").tobytes())
        digest.update(np.ascontiguousarray(values, dtype="<f4").tobytes())
    return "sha256:" + digest.hexdigest()


def build_tokenizer(reader):
    """The byte-level BPE tokenizer from the GGUF's vocabulary and merges."""
    model = field(reader, "tokenizer.ggml.model")
    if model != "gpt2":
        raise ImportError_(f"tokenizer model '{model}' is not supported (only byte-level BPE, 'gpt2')")
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    merges = []
    for merge in field(reader, "tokenizer.ggml.merges"):
        pair = merge.split(" ")
        if len(pair) != 2:
            raise ImportError_(f"tokenizer merge '{merge}' is not a pair")
        merges.append(tuple(pair))
    vocab = {token: index for index, token in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    pre = field(reader, "tokenizer.ggml.pre", required=False) or "smollm"
    if pre not in PRE_TOKENIZERS:
        raise ImportError_(f"GGUF metadata 'tokenizer.ggml.pre' is '{pre}' (supported: {', '.join(PRE_TOKENIZERS)})")
    if field(reader, "tokenizer.ggml.add_space_prefix", required=False):
        raise ImportError_("GGUF metadata 'tokenizer.ggml.add_space_prefix' is true; byte-level BPE adds no prefix "
            "space")
    if PRE_TOKENIZERS[pre] is None:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ])
    else:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(PRE_TOKENIZERS[pre]), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    control = gguf.TokenType.CONTROL
    tokenizer.add_special_tokens([
        AddedToken(tokens[i], special=True, normalized=False) for i, t in enumerate(types) if t == control
    ])
    return tokenizer


def chunk_rows(shape, item_bytes=4):
    """Whole rows, about CHUNK_BYTES a chunk, split evenly so the last chunk is not mostly padding."""
    row_bytes = item_bytes * int(np.prod(shape[1:], dtype=np.int64))
    chunks = max(1, -(-shape[0] * row_bytes // CHUNK_BYTES))
    return (-(-shape[0] // chunks),) + tuple(shape[1:])


def write_tokenizer_config(tokenizer_path, bos_token, eos_token, chat_template):
    """tokenizer_config.json beside tokenizer.json, in Hugging Face's own format: the special
    tokens and the chat template travel with the tokenizer, where ttl-train (`data import`,
    `generate --chat`) and transformers both look for them."""
    config = {"bos_token": bos_token, "eos_token": eos_token}
    if chat_template is not None:
        config["chat_template"] = chat_template
    path = os.path.join(os.path.dirname(os.path.abspath(tokenizer_path)), "tokenizer_config.json")
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(config, handle, ensure_ascii=False, indent=2)
    os.replace(temporary, path)


def format_version(config, quantized):
    """The oldest model-format version that holds a model of `config` (ModelWriter's rule): 4 for
    the families' switches, 3 for quantized blocks, else 1."""
    family = config["architecture"] != "llama" or any(key in config for key in FAMILY_ATTRIBUTES)
    return np.int64(FAMILY_VERSION if family else QUANTIZED_VERSION if quantized else DENSE_VERSION)


def write_model(path, config, weights, weights_fingerprint, source, tokenizer_fingerprint):
    """Writes to `path.tmp`, then renames, so an interrupted import never leaves a half file."""
    temporary = path + ".tmp"
    with h5py.File(temporary, "w") as out:
        quantized = any(isinstance(weight, Quantized) for weight in weights.values())
        out.attrs["format"] = FORMAT_NAME
        out.attrs["format_version"] = format_version(config, quantized)
        for key, value in config.items():
            out.attrs[key] = value if isinstance(value, str) else (
                np.float64(value) if isinstance(value, float) else np.int64(value))
        out.attrs["fingerprint"] = weights_fingerprint
        out.attrs["tokenizer_fingerprint"] = tokenizer_fingerprint
        out.attrs["source"] = source
        for name, weight in weights.items():
            location = "/" + name.replace(".", "/")
            if isinstance(weight, Quantized):
                dataset = out.create_dataset(location, data=weight.blocks, chunks=chunk_rows(weight.blocks.shape, 1), fletcher32=True)
                dataset.attrs["quantization"] = weight.kind
                dataset.attrs["shape"] = np.asarray(weight.shape, dtype=np.int64)
            else:
                out.create_dataset(location, data=weight, chunks=chunk_rows(weight.shape), fletcher32=True)
    os.replace(temporary, path)


def describe_source(reader, path, keep):
    """What the weights are: the GGUF's model name, the file and its storage types — a quantized
    GGUF is not the original float weights, and exports must be able to say so."""
    name = str(field(reader, "general.name", required=False) or "")
    types = {}
    for tensor in reader.tensors:
        types[tensor.tensor_type.name] = types.get(tensor.tensor_type.name, 0) + 1
    storage = ", ".join(f"{kind} ×{count}" for kind, count in sorted(types.items(), key=lambda item: -item[1]))
    decoded = [kind for kind in types if kind not in ("F32", "F16", "BF16") and not (keep and kind in KEPT_TYPES)]
    kept = [kind for kind in types if keep and kind in KEPT_TYPES]
    detail = f"{os.path.basename(path)}: {storage}"
    if kept:
        detail += f"; {', '.join(sorted(kept))} kept as blocks"
    if decoded:
        detail += f"; {', '.join(sorted(decoded))} dequantized to float32"
    return f"{name} ({detail})" if name else detail


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("gguf", help="input .gguf file")
    parser.add_argument("--out", required=True, help="output model .h5 file")
    parser.add_argument("--tokenizer-out", help="also write the tokenizer as tokenizer.json here")
    parser.add_argument("--dtype", choices=("keep", "f32"), default="keep",
                        help="keep: Q8_0/Q4_0/Q4_1 matrices stay as their blocks (default); f32: decode everything to float32")
    args = parser.parse_args(argv)
    try:
        if not os.path.isfile(args.gguf):
            raise ImportError_("no such file")
        try:
            reader = gguf.GGUFReader(args.gguf)
        except Exception as error:  # the gguf package raises ValueError/struct errors on bad input
            raise ImportError_(f"not a readable GGUF file ({error})") from None
        config = read_config(reader)
        tokenizer = build_tokenizer(reader)
        tokenizer_json = tokenizer.to_str()
        tokenizer_fingerprint = "sha256:" + hashlib.sha256(tokenizer_json.encode("utf-8")).hexdigest()
        keep = args.dtype == "keep"
        weights = read_weights(reader, config, keep)
        source = describe_source(reader, args.gguf, keep)
        weights_fingerprint = fingerprint(weights)
        write_model(args.out, config, weights, weights_fingerprint, source, tokenizer_fingerprint)
        if args.tokenizer_out:
            temporary = args.tokenizer_out + ".tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(tokenizer_json)
            os.replace(temporary, args.tokenizer_out)
            tokens = field(reader, "tokenizer.ggml.tokens")
            write_tokenizer_config(args.tokenizer_out, tokens[config["bos_token_id"]], tokens[config["eos_token_id"]],
                                   field(reader, "tokenizer.chat_template", required=False))
    except ImportError_ as error:
        print(f"import_gguf: {args.gguf}: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"out": args.out, "parameters": int(sum(w.size for w in weights.values())),
                      "quantized": sum(isinstance(w, Quantized) for w in weights.values()),
                      "fingerprint": weights_fingerprint}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
