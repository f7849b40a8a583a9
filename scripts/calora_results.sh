#!/usr/bin/env bash
# The README's CA-LoRA table, reproduced on the sentiment task's test split: the uncompressed
# model with its trained TT-LoRA adapter (the teacher, jobs/sentiment-ttlora.yaml), the model with
# the attention of its last ten blocks Tucker-compressed (plans/last-attention-quarter.yaml) alone,
# with the teacher's adapter inherited as it is, with a TT-LoRA adapter trained on it from scratch,
# and with CA-LoRA (jobs/sentiment-calora.yaml: inheritance, recovery modules, distillation).
# Runs that finished already are continued with --resume auto, i.e. not repeated.
#
#   scripts/calora_results.sh            (RANKS=2 SPLIT=test; about 35 minutes on 2 cores)
source "$(dirname "$0")/experiment.sh"

out=runs/calora
compressed=$out/last-attention-quarter.h5
mkdir -p "$out"

[ -f "$compressed" ] || "$bin" compress --model assets/smollm2-135m-instruct.h5 --plan plans/last-attention-quarter.yaml --out "$compressed" >"$out/compress.txt"
"$bin" info --model "$compressed" >"$out/info-compressed.txt"
"$bin" info --model assets/smollm2-135m-instruct.h5 >"$out/info-dense.txt"

# (a) the teacher: TT-LoRA on the uncompressed model.
mpi train jobs/sentiment-ttlora.yaml --resume auto >"$out/train-teacher.log"
mpi eval jobs/sentiment-ttlora.yaml --split "$split" >"$out/eval-a.txt"
# (b) the compressed model alone, (c) with the teacher's adapter inherited and not trained.
mpi eval jobs/sentiment-calora.yaml --zero-shot --split "$split" >"$out/eval-b.txt"
mpi eval jobs/sentiment-calora.yaml --initial --split "$split" >"$out/eval-c.txt"
# (d) TT-LoRA trained from scratch on the compressed model, with the teacher's settings.
scratch=(--set model="$compressed" --set output="$out/scratch")
mpi train jobs/sentiment-ttlora.yaml "${scratch[@]}" --resume auto >"$out/train-scratch.log"
mpi eval jobs/sentiment-ttlora.yaml "${scratch[@]}" --split "$split" >"$out/eval-d.txt"
# (e) CA-LoRA.
mpi train jobs/sentiment-calora.yaml --resume auto >"$out/train-calora.log"
mpi eval jobs/sentiment-calora.yaml --split "$split" >"$out/eval-e.txt"
# Validation curves of (a), (d) and (e) under names that say what they are.
curves=$out/curves
rm -rf "$curves" && mkdir -p "$curves"
ln -s ../../sentiment-ttlora "$curves/uncompressed-ttlora"
ln -s ../scratch "$curves/compressed-ttlora-from-scratch"
ln -s ../../sentiment-calora "$curves/compressed-calora"
.venv/bin/python scripts/analyze.py "$curves"/uncompressed-ttlora "$curves"/compressed-ttlora-from-scratch "$curves"/compressed-calora \
  --out "$out/analysis" >/dev/null
cp "$out/analysis/eval.png" docs/compression/calora-eval.png
"$bin" validate jobs/sentiment-ttlora.yaml >"$out/validate-ttlora.txt"
"$bin" validate jobs/sentiment-calora.yaml >"$out/validate-calora.txt"

.venv/bin/python - "$out" <<'PY'
import sys

out = sys.argv[1]
def values(path):
    return dict(line.split("=", 1) for line in open(path).read().splitlines() if "=" in line)
dense, compressed = values(f"{out}/info-dense.txt"), values(f"{out}/info-compressed.txt")
tt, ca = values(f"{out}/validate-ttlora.txt"), values(f"{out}/validate-calora.txt")
rows = [
    ("a", "uncompressed + TT-LoRA (the teacher)", dense, tt),
    ("b", "compressed, no adapter", compressed, None),
    ("c", "compressed + inherited TT-LoRA, not trained", compressed, None),
    ("d", "compressed + TT-LoRA trained from scratch", compressed, tt),
    ("e", "compressed + CA-LoRA (inherited TT-LoRA + recovery modules, distilled)", compressed, ca),
]
first = values(f"{out}/eval-a.txt")
print(f"| | model and adapter | {first['split']} accuracy ({first['examples']} reviews) | {first['split']} loss | base parameters | trainable parameters |")
print("|---|---|---|---|---|---|")
for key, label, model, job in rows:
    result = values(f"{out}/eval-{key}.txt")
    trainable = f"{int(job['trainable_parameters']):,}" if job else "0"
    print(f"| ({key}) | {label} | {float(result['accuracy']):.4f} | {float(result['loss']):.3f} | {int(model['parameters']):,} | {trainable} |")
PY
