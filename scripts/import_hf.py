#!/usr/bin/env python3
"""Import a Hugging Face LlamaForCausalLM directory into ttl-train's HDF5 model format.

    import_hf.py DIR --out M.h5 [--dtype f32|q8_0|q4_0|q4_1]

DIR is what `save_pretrained` writes: config.json and model.safetensors, or shards listed in
model.safetensors.index.json; tensors in float32, float16 or bfloat16. Weight names and layouts
are already ttl-train's (Hugging Face's), so every tensor is copied as is — widened to float32,
or quantized to a GGUF block format with gguf-py's reference quantizer (`--dtype q4_0` …; rows
that are not whole blocks of 32 stay float32). tokenizer.json, when DIR has one, is copied
beside the output (or to --tokenizer-out) and its sha256 recorded as tokenizer_fingerprint.

Llama variants ttl-train cannot run are refused with one line naming the config key: other
architectures, attention or MLP biases, rope_scaling, an activation other than SiLU.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys

import gguf
import numpy as np

from import_gguf import ImportError_, Quantized, fingerprint, llama_shapes, write_model, write_tokenizer_config

QUANTIZATION_TYPES = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0,
                      "q4_1": gguf.GGMLQuantizationType.Q4_1}
SAFETENSORS_TYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}
# Buffers some transformers versions saved next to the weights; recomputed by ttl-train.
IGNORED_SUFFIXES = (".rotary_emb.inv_freq",)


def read_json(path, what):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise ImportError_(f"{what} is missing") from None
    except (OSError, ValueError) as error:
        raise ImportError_(f"{what} is not readable JSON ({error})") from None


def read_config(directory):
    """The model config under ttl-train's attribute names, refusing what ttl-train cannot run."""
    hf = read_json(os.path.join(directory, "config.json"), "config.json")
    if not isinstance(hf, dict):
        raise ImportError_("config.json is not a JSON object")
    architectures = hf.get("architectures") or []
    if hf.get("model_type") != "llama" or (architectures and "LlamaForCausalLM" not in architectures):
        raise ImportError_(f"config.json: architectures {architectures} / model_type '{hf.get('model_type')}' "
                           "is not supported (only LlamaForCausalLM)")
    for key in ("attention_bias", "mlp_bias"):
        if hf.get(key):
            raise ImportError_(f"config.json: '{key}' is true; ttl-train's llama has no biases")
    if hf.get("rope_scaling") not in (None, {}):
        raise ImportError_(f"config.json: 'rope_scaling' {json.dumps(hf['rope_scaling'])} is not implemented (plain RoPE only)")
    if hf.get("hidden_act", "silu") != "silu":
        raise ImportError_(f"config.json: 'hidden_act' '{hf['hidden_act']}' is not supported (only silu)")

    def integer(key, default=None):
        value = hf.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1 << 24:
            raise ImportError_(f"config.json: '{key}' is {json.dumps(value)}, not an integer in 1…{1 << 24}")
        return value

    def real(key, default):
        value = hf.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            raise ImportError_(f"config.json: '{key}' is {json.dumps(value)}, not a positive number")
        return float(value)

    heads = integer("num_attention_heads")
    hidden = integer("hidden_size")
    config = {
        "architecture": "llama",
        "vocab_size": integer("vocab_size"),
        "hidden_size": hidden,
        "intermediate_size": integer("intermediate_size"),
        "num_hidden_layers": integer("num_hidden_layers"),
        "num_attention_heads": heads,
        "num_key_value_heads": integer("num_key_value_heads", heads),
        "head_dim": integer("head_dim", hidden // heads if hidden % heads == 0 else None),
        "max_position_embeddings": integer("max_position_embeddings", 2048),
        "rope_theta": real("rope_theta", 10000.0),
        "rms_norm_eps": real("rms_norm_eps", 1e-6),
        "tie_word_embeddings": 1 if hf.get("tie_word_embeddings", False) else 0,
    }
    for key in ("bos_token_id", "eos_token_id"):
        value = hf.get(key)
        value = value[0] if isinstance(value, list) and value else value
        if isinstance(value, int) and not isinstance(value, bool):
            config[key] = value
    return config


def safetensors_files(directory):
    single = os.path.join(directory, "model.safetensors")
    index = os.path.join(directory, "model.safetensors.index.json")
    if os.path.isfile(index):
        weight_map = read_json(index, "model.safetensors.index.json").get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ImportError_("model.safetensors.index.json has no weight_map")
        return sorted(set(weight_map.values()))
    if os.path.isfile(single):
        return ["model.safetensors"]
    raise ImportError_("neither model.safetensors nor model.safetensors.index.json is there "
                       "(save the model with save_pretrained(..., safe_serialization=True))")


def read_safetensors(path):
    """name → float32 array of one .safetensors file (the format: an 8-byte little-endian header
    length, a JSON header of dtype, shape and data offsets, then the raw tensors)."""
    name = os.path.basename(path)
    data = np.memmap(path, dtype=np.uint8, mode="r") if os.path.getsize(path) else np.zeros(0, np.uint8)
    if data.size < 8:
        raise ImportError_(f"{name}: truncated (no header)")
    length = int(data[:8].view("<u8")[0])
    if length > data.size - 8:
        raise ImportError_(f"{name}: the header claims {length} bytes, the file has {data.size - 8}")
    try:
        header = json.loads(bytes(data[8:8 + length]))
    except ValueError as error:
        raise ImportError_(f"{name}: the header is not JSON ({error})") from None
    body = data[8 + length:]
    tensors = {}
    for tensor, entry in header.items():
        if tensor == "__metadata__":
            continue
        dtype = SAFETENSORS_TYPES.get(entry.get("dtype"))
        if dtype is None:
            raise ImportError_(f"{name}: tensor '{tensor}' is {entry.get('dtype')} (supported: F32, F16, BF16)")
        shape = [int(d) for d in entry["shape"]]
        begin, end = (int(o) for o in entry["data_offsets"])
        if not 0 <= begin <= end <= body.size or end - begin != int(np.prod(shape)) * dtype.itemsize:
            raise ImportError_(f"{name}: tensor '{tensor}' has data offsets {begin}…{end} that do not fit {shape} {entry['dtype']}")
        raw = body[begin:end].view(dtype).reshape(shape)
        if entry["dtype"] == "BF16":
            values = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            values = raw.astype(np.float32)
        if not np.isfinite(values).all():
            raise ImportError_(f"{name}: tensor '{tensor}' holds a NaN or infinity")
        tensors[tensor] = np.ascontiguousarray(values)
    return tensors


def read_weights(directory, config, dtype):
    shapes = llama_shapes(config)
    found = {}
    for file in safetensors_files(directory):
        path = os.path.join(directory, file)
        if not os.path.isfile(path):
            raise ImportError_(f"shard {file} is missing")
        found.update(read_safetensors(path))
    weights = {}
    for name, values in found.items():
        if name.endswith(IGNORED_SUFFIXES) or (name == "lm_head.weight" and config["tie_word_embeddings"]):
            continue
        if name not in shapes:
            raise ImportError_(f"tensor '{name}' is not part of a llama ttl-train runs (a bias or another architecture's weight)")
        if tuple(values.shape) != shapes[name]:
            raise ImportError_(f"tensor '{name}' has shape {list(values.shape)}, config.json implies {list(shapes[name])}")
        if dtype != "f32" and values.ndim == 2 and values.shape[1] % 32 == 0:
            blocks = gguf.quants.quantize(values, QUANTIZATION_TYPES[dtype]).reshape(values.shape[0], -1)
            decoded = gguf.quants.dequantize(blocks, QUANTIZATION_TYPES[dtype]).astype(np.float32)
            weights[name] = Quantized(dtype, blocks, values.shape, decoded)
        else:
            weights[name] = values
    missing = sorted(set(shapes) - set(weights))
    if missing:
        raise ImportError_(f"tensor '{missing[0]}' is missing" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    return weights


def special_tokens_and_template(directory):
    """bos_token, eos_token and the chat template of DIR's tokenizer_config.json (a token may be
    written as {"content": ...}; the template may be a list of named templates, of which the
    "default" one is taken) or of chat_template.jinja, which newer transformers write instead."""
    path = os.path.join(directory, "tokenizer_config.json")
    config = read_json(path, "tokenizer_config.json") if os.path.isfile(path) else {}
    if not isinstance(config, dict):
        raise ImportError_("tokenizer_config.json: not a JSON object")

    def token(key):
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        if value is not None and not isinstance(value, str):
            raise ImportError_(f"tokenizer_config.json: {key}: expected a string")
        return value

    template = config.get("chat_template")
    if isinstance(template, list):
        named = {entry.get("name"): entry.get("template") for entry in template if isinstance(entry, dict)}
        template = named.get("default")
    jinja = os.path.join(directory, "chat_template.jinja")
    if os.path.isfile(jinja):
        with open(jinja, encoding="utf-8") as handle:
            template = handle.read()
    if template is not None and not isinstance(template, str):
        raise ImportError_("tokenizer_config.json: chat_template: expected a string or named templates")
    return token("bos_token"), token("eos_token"), template


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory", help="a Hugging Face model directory (config.json + safetensors)")
    parser.add_argument("--out", required=True, help="output model .h5 file")
    parser.add_argument("--dtype", choices=("f32", *QUANTIZATION_TYPES), default="f32",
                        help="store matrices as float32 (default) or in a GGUF block format")
    parser.add_argument("--tokenizer-out", help="where to copy tokenizer.json (default: beside --out)")
    args = parser.parse_args(argv)
    tokenizer_out = args.tokenizer_out or os.path.join(os.path.dirname(os.path.abspath(args.out)), "tokenizer.json")
    try:
        if not os.path.isdir(args.directory):
            raise ImportError_("not a directory")
        config = read_config(args.directory)
        weights = read_weights(args.directory, config, args.dtype)
        tokenizer = os.path.join(args.directory, "tokenizer.json")
        tokenizer_fingerprint = ""
        if os.path.isfile(tokenizer):
            with open(tokenizer, "rb") as handle:
                tokenizer_bytes = handle.read()
            tokenizer_fingerprint = "sha256:" + hashlib.sha256(tokenizer_bytes).hexdigest()
            if os.path.exists(tokenizer_out) and open(tokenizer_out, "rb").read() != tokenizer_bytes:
                raise ImportError_(f"{tokenizer_out} exists and holds another tokenizer; give --tokenizer-out")
        source = f"{os.path.basename(os.path.normpath(args.directory))} (Hugging Face safetensors"
        source += f"; {args.dtype} by scripts/import_hf.py)" if args.dtype != "f32" else ")"
        weights_fingerprint = fingerprint(weights)
        write_model(args.out, config, weights, weights_fingerprint, source, tokenizer_fingerprint)
        if tokenizer_fingerprint and not os.path.exists(tokenizer_out):
            shutil.copyfile(tokenizer, tokenizer_out + ".tmp")
            os.replace(tokenizer_out + ".tmp", tokenizer_out)
        if tokenizer_fingerprint:
            write_tokenizer_config(tokenizer_out, *special_tokens_and_template(args.directory))
    except ImportError_ as error:
        print(f"import_hf: {args.directory}: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"out": args.out, "parameters": int(sum(w.size for w in weights.values())),
                      "quantized": sum(isinstance(w, Quantized) for w in weights.values()),
                      "fingerprint": weights_fingerprint,
                      "tokenizer": tokenizer_out if tokenizer_fingerprint else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
