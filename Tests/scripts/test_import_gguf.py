"""Tests of scripts/import_gguf.py against the real SmolLM2 GGUF that scripts/setup.sh fetched."""
import os
import subprocess
import sys

import gguf
import h5py
import numpy as np
import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import import_gguf  # noqa: E402

GGUF = os.path.join(REPO, "assets", "SmolLM2-135M-Instruct.Q4_1.gguf")
MODEL = os.path.join(REPO, "assets", "smollm2-135m-instruct.h5")
TOKENIZER = os.path.join(REPO, "assets", "tokenizer.json")

needs_assets = pytest.mark.skipif(
    not os.path.exists(MODEL) and os.environ.get("TTL_REQUIRE_ASSETS") != "1",
    reason="run scripts/setup.sh first")


def run_import(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "scripts", "import_gguf.py"), *args],
                          capture_output=True, text=True)


def test_unpermute_inverts_llama_cpp_permutation():
    heads, head_dim, width = 3, 8, 5
    hf = np.arange(heads * head_dim * width, dtype=np.float32).reshape(heads * head_dim, width)
    gguf_layout = import_gguf.permute_rows(hf, heads)
    # llama.cpp interleaves the two halves of each head: row 2i of a head came from HF row i,
    # row 2i+1 from HF row i + head_dim/2, so its adjacent-pair RoPE equals HF's rotate-half.
    assert np.array_equal(gguf_layout[0], hf[0]) and np.array_equal(gguf_layout[1], hf[head_dim // 2])
    assert np.array_equal(gguf_layout[head_dim + 3], hf[head_dim + head_dim // 2 + 1])
    assert np.array_equal(import_gguf.unpermute_rows(gguf_layout, heads), hf)


@needs_assets
def test_config_matches_gguf_metadata():
    reader = gguf.GGUFReader(GGUF)
    meta = {key: reader.fields[key].contents() for key in reader.fields if key.startswith("llama.")}
    with h5py.File(MODEL, "r") as f:
        attrs = dict(f.attrs)
    assert attrs["format"] == "ttl-train-model" and attrs["format_version"] == 1
    assert attrs["architecture"] == reader.fields["general.architecture"].contents() == "llama"
    assert attrs["num_hidden_layers"] == meta["llama.block_count"] == 30
    assert attrs["hidden_size"] == meta["llama.embedding_length"] == 576
    assert attrs["intermediate_size"] == meta["llama.feed_forward_length"] == 1536
    assert attrs["num_attention_heads"] == meta["llama.attention.head_count"] == 9
    assert attrs["num_key_value_heads"] == meta["llama.attention.head_count_kv"] == 3
    assert attrs["head_dim"] == meta["llama.rope.dimension_count"] == 64
    assert attrs["vocab_size"] == meta["llama.vocab_size"] == 49152
    assert attrs["max_position_embeddings"] == meta["llama.context_length"] == 8192
    assert attrs["rope_theta"] == meta["llama.rope.freq_base"] == 100000.0
    assert attrs["rms_norm_eps"] == meta["llama.attention.layer_norm_rms_epsilon"]
    assert attrs["tie_word_embeddings"] == 1 and "lm_head" not in h5py.File(MODEL, "r")
    assert attrs["bos_token_id"] == 1 and attrs["eos_token_id"] == 2


@needs_assets
def test_weights_are_float32_checksummed_and_count_134515008():
    total = 0
    with h5py.File(MODEL, "r") as f:
        def visit(name, obj):
            nonlocal total
            if isinstance(obj, h5py.Dataset):
                assert obj.dtype == np.float32 and obj.fletcher32, name
                total += obj.size
        f.visititems(visit)
    assert total == 134_515_008


@needs_assets
def test_fingerprint_is_stable_across_imports_and_matches_the_data(tmp_path):
    again = tmp_path / "again.h5"
    result = run_import(GGUF, "--dtype", "f32", "--out", str(again))
    assert result.returncode == 0, result.stderr
    with h5py.File(MODEL, "r") as first, h5py.File(again, "r") as second:
        assert first.attrs["fingerprint"] == second.attrs["fingerprint"]
        weights = {}
        second.visititems(lambda name, obj: weights.__setitem__(name.replace("/", "."), obj[()])
                          if isinstance(obj, h5py.Dataset) else None)
        assert import_gguf.fingerprint(weights) == second.attrs["fingerprint"]


@needs_assets
def test_tokenizer_round_trips_and_keeps_special_tokens():
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(TOKENIZER)
    for text in ["The capital of Italy is Rome.", "Prices rose 12.5% in 2024 — “quoted” ünïcode ✓\n\ttabs"]:
        assert tokenizer.decode(tokenizer.encode(text).ids) == text
    chat = tokenizer.encode("<|im_start|>user\nHi<|im_end|>")
    assert chat.ids[0] == 1 and chat.ids[-1] == 2
    assert tokenizer.encode("2024").tokens == ["2", "0", "2", "4"]
    assert tokenizer.token_to_id("<|endoftext|>") == 0


def test_unsupported_architecture_is_refused_in_one_line(tmp_path):
    path = tmp_path / "gpt2.gguf"
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    result = run_import(str(path), "--out", str(tmp_path / "out.h5"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "architecture 'gpt2' is not supported" in result.stderr
    assert not (tmp_path / "out.h5").exists()


def test_missing_and_foreign_inputs_are_refused_in_one_line(tmp_path):
    missing = run_import(str(tmp_path / "absent.gguf"), "--out", str(tmp_path / "out.h5"))
    assert missing.returncode == 1 and "no such file" in missing.stderr and missing.stderr.count("\n") == 1
    text = tmp_path / "text.gguf"
    text.write_text("not a model")
    foreign = run_import(str(text), "--out", str(tmp_path / "out.h5"))
    assert foreign.returncode == 1 and "not a readable GGUF file" in foreign.stderr
    assert foreign.stderr.count("\n") == 1
