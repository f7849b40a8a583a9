"""scripts/import_gguf.py on the families, from GGUF files written here with gguf-py's writer as
llama.cpp's converter lays them out: the family fixtures' weights (Tests/Fixtures/families) as
`llama` (Q/K rows permuted, Llama 3.1's scaling as `rope_freqs` divisors), `qwen2` (q/k/v biases)
and `qwen3` (q/k norms), in float32 and with Q8_0 blocks. The imports compute transformers' logits
within 1e-4 and equal the Hugging Face import's bits (the same weights; Llama 3's frequencies
refitted from float32 divisors); unknown metadata is refused by name."""
import json
import os

import gguf
import h5py
import numpy as np
import pytest

from test_families import fixture, import_directory, swift_logits
from test_parity import needs_binary

import import_gguf  # noqa: E402
import import_hf  # noqa: E402

ARCHITECTURES = {"llama3.2": "llama", "qwen2.5": "qwen2", "qwen3": "qwen3"}
GGUF_NAMES = {hf: name for name, hf in import_gguf.LAYER_TENSORS.items()}


def byte_level_vocabulary(size):
    """A gpt2-model vocabulary of `size` tokens: the 256 byte symbols, then merges of pairs."""
    from tokenizers import pre_tokenizers
    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokens, merges = list(symbols), []
    for left in "etaoinsrh":
        for right in "etaoinsrhldu":
            if len(tokens) == size:
                return tokens, merges
            tokens.append(left + right)
            merges.append(f"{left} {right}")
    raise AssertionError("vocabulary too large for this helper")


def write_gguf(path, family, extra_metadata=(), quantize=False):
    directory, _, _ = fixture(family)
    config = json.loads(open(os.path.join(directory, "config.json")).read())
    weights = import_hf.read_weights(directory, import_hf.read_config(directory), "f32")
    arch = ARCHITECTURES[family]
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    rope = config["rope_parameters"]
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_name(f"tiny {family}")
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(rope["rope_theta"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(config["vocab_size"])
    tokens, merges = byte_level_vocabulary(config["vocab_size"])
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2" if arch != "llama" else "llama-bpe")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.NORMAL] * len(tokens))
    writer.add_token_merges(merges)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    for key, value in extra_metadata:
        writer.add_string(key, value)
    if rope.get("rope_type") == "llama3":
        divisors = import_gguf.llama3_divisors(rope["rope_theta"], head_dim, rope["factor"], rope["low_freq_factor"],
                                               rope["high_freq_factor"], rope["original_max_position_embeddings"])
        writer.add_tensor("rope_freqs.weight", divisors.astype(np.float32))
    for name, values in weights.items():
        if name == "lm_head.weight":
            gguf_name = "output.weight"
        elif name.startswith("model.layers."):
            parts = name.split(".")
            gguf_name = f"blk.{parts[2]}.{GGUF_NAMES['.'.join(parts[3:-1])]}.{parts[-1]}"
        else:
            gguf_name = {"model.embed_tokens.weight": "token_embd.weight",
                         "model.norm.weight": "output_norm.weight"}[name]
        if arch == "llama" and gguf_name.endswith(("attn_q.weight", "attn_k.weight")):
            values = import_gguf.permute_rows(values, heads if "attn_q" in gguf_name else kv_heads)
        values = np.ascontiguousarray(values, dtype=np.float32)
        if quantize and values.ndim == 2 and values.shape[1] % 32 == 0:
            blocks = gguf.quants.quantize(values, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(gguf_name, blocks, raw_shape=blocks.shape, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(gguf_name, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return str(path)


@needs_binary
@pytest.mark.parametrize("family", sorted(ARCHITECTURES))
def test_gguf_families_compute_transformers_logits(tmp_path, family):
    directory, ids, expected = fixture(family)
    source = write_gguf(tmp_path / "model.gguf", family)
    assert import_gguf.main([source, "--out", str(tmp_path / "gguf.h5"), "--tokenizer-out",
                             str(tmp_path / "tok.json")]) == 0
    ours = swift_logits(tmp_path, tmp_path / "gguf.h5", ids)
    assert expected.distance(ours) < 1e-4, family
    hf = import_directory(directory, tmp_path / "hf.h5")
    with h5py.File(tmp_path / "gguf.h5", "r") as a, h5py.File(hf, "r") as b:
        assert a.attrs["fingerprint"] == b.attrs["fingerprint"], "the same weights, unpermuted"
        for key in ("architecture", "linear_bias", "qk_norm", "head_dim", "rope_type"):
            assert (key in a.attrs) == (key in b.attrs) and (key not in a.attrs or a.attrs[key] == b.attrs[key]), key
    # The same model: bit for bit, or with Llama 3's frequencies refitted from float32 divisors.
    assert np.abs(ours - swift_logits(tmp_path, hf, ids)).max() <= (1e-4 if family == "llama3.2" else 0)


@needs_binary
def test_quantized_gguf_family_keeps_its_blocks_and_runs(tmp_path):
    _, ids, expected = fixture("qwen2.5")
    source = write_gguf(tmp_path / "model.gguf", "qwen2.5", quantize=True)
    assert import_gguf.main([source, "--out", str(tmp_path / "q.h5")]) == 0
    with h5py.File(tmp_path / "q.h5", "r") as f:
        assert f["model/layers/0/mlp/down_proj/weight"].attrs["quantization"] == "q8_0"  # rows of 96: whole blocks
        assert f.attrs["linear_bias"] == "q_proj,k_proj,v_proj"
    ours = swift_logits(tmp_path, tmp_path / "q.h5", ids)
    assert 1e-4 < expected.distance(ours) < 0.5, "q8_0 moves the logits a little, not far"


def test_llama3_divisors_round_trip_through_the_fit():
    for theta, head_dim, factor, low, high, original in [(500000.0, 128, 32.0, 1.0, 4.0, 8192),
                                                         (500000.0, 64, 8.0, 1.0, 4.0, 8192),
                                                         (10000.0, 12, 8.0, 1.0, 4.0, 64)]:
        divisors = import_gguf.llama3_divisors(theta, head_dim, factor, low, high, original)
        fitted = import_gguf.llama3_from_divisors(divisors, theta, head_dim, 8192)
        again = import_gguf.llama3_divisors(theta, head_dim, fitted["rope_factor"], fitted["rope_low_freq_factor"],
                                            fitted["rope_high_freq_factor"], 8192)
        assert np.allclose(again, divisors, rtol=1e-9)
        if original == 8192:
            assert abs(fitted["rope_low_freq_factor"] - low) < 1e-9
            assert abs(fitted["rope_high_freq_factor"] - high) < 1e-9


@pytest.mark.parametrize("key,message", [
    ("qwen2.expert_count", "GGUF metadata 'qwen2.expert_count' is not known for qwen2"),
    ("qwen2.rope.scaling.type", "'qwen2.rope.scaling.type' is 'yarn'"),
])
def test_unknown_metadata_is_refused_by_name(tmp_path, capsys, key, message):
    source = write_gguf(tmp_path / "m.gguf", "qwen2.5", extra_metadata=[(key, "yarn")])
    assert import_gguf.main([source, "--out", str(tmp_path / "m.h5")]) == 1
    error = capsys.readouterr().err.strip()
    assert message in error and "\n" not in error, error
    assert not (tmp_path / "m.h5").exists()
