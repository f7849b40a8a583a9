"""The PyTorch + PEFT side of scripts/compare_pytorch.sh: the same model, shapes, threads and data.

Builds a Hugging Face LlamaForCausalLM from ttl-train's HDF5 model file (the same weights, tied
output head) and measures, printing `key=value` lines:

  bench      forward tokens/s (no_grad, full logits and cross-entropy at every position) and LoRA
             training tokens/s (PEFT LoRA r 8, alpha 16, q_proj + v_proj, dropout 0; forward,
             loss at every position, backward) on a batch of random tokens, like `ttl-train bench`;
  train      the sentiment LoRA job the usual Hugging Face way: micro-batches of the job's
             examples in ttl-train's sampling order, right padding, full logits, the loss on the
             answer token, gradient accumulation up to the global batch, AdamW — examples/s;
  eval       classification evaluation: padded no_grad forward of micro-batches, loss on the
             answer token and accuracy over the label tokens — examples/s;
  generate   greedy decoding with the KV cache (`model.generate`, up to 64 new tokens, stopping
             at the end-of-sequence token) — tokens/s after the first new token.

  python compare_pytorch.py MODEL.h5 bench --threads 1 [--batch 4 --seq 128 --seconds 10]
  python compare_pytorch.py MODEL.h5 train --data D.h5 --threads 2 --steps 12 [--global 16 --micro 4 --seed 42]
  python compare_pytorch.py MODEL.h5 eval --data D.h5 --threads 2 --examples 256 [--micro 4]
  python compare_pytorch.py MODEL.h5 generate --threads 1 [--prompt TEXT --max-tokens 64]
"""

import argparse
import time

import h5py
import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM


def load_model(path):
    """A LlamaForCausalLM holding exactly the weights of a ttl-train model file (format 1)."""
    with h5py.File(path, "r") as f:
        a = f.attrs
        config = LlamaConfig(
            vocab_size=int(a["vocab_size"]), hidden_size=int(a["hidden_size"]),
            intermediate_size=int(a["intermediate_size"]), num_hidden_layers=int(a["num_hidden_layers"]),
            num_attention_heads=int(a["num_attention_heads"]), num_key_value_heads=int(a["num_key_value_heads"]),
            head_dim=int(a["head_dim"]), max_position_embeddings=int(a["max_position_embeddings"]),
            rms_norm_eps=float(a["rms_norm_eps"]), rope_theta=float(a["rope_theta"]),
            tie_word_embeddings=bool(a["tie_word_embeddings"]), hidden_act="silu",
            bos_token_id=int(a["bos_token_id"]), eos_token_id=int(a["eos_token_id"]), pad_token_id=0)
        state = {}
        f.visititems(lambda name, obj: state.__setitem__(name.replace("/", "."), torch.from_numpy(obj[()]))
                     if isinstance(obj, h5py.Dataset) else None)
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]
    assert not missing and not unexpected, (missing, unexpected)
    model.tie_weights()
    return model


def lora(model, dropout):
    config = LoraConfig(r=8, lora_alpha=16, lora_dropout=dropout, target_modules=["q_proj", "v_proj"], bias="none")
    return get_peft_model(model, config)


def timed(body, seconds):
    """Seconds per call: one warm-up call, then calls until `seconds` have passed (at least 2)."""
    body()
    calls, start = 0, time.perf_counter()
    while True:
        body()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= 2:
            return elapsed / calls


def bench(args):
    model = load_model(args.model)
    generator = np.random.default_rng(1)
    ids = torch.from_numpy(generator.integers(0, model.config.vocab_size, size=(args.batch, args.seq)))
    targets = torch.roll(ids.reshape(-1), -1)
    tokens = args.batch * args.seq

    def loss_of(m):
        logits = m(input_ids=ids).logits
        return torch.nn.functional.cross_entropy(logits.reshape(tokens, -1), targets, reduction="sum")

    model.eval()
    with torch.no_grad():
        forward = timed(lambda: loss_of(model), args.seconds)
    adapted = lora(model, dropout=0.0)
    adapted.train()

    def train_step():
        loss_of(adapted).backward()
        adapted.zero_grad(set_to_none=True)

    train = timed(train_step, args.seconds)
    print(f"forward_tokens_per_s={tokens / forward:.1f}")
    print(f"adapted_train_tokens_per_s={tokens / train:.1f}")


