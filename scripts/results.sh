#!/usr/bin/env bash
# The README's results table, reproduced: trains the four sentiment jobs on 2 ranks (or continues
# them with --resume auto, so a finished run is not repeated), evaluates the base model alone
# (zero-shot) and each trained adapter on the test split (1,057 reviews), times 6 training steps
# of each job on an idle machine, prints a markdown table, and redraws the README's plots
# (docs/analysis/, by scripts/analyze.py).
#
#   scripts/results.sh            (RANKS=2 SPLIT=test; about 50 minutes on 2 cores)
source "$(dirname "$0")/experiment.sh"

jobs=(lora ttlora sparse-lora dora)
out=runs/results
mkdir -p "$out"

for job in "${jobs[@]}"; do
  mpi train "jobs/sentiment-$job.yaml" --resume auto >"$out/train-$job.log"
  mpi eval "jobs/sentiment-$job.yaml" --split "$split" >"$out/eval-$job.txt"
  "$bin" validate "jobs/sentiment-$job.yaml" >"$out/validate-$job.txt"
  mpi train "jobs/sentiment-$job.yaml" --set schedule.total_steps=6 --set schedule.warmup_steps=1 --set eval.every=1000 --set eval.examples=4 \
    --set checkpoint.every=1000 --set output="$out/timing-$job" >/dev/null
done
mpi eval jobs/sentiment-lora.yaml --zero-shot --split "$split" >"$out/eval-zero-shot.txt"

.venv/bin/python - "$out" "$ranks" "${jobs[@]}" <<'PY'
import shutil, statistics, sys
import h5py

out, ranks, jobs = sys.argv[1], sys.argv[2], sys.argv[3:]
def values(path):
    return dict(line.split("=", 1) for line in open(path).read().splitlines() if "=" in line)
names = {"lora": "LoRA r 8", "ttlora": "TT-LoRA r 4", "sparse-lora": "sparse LoRA r 8, 80 %", "dora": "DoRA r 8"}
zero = values(f"{out}/eval-zero-shot.txt")
print(f"| method | {zero['split']} accuracy ({zero['examples']} reviews) | {zero['split']} loss | trainable parameters | bytes all-reduced per step | training tokens/s ({ranks} ranks) |")
print("|---|---|---|---|---|---|")
print(f"| zero-shot (no adapter) | {float(zero['accuracy']):.4f} | {float(zero['loss']):.3f} | 0 | 0 | – |")
for job in jobs:
    evaluation, validate = values(f"{out}/eval-{job}.txt"), values(f"{out}/validate-{job}.txt")
    with h5py.File(f"{out}/timing-{job}/metrics.h5", "r") as f:
        rate = statistics.median(f["train/tokens_per_s"][1:])
    shutil.rmtree(f"{out}/timing-{job}")
    print(f"| {names[job]} | {float(evaluation['accuracy']):.4f} | {float(evaluation['loss']):.3f} | "
          f"{int(validate['trainable_parameters']):,} | {int(validate['reduced_bytes_per_step']):,} | {rate:.0f} |")
PY
.venv/bin/python scripts/analyze.py runs/sentiment-lora runs/sentiment-ttlora runs/sentiment-sparse-lora --out docs/analysis >/dev/null
