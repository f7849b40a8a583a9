#!/usr/bin/env python3
"""Tokenize a UTF-8 text file with the project's tokenizer into whitespace-separated ids.

    tokenize.py TEXT --tokenizer assets/tokenizer.json --out IDS
"""
import argparse
import sys

from tokenizers import Tokenizer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("text")
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    with open(args.text, encoding="utf-8") as handle:
        ids = Tokenizer.from_file(args.tokenizer).encode(handle.read()).ids
    with open(args.out, "w") as handle:
        handle.write(" ".join(map(str, ids)) + "\n")
    print(f"tokens={len(ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
