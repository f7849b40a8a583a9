#!/usr/bin/env bash
# The families at their real sizes (optional, not part of scripts/test.sh; ~15 min): makes
# random-weight q4_0 models of Llama-3.2-1B/3B, Qwen2.5-0.5B/1.5B and Qwen3-0.6B shape in
# assets/scale/ (scripts/make_model.py), checks each with `info --verify`, and trains LoRA r 8 on
# q, v for 2 real steps on 2 ranks (`mpirun -np 2`, the base shared once per node, activations
# recomputed, the movie-review data at micro 1 × 96). Prints parameters, validate's per-node estimate, the run's
# wall time and largest rank RSS, and the step-2 loss. The weights are noise: memory and speed only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
swift build -c release --product ttl-train 2>&1 | grep -E "error|Build of product" || true
bin=$(swift build -c release --show-bin-path)/ttl-train
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p assets/scale runs/scale-families

printf '%-14s %14s %16s %10s %14s %10s\n' shape parameters node_estimate_mb wall_s max_rank_rss_mb loss_2
for shape in qwen2.5-0.5b qwen3-0.6b llama3.2-1b qwen2.5-1.5b llama3.2-3b; do
  model=assets/scale/$shape-q4_0.h5
  [ -f "$model" ] || .venv/bin/python scripts/make_model.py --shape "$shape" --dtype q4_0 --out "$model" >/dev/null
  "$bin" info --model "$model" --verify | grep -q '^fingerprint_verified=true$'
  job=runs/scale-families/$shape.yaml
  sed -e "s|^name: .*|name: scale-$shape|" -e "s|^model: .*|model: $model|" -e "s|total_steps: 3|total_steps: 2|" \
      -e "s|every: 3|every: 2|" -e "s|^output: .*|output: runs/scale-families/$shape|" \
      jobs/scale-llama3-8b.yaml > "$job"
  rm -rf "runs/scale-families/$shape"
  estimate=$("$bin" validate "$job" 2>/dev/null | sed -n 's/^memory_per_node_mb_2=//p')
  start=$(date +%s.%N)
  /usr/bin/time -o runs/scale-families/$shape.time -f "%M" \
    mpirun -np 2 --bind-to none "$bin" train "$job" > runs/scale-families/$shape.log
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  loss=$(.venv/bin/python -c "import h5py,sys; f=h5py.File(sys.argv[1]); print(f'{f[\"train/loss\"][-1]:.4f}')" \
         "runs/scale-families/$shape/metrics.h5")
  printf '%-14s %14s %16s %10.1f %14s %10s\n' "$shape" \
    "$("$bin" info --model "$model" | sed -n 's/^parameters=//p')" "${estimate:-?}" "$wall" \
    "$(( $(tail -1 runs/scale-families/$shape.time) / 1024 ))" "$loss"
done
