#!/usr/bin/env bash
# The quickstart: sets up the machine (idempotent), builds ttl-train in release mode, checks the
# real model, then on 2 ranks measures the base model's zero-shot accuracy on movie-review
# sentiment, trains a TT-LoRA adapter for 36 steps (jobs/quickstart.yaml, a fresh run each time),
# and prints the accuracy before and after and where the files are.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

scripts/setup.sh
echo "==> building ttl-train (release)"
swift build -c release --product ttl-train 2>&1 | grep -E "error|Build of product" || true
bin=$(swift build -c release --show-bin-path)/ttl-train
[ -x "$bin" ] || { echo "run.sh: build failed: $bin is missing" >&2; exit 1; }
model=assets/smollm2-135m-instruct-q4_1.h5
job=jobs/quickstart.yaml
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi() { mpirun -np 2 --bind-to none "$bin" "$@"; }

echo "==> ttl-train info --model $model --verify"
"$bin" info --model "$model" --verify | grep -E "^(parameters|weight_storage|weight_bytes|fingerprint)"

echo "==> zero-shot: the base model alone on 128 validation reviews"
# Captured, then printed: `tee /dev/stderr` would reopen (and truncate) a stderr redirected to a
# file, as in `scripts/run.sh > run.log 2>&1`.
zero_shot_output=$(mpi eval "$job" --zero-shot --examples 128)
echo "$zero_shot_output"
zero_shot=$(sed -n 's/^accuracy=//p' <<< "$zero_shot_output")

echo "==> mpirun -np 2 ttl-train $job   (TT-LoRA r 4 on q_proj, v_proj: 34,560 trainable parameters)"
rm -rf runs/quickstart
mkdir -p runs/quickstart
mpi train "$job" | tee runs/quickstart/train.log
trained=$(sed -n 's/^eval step .*accuracy \([0-9.]*\).*/\1/p' runs/quickstart/train.log | tail -1)

echo
echo "accuracy on 128 validation reviews: zero-shot $zero_shot, after 36 TT-LoRA steps $trained"
echo "files: runs/quickstart/metrics.h5 (h5py, pandas), runs/quickstart/checkpoints/ (ttl-train inspect), runs/quickstart/train.log"
echo "run.sh: $((SECONDS - started)) s"
