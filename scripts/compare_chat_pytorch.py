"""The PyTorch + PEFT side of scripts/compare_chat_pytorch.sh: LoRA trained on a chat JSON Lines
directory the usual transformers way, then evaluated on exactly the tokens ttl-train evaluates.

Training, as a transformers user writes it: the conversation through `apply_chat_template` of a
PreTrainedTokenizerFast holding the model's tokenizer.json and chat template, the loss on the
assistant's tokens only (labels -100 elsewhere; a turn's tokens found by tokenizing the
conversation before it with the generation prompt and the conversation through it), right
padding, PEFT LoRA, AdamW, a cosine schedule with warm-up, gradient accumulation up to the global
batch. Evaluation: the test split of the dataset file ttl-train imported from the same JSON
Lines (its tokens and loss mask), so both tools are measured on the same supervised tokens;
prints the loss per supervised token and its standard error over examples.

  python compare_chat_pytorch.py MODEL.h5 --train DIR/train.jsonl --data DATA.h5 --threads 2
      --steps 60 --global 16 --micro 4 --lr 2e-3 --warmup 6 --rank 8 --alpha 16 --seed 7
"""
import argparse
import json
import math
import os
import random
import time

import h5py
import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from transformers import PreTrainedTokenizerFast, get_cosine_schedule_with_warmup

from compare_pytorch import load_model


def tokenizer_beside(model_path):
    directory = os.path.dirname(os.path.abspath(model_path))
    config = json.load(open(os.path.join(directory, "tokenizer_config.json"), encoding="utf-8"))
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=os.path.join(directory, "tokenizer.json"),
                                        bos_token=config["bos_token"], eos_token=config["eos_token"],
                                            pad_token="<|endoftext|>")
    tokenizer.chat_template = config["chat_template"]
    return tokenizer


def encode(tokenizer, messages):
    """input ids and labels (-100 outside the assistant's turns)."""
    ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False)
    labels = [-100] * len(ids)
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(tokenizer.apply_chat_template(messages[:index], tokenize=True, add_generation_prompt=True,
                                                  return_dict=False)) if index else 0
        end = len(tokenizer.apply_chat_template(messages[:index + 1], tokenize=True, return_dict=False))
        labels[start:end] = ids[start:end]
    return ids, labels


def train(model, tokenizer, examples, args):
    config = LoraConfig(r=args.rank, lora_alpha=args.alpha, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                        bias="none")
    model = get_peft_model(model, config)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=args.lr, weight_decay=0.01)
    schedule = get_cosine_schedule_with_warmup(optimizer, args.warmup, args.steps)
    order, cursor = [], 0
    generator = random.Random(args.seed)
    model.train()
    started = time.time()
    for step in range(args.steps):
        optimizer.zero_grad()
        batch_examples = []
        for _ in range(args.global_batch):
            if cursor == len(order):
                order = list(range(len(examples)))
                generator.shuffle(order)
                cursor = 0
            batch_examples.append(examples[order[cursor]])
            cursor += 1
        supervised = sum(sum(1 for label in labels[1:] if label != -100) for _, labels in batch_examples)
        total = 0.0
        for first in range(0, args.global_batch, args.micro):
            micro = batch_examples[first:first + args.micro]
            width = max(len(ids) for ids, _ in micro)
            ids = torch.tensor([i + [tokenizer.pad_token_id] * (width - len(i)) for i, _ in micro])
            labels = torch.tensor([l + [-100] * (width - len(l)) for _, l in micro])
            attention = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in micro])
            logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                                                     ignore_index=-100, reduction="sum") / supervised
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        if (step + 1) % 10 == 0:
            print(f"step {step + 1}/{args.steps} loss {total:.4f}", flush=True)
    return model, time.time() - started


@torch.no_grad()
def evaluate(model, data, split):
    """Loss per supervised token over the split's examples, and its standard error."""
    model.eval()
    with h5py.File(data) as f:
        tokens, offsets, mask = f[split]["tokens"][:], f[split]["offsets"][:], f[split]["loss_mask"][:]
    losses, counts = [], []
    for index in range(len(offsets) - 1):
        ids = torch.tensor(tokens[offsets[index]:offsets[index + 1]], dtype=torch.long)[None]
        bits = torch.tensor(mask[offsets[index]:offsets[index + 1]][1:], dtype=torch.bool)
        logits = model(input_ids=ids).logits[0, :-1].float()
        per_token = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none")
        losses.append(per_token[bits].sum().item())
        counts.append(int(bits.sum()))
    per_example = np.array(losses) / np.array(counts)
    mean = sum(losses) / sum(counts)
    return mean, per_example.std(ddof=1) / math.sqrt(len(per_example)), len(per_example)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--train", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--global", dest="global_batch", type=int, default=16)
    parser.add_argument("--micro", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=6)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=16)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tokenizer = tokenizer_beside(args.model)
    examples = [encode(tokenizer, json.loads(line)["messages"]) for line in open(args.train,
                                                                                 encoding="utf-8") if line.strip()]
    model = load_model(args.model)
    before, before_error, count = evaluate(model, args.data, "test")
    model, seconds = train(model, tokenizer, examples, args)
    after, error, count = evaluate(model, args.data, "test")
    print(f"pytorch_test_loss_before={before:.4f}")
    print(f"pytorch_test_loss={after:.4f}")
    print(f"pytorch_test_loss_stderr={error:.4f}")
    print(f"pytorch_test_examples={count}")
    print(f"pytorch_train_seconds={seconds:.1f}")
    print(f"pytorch_train_examples_per_s={args.steps * args.global_batch / seconds:.2f}")


if __name__ == "__main__":
    main()