class Examples:
    """One split of a ttl-train dataset file, and ttl-train's sampling order (ExampleSampler)."""

    def __init__(self, path, split):
        with h5py.File(path, "r") as f:
            self.tokens = f[f"{split}/tokens"][()]
            self.offsets = f[f"{split}/offsets"][()]
            self.loss_mask = f[f"{split}/loss_mask"][()]
            self.labels = f[f"{split}/labels"][()]
            self.label_tokens = [int(t) for t in f.attrs["label_token_ids"]]

    def __len__(self):
        return len(self.offsets) - 1

    def permutation(self, seed, epoch):
        mask = (1 << 64) - 1
        state = (seed ^ ((0xA5A55A5A00000000 + epoch) & mask)) & mask

        def next_value():
            nonlocal state
            state = (state + 0x9E3779B97F4A7C15) & mask
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
            return z ^ (z >> 31)

        order = list(range(len(self)))
        for index in range(len(self) - 1, 0, -1):
            other = next_value() % (index + 1)
            order[index], order[other] = order[other], order[index]
        return order

    def batch(self, examples):
        """Right-padded input ids, attention mask, labels (-100 but at the answer), answer rows."""
        sequences = [self.tokens[self.offsets[e]:self.offsets[e + 1]] for e in examples]
        width = max(len(s) for s in sequences)
        ids = torch.zeros((len(examples), width), dtype=torch.long)
        attention = torch.zeros((len(examples), width), dtype=torch.long)
        labels = torch.full((len(examples), width), -100, dtype=torch.long)
        answers = []
        for row, (example, sequence) in enumerate(zip(examples, sequences)):
            ids[row, :len(sequence)] = torch.from_numpy(sequence.astype(np.int64))
            attention[row, :len(sequence)] = 1
            mask = self.loss_mask[self.offsets[example]:self.offsets[example + 1]]
            for position in np.nonzero(mask)[0]:
                labels[row, position] = int(sequence[position])
            answers.append(int(np.nonzero(mask)[0][-1]))
        return ids, attention, labels, answers


def train(args):
    data = Examples(args.data, "train")
    model = lora(load_model(args.model), dropout=0.05)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.01)
    order = data.permutation(args.seed, 0)
    durations = []
    for step in range(args.steps):
        started = time.perf_counter()
        for micro in range(args.global_batch // args.micro):
            first = step * args.global_batch + micro * args.micro
            ids, attention, labels, _ = data.batch(order[first:first + args.micro])
            loss = model(input_ids=ids, attention_mask=attention, labels=labels).loss
            (loss * args.micro / args.global_batch).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        durations.append(time.perf_counter() - started)
    print(f"examples_per_s={args.global_batch / float(np.median(durations[1:])):.2f}")


def evaluate(args):
    data = Examples(args.data, "validation")
    model = load_model(args.model)
    model.eval()
    count = min(args.examples, len(data))
    correct = 0
    started = time.perf_counter()
    with torch.no_grad():
        for first in range(0, count, args.micro):
            examples = list(range(first, min(first + args.micro, count)))
            ids, attention, labels, answers = data.batch(examples)
            logits = model(input_ids=ids, attention_mask=attention, labels=labels).logits
            for row, example in enumerate(examples):
                scores = logits[row, answers[row] - 1, data.label_tokens]
                correct += int(int(torch.argmax(scores)) == int(data.labels[example]))
    seconds = time.perf_counter() - started
    print(f"accuracy={correct / count:.4f}")
    print(f"examples_per_s={count / seconds:.2f}")


def generate(args):
    """Greedy decoding with the KV cache (`model.generate`), the prompt's time excluded as
    `ttl-train generate` excludes it: tokens/s over the steps after the first new token."""
    from tokenizers import Tokenizer
    model = load_model(args.model).eval()
    ids = torch.tensor([Tokenizer.from_file(args.tokenizer).encode(args.prompt).ids])
    with torch.no_grad():
        model.generate(ids, max_new_tokens=4, do_sample=False)
        started = time.perf_counter()
        model.generate(ids, max_new_tokens=1, do_sample=False)
        first = time.perf_counter() - started
        started = time.perf_counter()
        out = model.generate(ids, max_new_tokens=args.max_tokens, do_sample=False)
        seconds = time.perf_counter() - started - first
    generated = out.shape[1] - ids.shape[1]
    print(f"generated={generated}")
    print(f"tokens_per_s={(generated - 1) / seconds:.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("what", choices=["bench", "train", "eval", "generate"])
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--data")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--global", dest="global_batch", type=int, default=16)
    parser.add_argument("--micro", type=int, default=4)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--tokenizer", default="assets/tokenizer.json")
    parser.add_argument("--prompt", default="The capital of France is Paris. The capital of Germany is Berlin. The capital of Italy is")
    parser.add_argument("--max-tokens", dest="max_tokens", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    {"bench": bench, "train": train, "eval": evaluate, "generate": generate}[args.what](args)


if __name__ == "__main__":
    main()
