"""`ttl-train tokenize` (the Swift byte-level BPE) against the `tokenizers` library on every text of
the three data sets (movie reviews, BBC News articles, chit-chat turns — the raw texts
scripts/prepare_data.py reads, and their prompts), plus edge cases: the same ids for every text,
and `--decode` gives back the text. Then `ttl-train generate` on the real model: the capital of
Italy is " Rome", --chat rendered with the model's chat template, and greedy decoding through the KV cache
equals the argmax of the full forward (ttl-train perplexity) at every step."""
import json
import os
import subprocess
import sys

import pytest
from tokenizers import Tokenizer

from test_parity import MODEL, REPO, TOKENIZER, TTL_TRAIN, key_values, needs_binary, ttl_train, write_ids

sys.path.insert(0, os.path.join(REPO, "scripts"))
import prepare_data  # noqa: E402

EDGE_CASES = [
    "", " ", "  ", "\n", "\n\n", " \n ", "\t\tx", "a  b   c", "trailing   ", "   leading", "x\r\ny", "\u00a0non-breaking\u00a0space",
    "don't I'm we're they've she'll he'd it's 'S 'T", "''quoted''", "Ünïcödé café naïve", "日本語のテキスト", "한국어 텍스트",
    "emoji 👍🏽👨‍👩‍👧 done", "Ελληνικά και Русский", "numbers 1234567890 and 3.14159 and ١٢٣ and ½ ⅓ Ⅻ",
    "mixed123abc456", "   123", "tabs\tand\u2003em spaces\u3000ideographic", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "a<|im_end|>b<|endoftext|>c", "<|im_start|", "punctuation!!! ??? ... ---", "line\u2028separator", "zero\u200bwidth",
    "combining e\u0301 and \u0301alone", "\u0000nul\u0001controls\u007f", "x" * 300, "word " * 200,
]


def texts():
    reviews = [text for text, _ in prepare_data.movie_reviews()]
    articles = [f"{headline}\n{body}" for _, headline, body in prepare_data.news_articles()]
    turns = [text for conversation in prepare_data.conversations() for _, text in conversation]
    prompts = [("<|im_start|>user\nIs this movie review positive or negative?\n" + text + "<|im_end|>\n<|im_start|>assistant\n")
               for text in reviews[:500]]
    return reviews + articles + turns + prompts + EDGE_CASES


@needs_binary
def test_every_data_set_text_tokenizes_as_the_tokenizers_library_does(tmp_path):
    corpus = texts()
    assert len(corpus) > 100_000
    lines = tmp_path / "texts.jsonl"
    lines.write_text("".join(json.dumps(text) + "\n" for text in corpus))
    run = ttl_train("tokenize", "--tokenizer", TOKENIZER, "--lines", str(lines))
    assert run.returncode == 0, run.stderr
    ours = run.stdout.split("\n")[:-1]
    reference = Tokenizer.from_file(TOKENIZER)
    expected = [" ".join(map(str, encoding.ids)) for encoding in reference.encode_batch(corpus)]
    assert len(ours) == len(expected)
    mismatches = [(text, mine, theirs) for text, mine, theirs in zip(corpus, ours, expected) if mine != theirs]
    assert not mismatches, mismatches[:3]


@needs_binary
def test_decode_gives_back_the_text(tmp_path):
    reference = Tokenizer.from_file(TOKENIZER)
    for text in EDGE_CASES[1:] + [prepare_data.movie_reviews()[0][0]]:
        ids = reference.encode(text).ids
        # Bytes, not text mode: universal newlines would turn the decoded "\r\n" into "\n".
        run = subprocess.run([TTL_TRAIN, "tokenize", "--tokenizer", TOKENIZER, "--decode", write_ids(tmp_path / "ids.txt", ids)],
                             capture_output=True)
        assert run.returncode == 0, run.stderr
        assert run.stdout.decode("utf-8") == reference.decode(ids, skip_special_tokens=False), text


@needs_binary
def test_generate_says_rome_and_the_cache_matches_the_full_forward(tmp_path):
    prompt = "The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is"
    run = ttl_train("generate", "--model", MODEL, "--prompt", prompt, "--max-tokens", "8", "--ids-out", "-")
    assert run.returncode == 0, run.stderr
    text, ids = run.stdout.rsplit("\n", 2)[0], [int(i) for i in run.stdout.strip().split("\n")[-1].split()]
    assert text.startswith(" Rome"), text
    assert "tokens/s" in run.stderr
    reference = Tokenizer.from_file(TOKENIZER)
    assert reference.decode(ids) == text
    # Greedy: every generated token is the argmax of the full forward over prompt + tokens so far.
    context = reference.encode(prompt).ids
    for token in ids:
        full = ttl_train("perplexity", "--model", MODEL, "--ids", write_ids(tmp_path / "context.ids", context))
        assert full.returncode == 0, full.stderr
        assert int(key_values(full.stdout)["top5"].split(",")[0]) == token
        context.append(token)


