#!/usr/bin/env bash
# Sets up the machine (idempotent), builds ttl-train in release mode and shows what it reads from
# the real imported model: config, parameter count, fingerprint (recomputed and checked).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "==> building ttl-train (release)"
swift build -c release --product ttl-train 2>&1 | grep -E "error|warning: unre|Compiling|Build complete" | tail -3 || true
bin=$(swift build -c release --show-bin-path)/ttl-train
[ -x "$bin" ] || { echo "run.sh: build failed: $bin is missing" >&2; exit 1; }

echo "==> $bin info --model assets/smollm2-135m-instruct.h5 --verify"
"$bin" info --model assets/smollm2-135m-instruct.h5 --verify
