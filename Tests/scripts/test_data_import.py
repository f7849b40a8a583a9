"""`ttl-train data import` against an independent reference written the usual Python way: the
conversation rendered with jinja2 configured as transformers configures it (the renderer of
Tests/JinjaTests/render_reference.py), tokenized by the `tokenizers` library with its offsets,
and the assistant's tokens found as transformers-based trainers find them — the end of the
conversation before a turn rendered with the generation prompt, the end of the conversation
through it — each turn supervised through its last special token. Every token and every mask
bit of every split must agree, for the four shapes and the three train-on rules."""
import json
import os

import h5py
import pytest
from tokenizers import Tokenizer

from test_parity import MODEL, REPO, TOKENIZER, needs_binary, ttl_train

TEMPLATE_CONFIG = os.path.join(os.path.dirname(TOKENIZER), "tokenizer_config.json")

CONVERSATIONS = [
    [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello. How can I help?"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant",
                                                                                       "content": "4"}],
    [{"role": "user", "content": "Grüße 你好 🌍"}, {"role": "assistant", "content": "Ça va? 😀"},
     {"role": "user", "content": "and then?"}, {"role": "assistant", "content": "  spaced  \n"}],
    [{"role": "user", "content": ""}, {"role": "assistant", "content": ""}],
    [{"role": "user", "content": "a <|im_end|> inside"}, {"role": "assistant", "content": "b\n\nc"}],
]


def environment():
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.globals["raise_exception"] = raise_exception
    return env


def reference(example, config, tokenizer, train_on):
    """(tokens, mask) of one JSON line, computed independently of ttl-train."""
    template = environment().from_string(config["chat_template"])
    special = {"bos_token": config["bos_token"], "eos_token": config["eos_token"]}

    def render(messages, prompt):
        return template.render(messages=messages, add_generation_prompt=prompt, **special)

    turns = True
    if "messages" in example or "instruction" in example:
        messages = example.get("messages") or [
            {"role": "user",
             "content": example["instruction"] + ("\n\n" + example["input"] if example.get("input") else "")},
            {"role": "assistant", "content": example["output"]}]
        text = render(messages, False)
        assistant = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        if train_on == "last":
            assistant = assistant[-1:]
        spans = [(len(render(messages[:i], True).encode()), len(render(messages[:i + 1],
                                                                       False).encode())) for i in assistant]
        if train_on == "all":
            spans, turns = [(0, len(text.encode()))], False
    elif "prompt" in example:
        text = example["prompt"] + example["completion"] + config["eos_token"]
        spans, turns = [(0 if train_on == "all" else len(example["prompt"].encode()), len(text.encode()))], False
    else:
        text = example["text"] + config["eos_token"]
        spans, turns = [(0, len(text.encode()))], False
    encoding = tokenizer.encode(text, add_special_tokens=False)
    # tokenizers' offsets are in characters; ttl-train marks by UTF-8 bytes.
    starts = [len(text[:start].encode()) for start, _ in encoding.offsets]
    specials = {tokenizer.token_to_id(t) for t in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]}
    mask = [0] * len(encoding.ids)
    for low, high in spans:
        inside = [i for i, s in enumerate(starts) if low <= s < high]
        if turns:
            last = max((k for k, i in enumerate(inside) if encoding.ids[i] in specials), default=None)
            if last is not None:
                inside = inside[:last + 1]
        for i in inside:
            mask[i] = 1
    mask[0] = 0
    return encoding.ids, mask


def write(path, lines):
    with open(path, "w", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")


SHAPES = {
    "chat": [{"messages": m} for m in CONVERSATIONS],
    "completions": [{"prompt": "Q: capital of "
        "Italy?\nA:", "completion": " Rome"}, {"prompt": "", "completion": "all of it"},
                    {"prompt": "ünï ", "completion": "cödé\n"}],
    "text": [{"text": "Plain text, every token learned."}, {"text": "x"}, {"text": "line\nbreaks\n\nhere 123"}],
    "alpaca": [{"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
               {"instruction": "Say hi.", "input": "", "output": "Hi!"}],
}


@needs_binary
@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("train_on", ["assistant", "all", "last"])
def test_import_matches_the_python_reference(tmp_path, shape, train_on):
    directory = tmp_path / "data"
    directory.mkdir()
    lines = SHAPES[shape]
    write(directory / "train.jsonl", lines)
    write(directory / "valid.jsonl", lines[:1])
    out = tmp_path / "data.h5"
    run = ttl_train("data", "import", str(directory), "--model", MODEL, "--out", str(out), "--train-on", train_on)
    assert run.returncode == 0, run.stderr
    config = json.load(open(TEMPLATE_CONFIG, encoding="utf-8"))
    tokenizer = Tokenizer.from_file(TOKENIZER)
    with h5py.File(out) as f:
        assert f.attrs["format"] == "ttl-train-dataset" and f.attrs["task"] == "lm"
        assert f.attrs["train_on"] == train_on and f.attrs["data_format"] == shape
        for split, expected_lines in [("train", lines), ("validation", lines[:1])]:
            tokens, offsets, mask = f[split]["tokens"][:], f[split]["offsets"][:], f[split]["loss_mask"][:]
            assert len(offsets) == len(expected_lines) + 1
            for index, line in enumerate(expected_lines):
                ids, bits = reference(line, config, tokenizer, train_on)
                got = slice(offsets[index], offsets[index + 1])
                assert list(tokens[got]) == ids, (split, index)
                assert list(mask[got]) == bits, (split, index, tokenizer.decode(ids, skip_special_tokens=False))


@needs_binary
def test_truncation_keeps_the_last_tokens_and_is_counted(tmp_path):
    lines = [{"text": "word " * 50}, {"text": "short"}] * 5
    write(tmp_path / "data.jsonl", lines)
    out = tmp_path / "data.h5"
    run = ttl_train("data", "import", str(tmp_path / "data.jsonl"), "--model", MODEL, "--out", str(out), "--max-length",
                    "20",
                    "--truncate", "--split", "60/40/0", "--seed", "7")
    assert run.returncode == 0, run.stderr
    config = json.load(open(TEMPLATE_CONFIG, encoding="utf-8"))
    tokenizer = Tokenizer.from_file(TOKENIZER)
    long_ids, long_mask = reference(lines[0], config, tokenizer, "assistant")
    truncated = 0
    with h5py.File(out) as f:
        assert sorted(f.keys()) == ["train", "validation"]
        assert f.attrs["split_seed"] == 7 and f.attrs["max_length"] == 20
        for split in f:
            offsets, tokens, mask = f[split]["offsets"][:], f[split]["tokens"][:], f[split]["loss_mask"][:]
            truncated += int(f[split].attrs["truncated_examples"])
            for index in range(len(offsets) - 1):
                got = slice(offsets[index], offsets[index + 1])
                if offsets[index + 1] - offsets[index] == 20:
                    assert list(tokens[got]) == long_ids[-20:]
                    assert list(mask[got]) == [0] + long_mask[-19:]
    assert truncated == 5
    split_lines = [line for line in run.stdout.splitlines() if line.startswith(("train:", "validation:"))]
    assert sum(int(line.split("; ")[-1].split()[0]) for line in split_lines) == 5
