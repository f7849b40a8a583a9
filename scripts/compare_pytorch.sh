#!/usr/bin/env bash
# ttl-train against PyTorch + PEFT, side by side on this machine: the same weights (the Hugging
# Face model is built from ttl-train's HDF5 file), the same shapes, threads and data.
#
#   scripts/compare_pytorch.sh          (ROUNDS=3 SECONDS_EACH=8; about 20 minutes, plus the venv once)
#   ISA=avx2 scripts/compare_pytorch.sh both tools held to AVX2, as on a CPU without AVX-512:
#                                       ttl-train by TTL_TRAIN_MAX_ISA, PyTorch by ATEN_CPU_CAPABILITY,
#                                       MKL_ENABLE_INSTRUCTIONS and ONEDNN_MAX_CPU_ISA
#
# Optional, not part of scripts/test.sh: it makes its own .venv-peer with torch, transformers and
# peft from PyPI (a few GB: PyPI's torch wheel is the CUDA build). Each measurement runs ROUNDS
# times, the two tools alternating so that a machine that speeds up or slows down (a shared VM
# does) affects both alike; the medians are printed as a table with the CPU and BLAS kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product ttl-train >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
case "${ISA:-}" in
  "") ;;
  avx2) export TTL_TRAIN_MAX_ISA=avx2 ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ;;
  avx512) export TTL_TRAIN_MAX_ISA=avx512 ATEN_CPU_CAPABILITY=avx512 MKL_ENABLE_INSTRUCTIONS=AVX512 ONEDNN_MAX_CPU_ISA=AVX512_CORE ;;
  *) echo "compare_pytorch: ISA=$ISA: use avx2 or avx512 (or leave it unset for the CPU's best)" >&2; exit 2 ;;
esac

scripts/peer_venv.sh
peer=.venv-peer

bin=.build/release/ttl-train
model=assets/smollm2-135m-instruct.h5
# The GGUF's own blocks: they decode to exactly the float32 weights of $model.
quantized=assets/smollm2-135m-instruct-q4_1.h5
data=assets/data/sentiment.h5
job=jobs/sentiment-lora.yaml
rounds=${ROUNDS:-3}
seconds=${SECONDS_EACH:-8}
steps=12
prompt="The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is"
global=$("$bin" validate "$job" | sed -n 's/^batch.global=//p')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
peer_run() { "$peer/bin/python" -W ignore scripts/compare_pytorch.py "$model" "$@" 2>/dev/null; }
value() { sed -n "s/^$1=//p"; }

"$bin" info >"$work/info.txt"
"$peer/bin/python" -c "import torch; print('peer_cpu_capability=' + torch.backends.cpu.get_cpu_capability())" >>"$work/info.txt"
for round in $(seq "$rounds"); do
  echo "compare_pytorch: round $round of $rounds" >&2
  for threads in 1 2; do
    ours=$("$bin" bench --model "$model" --threads "$threads" --seconds "$seconds" --adapter lora)
    echo "ours forward $threads $(value forward_tokens_per_s <<<"$ours")" >>"$work/results"
    echo "ours train $threads $(value adapted_train_tokens_per_s <<<"$ours")" >>"$work/results"
    theirs=$(peer_run bench --threads "$threads" --seconds "$seconds")
    echo "peer forward $threads $(value forward_tokens_per_s <<<"$theirs")" >>"$work/results"
    echo "peer train $threads $(value adapted_train_tokens_per_s <<<"$theirs")" >>"$work/results"
  done
  rm -rf "$work/run"
  mpirun -np 2 --bind-to none "$bin" train "$job" --threads 1 --set schedule.total_steps="$steps" \
    --set schedule.warmup_steps=1 --set eval.every=100000 --set checkpoint.every=100000 --set output="$work/run" >/dev/null
  .venv/bin/python -c "
import h5py, statistics
with h5py.File('$work/run/metrics.h5', 'r') as f:
    print('ours job 2', $global / statistics.median(f['train/seconds'][1:]))" >>"$work/results"
  echo "peer job 2 $(peer_run train --data "$data" --threads 2 --steps "$steps" --global "$global" | value examples_per_s)" >>"$work/results"
  ours=$(mpirun -np 2 --bind-to none "$bin" eval "$job" --zero-shot --examples 256)
  echo "ours eval 2 $(value examples_per_s <<<"$ours")" >>"$work/results"
  echo "peer eval 2 $(peer_run eval --data "$data" --threads 2 --examples 256 | value examples_per_s)" >>"$work/results"
  for threads in 1 2; do
    theirs=$(peer_run generate --threads "$threads" --prompt "$prompt" | value tokens_per_s)
    for file in "$model" "$quantized"; do
      ours=$("$bin" generate --model "$file" --prompt "$prompt" --max-tokens 64 --threads "$threads" 2>&1 >/dev/null | sed -n 's/.*, \([0-9.]*\) tokens\/s$/\1/p')
      what=$([ "$file" = "$model" ] && echo generate || echo generate_q4_1)
      echo "ours $what $threads $ours" >>"$work/results"
      echo "peer $what $threads $theirs" >>"$work/results"
    done
  done
done

.venv/bin/python - "$work/results" "$work/info.txt" "$rounds" <<'PY'
import collections, statistics, sys

rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    tool, what, threads, number = line.split()
    rows[(what, threads, tool)].append(float(number))
info = dict(line.strip().split("=", 1) for line in open(sys.argv[2]) if "=" in line)
print(f"CPU: {info['cpu']} ({info['cpu_features']}); ttl-train: OpenBLAS core {info['blas_core']} "
      f"(chosen by {info['blas_core_chosen_by']}), kernel path {info['kernel_path']} (chosen by {info['kernel_path_chosen_by']}); "
      f"PyTorch: CPU capability {info['peer_cpu_capability']}; medians of {sys.argv[3]} rounds")
print()
print("| measurement | threads | PyTorch + PEFT | ttl-train | ttl-train / PyTorch | goal |")
print("|---|---|---|---|---|---|")
names = {
    "forward": ("forward tokens/s, batch 4 × 128, full logits", "≥ 1.2×"),
    "train": ("LoRA r 8 q,v train tokens/s, batch 4 × 128", "≥ 1.3×"),
    "job": ("sentiment LoRA job examples/s (ttl-train: 2 ranks × 1 thread)", "≥ 1.6×"),
    "eval": ("classification eval examples/s, 256 reviews (ttl-train: 2 ranks)", "≥ 2×"),
    "generate": ("greedy generation tokens/s with KV cache, after the prompt", "≥ 1.5×"),
    "generate_q4_1": ("the same, ttl-train reading the Q4_1 blocks (the same weights)", "≥ 1.5×"),
}
for what in ["forward", "train", "job", "eval", "generate", "generate_q4_1"]:
    for threads in ["1", "2"]:
        if (what, threads, "ours") not in rows:
            continue
        ours, peer = statistics.median(rows[(what, threads, "ours")]), statistics.median(rows[(what, threads, "peer")])
        label, goal = names[what]
        print(f"| {label} | {threads} | {peer:.2f} | {ours:.2f} | {ours / peer:.2f}× | {goal} |")
PY
