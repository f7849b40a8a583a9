#!/usr/bin/env python3
"""Import a Hugging Face Llama, Qwen2, Qwen3 or Mistral directory into ttl-train's model format.

    import_hf.py DIR --out M.h5 [--dtype f32|q8_0|q4_0|q4_1]

DIR is what `save_pretrained` writes: config.json and model.safetensors, or shards listed in
model.safetensors.index.json; tensors in float32, float16 or bfloat16. Weight names and layouts
are already ttl-train's (Hugging Face's), so every tensor is copied as is — widened to float32,
or quantized to a GGUF block format with gguf-py's reference quantizer (`--dtype q4_0` …; rows
that are not whole blocks of 32 stay float32). tokenizer.json, when DIR has one, is copied
beside the output (or to --tokenizer-out) and its sha256 recorded as tokenizer_fingerprint.

Every key of config.json is used, checked to have the one value ttl-train supports, or known to
change nothing (NO_EFFECT); anything else — another architecture, a RoPE scaling other than
linear or llama3, sliding-window attention in Qwen, an activation other than SiLU, a quantization
config — is refused with one line naming the key. Both spellings of RoPE's settings are read:
transformers 5's `rope_parameters` and transformers 4's `rope_theta` / `rope_scaling`.
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


# model_type → transformers' class, for the families ttl-train runs (ModelFamily.swift).
FAMILIES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
            "mistral": "MistralForCausalLM"}
# Keys every family's config.json may hold that change nothing ttl-train computes from token ids:
# bookkeeping, generation defaults, settings of other frameworks or of tensor parallelism (which
# splits a product without changing it), and attention kernels' names.
NO_EFFECT = {
    "_name_or_path", "transformers_version", "torch_dtype", "dtype", "use_cache", "initializer_range", "pad_token_id",
    "output_attentions", "output_hidden_states", "return_dict", "use_return_dict", "torchscript", "is_decoder",
    "is_encoder_decoder", "add_cross_attention", "tie_encoder_decoder", "cross_attention_hidden_size",
    "chunk_size_feed_forward", "id2label", "label2id", "problem_type", "tokenizer_class", "prefix", "sep_token_id",
    "decoder_start_token_id", "task_specific_params", "finetuning_task", "pruned_heads", "tf_legacy_loss",
    "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty",
    "temperature", "top_k", "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "num_return_sequences", "output_scores", "return_dict_in_generate",
    "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
    "suppress_tokens", "begin_suppress_tokens", "bad_words_ids", "_attn_implementation",
    "_attn_implementation_autoset", "attn_implementation", "pretraining_tp",
}
# Keys read or checked for every family, and those only some families have.
COMMON_KEYS = {
    "architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings", "rms_norm_eps",
    "tie_word_embeddings", "hidden_act", "attention_dropout", "bos_token_id", "eos_token_id", "rope_theta",
    "rope_scaling", "rope_parameters",
}
FAMILY_KEYS = {
    "llama": {"attention_bias", "mlp_bias"},
    "qwen2": {"use_sliding_window", "sliding_window", "max_window_layers", "layer_types"},
    "qwen3": {"attention_bias", "use_sliding_window", "sliding_window", "max_window_layers", "layer_types"},
    "mistral": {"sliding_window"},
}
# transformers' defaults where a family's config class has its own.
FAMILY_DEFAULTS = {
    "llama": {"max_position_embeddings": 2048},
    "qwen2": {"max_position_embeddings": 32768, "num_key_value_heads": 32},
    "qwen3": {"max_position_embeddings": 32768, "num_key_value_heads": 32, "head_dim": 128},
    "mistral": {"max_position_embeddings": 4096 * 32, "num_key_value_heads": 8, "sliding_window": 4096},
}
ROPE_KEYS = {"default": {"rope_type", "type", "rope_theta"},
             "linear": {"rope_type", "type", "rope_theta", "factor"},
             "llama3": {"rope_type", "type", "rope_theta", "factor", "low_freq_factor", "high_freq_factor",
                        "original_max_position_embeddings"}}


def read_config(directory):
    """The model config under ttl-train's attribute names. Every key of config.json is used,
    checked to have the one value ttl-train supports, or known to change nothing (NO_EFFECT);
    anything else is refused naming the key."""
    hf = read_json(os.path.join(directory, "config.json"), "config.json")
    if not isinstance(hf, dict):
        raise ImportError_("config.json is not a JSON object")
    family = hf.get("model_type")
    architectures = hf.get("architectures") or []
    if family not in FAMILIES or (architectures and architectures != [FAMILIES[family]]):
        raise ImportError_(f"config.json: architectures {architectures} / model_type '{family}' is not supported "
                           f"(supported: {', '.join(FAMILIES.values())})")
    unknown = sorted(set(hf) - NO_EFFECT - COMMON_KEYS - FAMILY_KEYS[family])
    if unknown:
        raise ImportError_(f"config.json: key '{unknown[0]}' is not known for {family}; ttl-train will not guess what "
                           "it changes" + (f" (also: {', '.join(unknown[1:])})" if len(unknown) > 1 else ""))
    defaults = FAMILY_DEFAULTS[family]

    def value(key, default=None):
        found = hf.get(key)
        return defaults.get(key, default) if found is None else found

    def integer(key, default=None):
        found = value(key, default)
        if isinstance(found, bool) or not isinstance(found, int) or not 1 <= found <= 1 << 24:
            raise ImportError_(f"config.json: '{key}' is {json.dumps(found)}, not an integer in 1…{1 << 24}")
        return found

    def real(where, key, found):
        if isinstance(found, bool) or not isinstance(found, (int, float)) or not 0 < found < float("inf"):
            raise ImportError_(f"config.json: '{where}{key}' is {json.dumps(found)}, not a positive number")
        return float(found)

    def flag(key):
        found = hf.get(key, False)
        if not isinstance(found, bool):
            raise ImportError_(f"config.json: '{key}' is {json.dumps(found)}, not true or false")
        return found

    def require(key, allowed, found, why):
        if found not in allowed:
            raise ImportError_(f"config.json: '{key}' is {json.dumps(found)}; {why}")

    require("hidden_act", ("silu", None), hf.get("hidden_act"), "ttl-train's MLP is SwiGLU (silu)")
    require("attention_dropout", (0, 0.0, None), hf.get("attention_dropout"), "ttl-train has no attention dropout")
    heads = integer("num_attention_heads")
    hidden = integer("hidden_size")
    config = {
        "architecture": family,
        "vocab_size": integer("vocab_size"),
        "hidden_size": hidden,
        "intermediate_size": integer("intermediate_size"),
        "num_hidden_layers": integer("num_hidden_layers"),
        "num_attention_heads": heads,
        "num_key_value_heads": integer("num_key_value_heads", heads),
        "head_dim": integer("head_dim", hidden // heads if hidden % heads == 0 else None),
        "max_position_embeddings": integer("max_position_embeddings"),
        "rms_norm_eps": real("", "rms_norm_eps", value("rms_norm_eps", 1e-6)),
        "tie_word_embeddings": 1 if flag("tie_word_embeddings") else 0,
    }
    config.update(rope_config(hf, real, config["max_position_embeddings"]))
    biases = []
    if family == "qwen2":
        biases = ["q_proj", "k_proj", "v_proj"]
    if family in ("llama", "qwen3") and flag("attention_bias"):
        biases += ["q_proj", "k_proj", "v_proj", "o_proj"]
    if family == "llama" and flag("mlp_bias"):
        biases += ["gate_proj", "up_proj", "down_proj"]
    if biases:
        config["linear_bias"] = ",".join(biases)
    if family == "qwen3":
        config["qk_norm"] = 1
    if family in ("qwen2", "qwen3"):
        require("use_sliding_window", (False, None), hf.get("use_sliding_window"),
                "sliding-window attention is not implemented (sliding_window and max_window_layers then change "
                "nothing)")
        layer_types = hf.get("layer_types")
        if layer_types is not None and (not isinstance(layer_types, list) or set(layer_types) - {"full_attention"}):
            raise ImportError_(f"config.json: 'layer_types' {json.dumps(layer_types)}: only full_attention is "
                f"implemented")
    if family == "mistral" and hf.get("sliding_window", defaults["sliding_window"]) is not None:
        config["sliding_window"] = integer("sliding_window")  # null: attends to every position
    for key in ("bos_token_id", "eos_token_id"):
        found = hf.get(key)
        found = found[0] if isinstance(found, list) and found else found
        if isinstance(found, int) and not isinstance(found, bool):
            config[key] = found
    return config


def rope_config(hf, real, context):
    """RoPE's base and scaling from either spelling: transformers 5's `rope_parameters`
    (`rope_theta` inside) or transformers 4's top-level `rope_theta` and `rope_scaling` (which wins
    when both are there, as in transformers)."""
    parameters = hf.get("rope_scaling") or hf.get("rope_parameters") or {}
    where = "rope_scaling." if hf.get("rope_scaling") else "rope_parameters."
    if not isinstance(parameters, dict):
        raise ImportError_(f"config.json: '{where[:-1]}' is {json.dumps(parameters)}, not an object")
    kind = parameters.get("rope_type", parameters.get("type", "default"))
    if kind not in ROPE_KEYS:
        raise ImportError_(f"config.json: '{where}rope_type' is {json.dumps(kind)}; implemented: "
            f"{', '.join(ROPE_KEYS)}")
    unknown = sorted(set(parameters) - ROPE_KEYS[kind])
    if unknown:
        raise ImportError_(f"config.json: '{where}{unknown[0]}' is not known for rope_type {kind}")
    theta = parameters.get("rope_theta", hf.get("rope_theta", 10000.0))
    config = {"rope_theta": real(where if "rope_theta" in parameters else "", "rope_theta", theta)}
    if kind == "default":
        return config
    config["rope_type"] = kind
    config["rope_factor"] = real(where, "factor", parameters.get("factor"))
    if kind == "llama3":
        config["rope_low_freq_factor"] = real(where, "low_freq_factor", parameters.get("low_freq_factor"))
        config["rope_high_freq_factor"] = real(where, "high_freq_factor", parameters.get("high_freq_factor"))
        if config["rope_high_freq_factor"] <= config["rope_low_freq_factor"]:
            raise ImportError_(f"config.json: '{where}high_freq_factor' must exceed low_freq_factor")
        original = parameters.get("original_max_position_embeddings", context)
        if isinstance(original, bool) or not isinstance(original, int) or not 1 <= original <= 1 << 24:
            raise ImportError_(f"config.json: '{where}original_max_position_embeddings' is {json.dumps(original)}")
        config["rope_original_max_position_embeddings"] = original
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
            raise ImportError_(f"tensor '{name}' is not part of a {config['architecture']} model of this config.json")
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
