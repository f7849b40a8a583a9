"""scripts/prepare_data.py on the real movie-review data (the vadersentiment sdist is cached in
assets/downloads by scripts/setup.sh)."""
import os
import subprocess
import sys

import h5py
import numpy as np
from tokenizers import Tokenizer

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKENIZER = os.path.join(REPO, "assets", "tokenizer.json")


def prepare(out, seed):
    result = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "prepare_data.py"), "sentiment",
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
