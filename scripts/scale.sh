#!/usr/bin/env bash
# Real model sizes on this machine (optional, not part of scripts/test.sh; ~30 min): makes
# random-weight models of SmolLM2-360M, SmolLM2-1.7B and Llama-3-8B shape in assets/scale/
# (scripts/make_model.py; f32 and q4_0, the 8B one q4_0 only), measures for each under
# `mpirun -np 2` what a node needs and how fast it trains LoRA r 8 on q, v at micro 4 × 128
# (ttl-train bench: pss_mb = the two ranks' proportional set sizes summed, the shared base counted
# once; adapted train tokens/s per rank), with and without activation recomputation, then trains
# jobs/scale-llama3-8b.yaml for 3 real steps on 2 ranks. The weights are noise: memory and speed only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product ttl-train 2>&1 | grep -E "error|Build of product" || true
bin=$(swift build -c release --show-bin-path)/ttl-train
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p assets/scale

model() {  # shape dtype
  local out=assets/scale/$1-$2.h5
  [ -f "$out" ] || .venv/bin/python scripts/make_model.py --shape "$1" --dtype "$2" --out "$out" >/dev/null
  echo "$out"
}

printf '%-14s %-6s %-9s %10s %12s %14s\n' shape dtype recompute pss_mb rank_rss_mb train_tok_s
for spec in smollm2-360m:f32 smollm2-360m:q4_0 smollm2-1.7b:f32 smollm2-1.7b:q4_0 llama3-8b:q4_0; do
  shape=${spec%%:*} dtype=${spec##*:}
  path=$(model "$shape" "$dtype")
  for recompute in "" --recompute; do
    [ "$shape" = llama3-8b ] && [ -z "$recompute" ] && continue  # 2 × ~5 GB of stored activations: see README
    out=$(mpirun -np 2 --bind-to none "$bin" bench --model "$path" --threads 1 --batch 4 --seq 128 --seconds 1 $recompute \
            --adapter lora --rank 8 --targets q_proj,v_proj)
    get() { sed -n "s/^$1=//p" <<< "$out"; }
    label=no
    [ -n "$recompute" ] && label=yes
    printf '%-14s %-6s %-9s %10s %12s %14s\n' "$shape" "$dtype" "$label" "$(get pss_mb)" \
      "$(get rank_peak_rss_mb)" "$(get adapted_train_tokens_per_s)"
  done
done

model llama3-8b q4_0 >/dev/null
rm -rf runs/scale-llama3-8b
/usr/bin/time -f "scale.sh: 8B run %e s, largest rank RSS %M KB" mpirun -np 2 --bind-to none "$bin" train jobs/scale-llama3-8b.yaml
