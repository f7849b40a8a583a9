#!/usr/bin/env bash
# Data-parallel scaling of the trainer on the real model: training tokens/s with 1 rank × 1 BLAS
# thread against 2 ranks × 1 thread each (same job, same global batch), MFU against the measured
# single-thread sgemm peak, bytes all-reduced per step, and checkpoint write times.
#
#   scripts/bench_scaling.sh [JOB.yaml]      (default jobs/sentiment-lora.yaml; STEPS=8)
#
# Numbers are printed as key=value lines; nothing is asserted (a benchmark, not a test). Run it on
# an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product ttl-train >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

job=${1:-jobs/sentiment-lora.yaml}
steps=${STEPS:-8}
bin=.build/release/ttl-train
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Single-process reference at the data's typical length: sgemm peak and the model's MFU there.
"$bin" bench --model assets/smollm2-135m-instruct.h5 --threads 1 --batch 4 --seq 44 --seconds 3 >"$work/bench.txt"
"$bin" validate "$job" >"$work/validate.txt"
for ranks in 1 2; do
  mpirun -np "$ranks" --bind-to none "$bin" train "$job" --threads 1 \
    --set schedule.total_steps="$steps" --set schedule.warmup_steps=1 --set eval.every=100000 --set eval.examples=4 \
    --set checkpoint.every=2 --set checkpoint.keep=1 --set output="$work/np$ranks" >"$work/np$ranks.log"
done

.venv/bin/python - "$work" "$job" <<'PY'
import re, statistics, sys
import h5py

work, job = sys.argv[1], sys.argv[2]
def values(path):
    return dict(line.split("=", 1) for line in open(path).read().splitlines() if "=" in line)
bench, validate = values(f"{work}/bench.txt"), values(f"{work}/validate.txt")
peak, bench_tps, bench_mfu = float(bench["sgemm_gflops"]), float(bench["train_tokens_per_s"]), float(bench["mfu"])
print(f"job={job}")
print(f"sgemm_gflops_1_thread={peak:.1f}")
rates, checkpoints = {}, []
for ranks in (1, 2):
    with h5py.File(f"{work}/np{ranks}/metrics.h5", "r") as f:
        rates[ranks] = statistics.median(f["train/tokens_per_s"][1:])  # step 1 warms up
    checkpoints += [float(ms) for ms in re.findall(r"checkpoint \S+ \((\d+) ms\)", open(f"{work}/np{ranks}.log").read())]
    # The same FLOPs per token as the bench run, so MFU scales with tokens/s; the peak is per core.
    print(f"tokens_per_s_np{ranks}={rates[ranks]:.1f}")
    print(f"mfu_np{ranks}={bench_mfu * rates[ranks] / bench_tps / ranks:.3f}")
print(f"speedup_np2={rates[2] / rates[1]:.2f}")
print(f"reduced_bytes_per_step={validate['reduced_bytes_per_step']}")
print(f"trainable_parameters={validate['trainable_parameters']}")
print(f"checkpoint_ms_median={statistics.median(checkpoints):.0f}")
print(f"checkpoint_ms_max={max(checkpoints):.0f}")
PY
