#!/usr/bin/env bash
# Sets up the machine (idempotent), builds ttl-train in release mode and runs it on the real
# model: what it reads from the model file (config, parameter count, fingerprint recomputed and
# checked), then the perplexity of the shipped English sample (samples/english.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "==> building ttl-train (release)"
swift build -c release --product ttl-train 2>&1 | grep -E "error|Build of product" || true
bin=$(swift build -c release --show-bin-path)/ttl-train
[ -x "$bin" ] || { echo "run.sh: build failed: $bin is missing" >&2; exit 1; }
model=assets/smollm2-135m-instruct.h5

echo "==> ttl-train info --model $model --verify"
"$bin" info --model "$model" --verify

echo "==> ttl-train perplexity --model $model --ids assets/english.ids   (samples/english.txt)"
.venv/bin/python scripts/tokenize.py samples/english.txt --tokenizer assets/tokenizer.json --out assets/english.ids >/dev/null
"$bin" perplexity --model "$model" --ids assets/english.ids --threads "$(nproc)"
