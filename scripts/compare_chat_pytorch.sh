#!/usr/bin/env bash
# Your own chat data, ttl-train against PyTorch + PEFT trained the usual transformers way: the
# English conversations of PyPI's chatterbot-corpus 1.2.0 (BSD-3; a real chat data set not used
# elsewhere in this project) as chat JSON Lines, split 80/10/10 with a fixed seed; LoRA r 8 α 16
# on q_proj, v_proj, the same recipe on both sides (AdamW lr 2e-3, weight decay 0.01, cosine with
# 6 warm-up steps, 60 steps of 16 conversations, clipping 1.0, no dropout); test loss per
# supervised token on the same tokens (the test split ttl-train imported), with its standard
# error over conversations.
#
#   scripts/compare_chat_pytorch.sh        (about 8 minutes, plus .venv-peer once: scripts/peer_venv.sh)
#
# Optional, not part of scripts/test.sh. Prints key=value lines.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product ttl-train >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
scripts/peer_venv.sh
peer=.venv-peer

work=runs/chat-compare
rm -rf "$work" && mkdir -p "$work/data" "$work/downloads"
.venv/bin/pip download --quiet --disable-pip-version-check --no-deps -d "$work/downloads" chatterbot-corpus==1.2.0
.venv/bin/python - "$work" <<'PY'
import glob, json, random, sys, zipfile
import yaml
work = sys.argv[1]
conversations = []
with zipfile.ZipFile(glob.glob(f"{work}/downloads/*.whl")[0]) as wheel:
    for name in sorted(n for n in wheel.namelist() if "/data/english/" in n and n.endswith(".yml")):
        for turns in yaml.safe_load(wheel.read(name))["conversations"]:
            texts = [str(t).strip() for t in turns if str(t).strip()]
            if len(texts) % 2:
                texts = texts[:-1]
            if texts:
                conversations.append([{"role": "user" if i % 2 == 0 else "assistant", "content": t}
                                      for i, t in enumerate(texts)])
random.Random(1234).shuffle(conversations)
count = len(conversations)
cuts = {"train": conversations[:count * 8 // 10], "valid": conversations[count * 8 // 10:count * 9 // 10],
        "test": conversations[count * 9 // 10:]}
for split, items in cuts.items():
    with open(f"{work}/data/{split}.jsonl", "w", encoding="utf-8") as handle:
        for messages in items:
            handle.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
print(f"conversations={count}")
PY
cat > "$work/job.yaml" <<YAML
name: chat-compare
model: assets/smollm2-135m-instruct.h5
data: {path: $work/data, eval_split: validation}
task: lm
adapter: {kind: lora, rank: 8, alpha: 16, targets: [q_proj, v_proj]}
optimizer: {lr: 2.0e-3, weight_decay: 0.01, max_grad_norm: 1.0}
schedule: {kind: cosine, warmup_steps: 6, total_steps: 60}
batch: {global: 16, micro: 4, max_length: 512}
seed: 7
eval: {every: 60, examples: 1000}
checkpoint: {every: 60, keep: 1}
output: $work/ttl-train
YAML
bin=.build/release/ttl-train
echo "cpu=$($bin info | sed -n 's/^cpu=//p')"
before=$($bin eval "$work/job.yaml" --initial --split test --examples 100000 | sed -n 's/^loss=//p')
started=$SECONDS
mpirun -np 2 --bind-to none "$bin" train "$work/job.yaml" --threads 1 | grep -E "^data |^done"
echo "ttl_train_seconds_with_startup=$((SECONDS - started))"
echo "ttl_train_test_loss_before=$before"
echo "ttl_train_test_loss=$($bin eval "$work/job.yaml" --split test --examples 100000 | sed -n 's/^loss=//p')"
"$peer/bin/python" scripts/compare_chat_pytorch.py assets/smollm2-135m-instruct.h5 --train "$work/data/train.jsonl" \
  --data "$work/ttl-train/data.h5" --threads 2 --steps 60 --global 16 --micro 4 --lr 2e-3 --warmup 6 --seed 7
