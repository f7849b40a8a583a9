#!/usr/bin/env python3
"""Turn a real data set into ttl-train's HDF5 token dataset.

    prepare_data.py sentiment --out assets/data/sentiment.h5 [--tokenizer assets/tokenizer.json] [--seed 1234]

sentiment: the 10,605 Rotten Tomatoes snippets of Hutto & Gilbert (ICWSM 2014) shipped in the
vadersentiment 3.3.2 source distribution (fetched from PyPI, cached in assets/downloads), rated
-4…4; the 37 rated exactly 0 are dropped, the rest labelled negative/positive, split 80/10/10 by a
seeded permutation. Each example is a ChatML exchange whose single supervised token is the answer:

    <|im_start|>user\\nIs this movie review positive or negative?\\n{text}<|im_end|>\\n<|im_start|>assistant\\n{answer}

File layout (format "ttl-train-dataset", version 1), per split group /train, /validation, /test:
  tokens (int32, all examples concatenated), offsets (int64, n + 1 starts), loss_mask (uint8, 1
  where a token is a supervised target), labels (int32, index into label_names);
root attributes: format, format_version, task ("classification"), label_names, label_token_ids,
tokenizer_fingerprint (sha256 of tokenizer.json), split_seed, source.
"""
import argparse
import hashlib
import io
import os
import subprocess
import sys
import tarfile

import h5py
import numpy as np
from tokenizers import Tokenizer

FORMAT_NAME = "ttl-train-dataset"
FORMAT_VERSION = 1
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DOWNLOADS = os.path.join(REPO, "assets", "downloads")
SPLITS = (("train", 0.8), ("validation", 0.1), ("test", 0.1))


class DataError(Exception):
    """A problem with the input, reported as one line."""


def fetch_sdist(requirement, filename):
    """The cached source distribution `filename` of `requirement`, downloaded from PyPI once."""
    path = os.path.join(DOWNLOADS, filename)
    if not os.path.exists(path):
        os.makedirs(DOWNLOADS, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                        "--no-binary", ":all:", "-d", DOWNLOADS, requirement], check=True)
    if not os.path.exists(path):
        raise DataError(f"{requirement} did not download as {filename}")
    return path


def movie_reviews():
    """(text, rating) of every snippet, from the vadersentiment sdist."""
    sdist = fetch_sdist("vadersentiment==3.3.2", "vaderSentiment-3.3.2.tar.gz")
    with tarfile.open(sdist) as outer:
        inner_bytes = outer.extractfile("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz").read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        raw = inner.extractfile("hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt").read().decode("utf-8")
    reviews = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise DataError(f"movieReviewSnippets_GroundTruth.txt line {number}: expected id, rating, text")
        reviews.append((parts[2].strip(), float(parts[1])))
    return reviews


def sentiment_examples(tokenizer):
    label_names = ["negative", "positive"]
    label_token_ids = []
    for name in label_names:
        ids = tokenizer.encode(name).ids
        if len(ids) != 1:
            raise DataError(f"answer '{name}' is not a single token")
        label_token_ids.append(ids[0])
    examples = []
    for text, rating in movie_reviews():
        if rating == 0:
            continue
        label = 1 if rating > 0 else 0
        prompt = ("<|im_start|>user\nIs this movie review positive or negative?\n" + text +
                  "<|im_end|>\n<|im_start|>assistant\n")
        tokens = tokenizer.encode(prompt).ids + [label_token_ids[label]]
        mask = [0] * (len(tokens) - 1) + [1]
        examples.append((tokens, mask, label))
    return examples, label_names, label_token_ids, "Hutto & Gilbert (ICWSM 2014) movie review snippets, vadersentiment 3.3.2"


def write_dataset(path, examples, label_names, label_token_ids, source, tokenizer_path, seed):
    order = np.random.default_rng(seed).permutation(len(examples))
    counts = [int(round(fraction * len(examples))) for _, fraction in SPLITS]
    counts[0] = len(examples) - sum(counts[1:])
    with open(tokenizer_path, "rb") as handle:
        tokenizer_fingerprint = "sha256:" + hashlib.sha256(handle.read()).hexdigest()
    temporary = path + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with h5py.File(temporary, "w") as out:
        out.attrs["format"] = FORMAT_NAME
        out.attrs["format_version"] = np.int64(FORMAT_VERSION)
        out.attrs["task"] = "classification"
        out.attrs["label_names"] = label_names
        out.attrs["label_token_ids"] = np.array(label_token_ids, dtype=np.int64)
        out.attrs["tokenizer_fingerprint"] = tokenizer_fingerprint
        out.attrs["split_seed"] = np.int64(seed)
        out.attrs["source"] = source
        start = 0
        for (name, _), count in zip(SPLITS, counts):
            chosen = [examples[i] for i in order[start:start + count]]
            start += count
            lengths = np.array([len(tokens) for tokens, _, _ in chosen], dtype=np.int64)
            group = out.create_group(name)
            group.create_dataset("tokens", data=np.concatenate([t for t, _, _ in chosen]).astype(np.int32), fletcher32=True, chunks=True)
            group.create_dataset("offsets", data=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), fletcher32=True, chunks=True)
            group.create_dataset("loss_mask", data=np.concatenate([m for _, m, _ in chosen]).astype(np.uint8), fletcher32=True, chunks=True)
            group.create_dataset("labels", data=np.array([label for _, _, label in chosen], dtype=np.int32), fletcher32=True, chunks=True)
    os.replace(temporary, path)
    return dict(zip((name for name, _ in SPLITS), counts))


TASKS = {"sentiment": sentiment_examples}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--out", required=True)
    parser.add_argument("--tokenizer", default=os.path.join(REPO, "assets", "tokenizer.json"))
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    try:
        if not os.path.isfile(args.tokenizer):
            raise DataError(f"{args.tokenizer}: no such file (run scripts/setup.sh)")
        tokenizer = Tokenizer.from_file(args.tokenizer)
        examples, label_names, label_token_ids, source = TASKS[args.task](tokenizer)
        counts = write_dataset(args.out, examples, label_names, label_token_ids, source, args.tokenizer, args.seed)
    except DataError as error:
        print(f"prepare_data: {error}", file=sys.stderr)
        return 1
    print(" ".join(f"{name}={count}" for name, count in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