@needs_binary
def test_chat_renders_the_models_template_and_stops_at_the_end_of_the_turn():
    run = ttl_train("generate", "--model", MODEL, "--chat", "What is the capital of Italy? Answer in one word.", "--max-tokens", "40",
                    "--ids-out", "-")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().split("\n")
    ids = [int(i) for i in lines[-1].split()]
    assert "Rome" in "\n".join(lines[:-1])
    assert len(ids) < 40, "stops at <|im_end|> before the limit"


@needs_binary
def test_generate_refuses_bad_requests_in_one_line(tmp_path):
    for args, message in [(["--prompt", "x", "--chat", "y"], "give one of --prompt and --chat"),
                          (["--prompt", "x", "--top-p", "0"], "--top-p must be in (0, 1]"),
                          (["--prompt", "x", "--tokenizer", str(tmp_path / "none.json")], "none.json: no such tokenizer file"),
                          (["--prompt", "x", "--checkpoint", str(tmp_path / "none.h5")], "none.h5")]:
        run = ttl_train("generate", "--model", MODEL, *args)
        assert run.returncode != 0 and message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr



@needs_binary
def test_generate_takes_the_largest_max_tokens_without_overflow():
    run = ttl_train("generate", "--model", MODEL, "--chat", "Say hi.", "--max-tokens", "9223372036854775807",
                    "--ids-out", "-")
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.strip().splitlines()[-1].split()) < 8192


@needs_binary
def test_a_tokenizer_the_model_was_not_made_with_is_refused(tmp_path):
    """The model records its tokenizer's sha256; a foreign one (here the same JSON with a vocabulary
    entry's id swapped) gives valid ids that mean other text, so every command refuses it."""
    tokenizer = json.load(open(TOKENIZER, encoding="utf-8"))
    vocab = tokenizer["model"]["vocab"]
    vocab["the"], vocab["The"] = vocab["The"], vocab["the"]
    foreign = tmp_path / "tokenizer.json"
    foreign.write_text(json.dumps(tokenizer))
    text = tmp_path / "text.txt"
    text.write_text("The capital of Italy is Rome.")
    (tmp_path / "chat.jsonl").write_text('{"text": "hello"}\n')
    for args in [["generate", "--model", MODEL, "--prompt", "x", "--tokenizer", str(foreign)],
                 ["perplexity", "--model", MODEL, "--text", str(text), "--tokenizer", str(foreign)],
                 ["data", "import", str(tmp_path / "chat.jsonl"), "--model", MODEL, "--out", str(tmp_path / "d.h5"),
                  "--tokenizer", str(foreign)]]:
        run = ttl_train(*args)
        assert run.returncode == 1, (args, run.stderr)
        assert run.stderr.strip().splitlines() == [f"Error: {foreign}: is not the tokenizer {MODEL} was made with "
                                                   f"({run.stderr.split('(')[1].split(')')[0]}); pass the model's own "
                                                   f"with --tokenizer"], run.stderr
        assert "sha256:" in run.stderr


LLAMA3_SPLIT = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")


@needs_binary
@pytest.mark.parametrize("family", ["llama3", "qwen2"])
def test_llama3_and_qwen2_tokenizers_tokenize_as_the_tokenizers_library_does(tmp_path, family):
    """SmolLM2's vocabulary and merges under Llama 3's tokenizer settings (the Split regex, numbers
    in runs of 3, `ignore_merges`) and Qwen2's (numbers one by one, an NFC normalizer), written as
    tokenizer.json and read by both sides: the same ids for every text of the corpus."""
    config = json.loads(open(TOKENIZER, encoding="utf-8").read())
    split = LLAMA3_SPLIT if family == "llama3" else LLAMA3_SPLIT.replace("\\p{N}{1,3}", "\\p{N}")
    config["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": split}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    if family == "llama3":
        config["model"]["ignore_merges"] = True
    else:
        config["normalizer"] = {"type": "NFC"}
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(config))
    corpus = texts()[::7] + EDGE_CASES + ["12345678 9", "a\n\n\nb", "x \n y", "e\u0301\u0327 Å "
        "A\u030a", "'S'LL'Ve!\r\n\r\n"]
    lines = tmp_path / "texts.jsonl"
    lines.write_text("".join(json.dumps(text) + "\n" for text in corpus))
    run = ttl_train("tokenize", "--tokenizer", str(path), "--lines", str(lines))
    assert run.returncode == 0, run.stderr
    ours = run.stdout.split("\n")[:-1]
    expected = [" ".join(map(str, e.ids)) for e in Tokenizer.from_file(str(path)).encode_batch(corpus)]
    mismatches = [(text, mine, theirs) for text, mine, theirs in zip(corpus, ours, expected) if mine != theirs]
    assert len(ours) == len(expected) and not mismatches, mismatches[:3]
