#!/usr/bin/env python3
"""make_train_fixtures.py - builds the training reference in tests/fixtures/train/ with PyTorch.

llm.c's test_gpt2 idea: a small random GPT-2 made by Hugging Face transformers, one fixed
batch, and what PyTorch computes from them in float32, so tests/test_train.c can check
attn's loss, every parameter gradient and a few optimizer steps:

    tests/fixtures/train/model/             save_pretrained of the GPT2LMHeadModel (safetensors)
    tests/fixtures/train/grads.safetensors  d loss / d param for every parameter, HF names
                                            (transformer.wte.weight holds the tied head's part too)
    tests/fixtures/train/expected.json      {"tokens", "targets" [B][T], "loss",
                                             "smoothing", "loss_smoothed", "grads_smoothed"
                                             {name: [...]}, "adamw": {"lr", "betas", "eps",
                                             "weight_decay", "clip", "losses", "grad_norms"}, ...}

The model is tools/make_gpt2_fixtures.py's (HF init, then scaled and perturbed so that
LayerNorm parameters and biases are not trivial and every layer matters), with
n_layer 2, n_embd 32, n_head 4, vocab 64, n_positions 16 and no dropout. The batch is B=2
sequences of T=8 random tokens; two targets are -1 (ignored), so the mean runs over 14
positions. loss = F.cross_entropy(logits, targets, ignore_index=-1), mean over the
counted positions (HF's labels= argument would shift targets by one: not used).

"adamw": 10 steps of torch.optim.AdamW(lr 1e-3, betas (0.9, 0.95), eps 1e-8,
weight_decay 0.1 on 2-D tensors only - the weight matrices and both embeddings, as nanoGPT
does - none on biases and LayerNorm parameters, foreach=False), each after
clip_grad_norm_(1.0); "losses" are the losses before each step (losses[0] is "loss"),
"grad_norms" what clip_grad_norm_ returned.

Deterministic: re-running rewrites the same files (for the same torch/transformers).

Usage: python3 tools/make_train_fixtures.py [--out tests/fixtures/train]
"""

import argparse
import json
import os
import shutil
import sys

import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file
from transformers import GPT2LMHeadModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gpt2_fixtures import build_model, make_config, save_model  # noqa: E402

SEED = 3001
B, T = 2, 8
SHAPE = dict(n_layer=2, n_embd=32, n_head=4, vocab_size=64, n_positions=16)
IGNORED = [(0, 3), (1, 7)]  # targets set to -1
SMOOTHING = 0.1
SMOOTHED_GRADS = ["transformer.ln_f.bias", "transformer.h.0.ln_1.bias"]
ADAMW = dict(lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
CLIP = 1.0
STEPS = 10
SIZE_LIMIT = 300_000  # bytes, all files together
NOTE = ("Made by tools/make_train_fixtures.py: a random GPT-2 (HF init, scaled and perturbed as in "
        "make_gpt2_fixtures.py) and one batch; loss = mean cross-entropy over targets != -1, float32. "
        "grads.safetensors: d loss / d param (wte includes the tied head). loss_smoothed, "
        "grads_smoothed: the same with label_smoothing. adamw: losses before each of 10 AdamW steps "
        "(weight decay on 2-D tensors only, embeddings included) after clip_grad_norm_, and the "
        "norms it returned.")


def batch(vocab):
    gen = torch.Generator().manual_seed(SEED + 1)
    tokens = torch.randint(0, vocab, (B, T), generator=gen)
    targets = torch.randint(0, vocab, (B, T), generator=gen)
    for b, t in IGNORED:
        targets[b, t] = -1
    return tokens, targets


def loss_of(model, tokens, targets, smoothing=0.0):
    logits = model(input_ids=tokens).logits
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1,
                           label_smoothing=smoothing)


def gradients(model, tokens, targets, smoothing=0.0):
    model.zero_grad(set_to_none=True)
    loss = loss_of(model, tokens, targets, smoothing)
    loss.backward()
    grads = {n: p.grad.detach().clone().contiguous() for n, p in model.named_parameters()}
    return float(loss.detach()), grads


def adamw_run(model, tokens, targets):
    """Losses and clipped gradient norms of STEPS AdamW steps; modifies the model."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": ADAMW["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=ADAMW["lr"], betas=ADAMW["betas"], eps=ADAMW["eps"], foreach=False)
    losses, norms = [], []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = loss_of(model, tokens, targets)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)))
        opt.step()
        losses.append(float(loss.detach()))
    return losses, norms


def main():
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "train"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    config = make_config(**SHAPE)
    model = build_model(config, SEED).float()
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    save_model(model, os.path.join(args.out, "model"))
    model = GPT2LMHeadModel.from_pretrained(os.path.join(args.out, "model")).float().eval()

    tokens, targets = batch(config.vocab_size)
    loss, grads = gradients(model, tokens, targets)
    names = [n for n, _ in model.named_parameters()]
    assert names[0] == "transformer.wte.weight" and not any(n.startswith("lm_head") for n in names), names
    save_file(grads, os.path.join(args.out, "grads.safetensors"), metadata={"format": "pt"})
    loss_s, grads_s = gradients(model, tokens, targets, SMOOTHING)
    losses, norms = adamw_run(model, tokens, targets)
    assert abs(losses[0] - loss) < 1e-6, (losses[0], loss)

    expected = {
        "note": NOTE,
        "seed": SEED, "transformers": transformers.__version__, "torch": torch.__version__,
        "tokens": tokens.tolist(), "targets": targets.tolist(), "loss": loss,
        "smoothing": SMOOTHING, "loss_smoothed": loss_s,
        "grads_smoothed": {n: grads_s[n].tolist() for n in SMOOTHED_GRADS},
        "adamw": dict(ADAMW, betas=list(ADAMW["betas"]), clip=CLIP, losses=losses, grad_norms=norms),
    }
    with open(os.path.join(args.out, "expected.json"), "w") as f:  # one key per line
        f.write("{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in expected.items()) + "\n}\n")

    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, fs in os.walk(args.out) for n in fs)
    print(f"loss {loss:.6f}, smoothed {loss_s:.6f}; AdamW losses {losses[0]:.4f} -> {losses[-1]:.4f}; "
          f"grad norms {norms[0]:.3f} -> {norms[-1]:.3f}; {total / 1024:.1f} KiB in {os.path.normpath(args.out)}")
    if total >= SIZE_LIMIT:
        sys.exit(f"fixtures are {total} bytes, over the {SIZE_LIMIT} byte budget")


if __name__ == "__main__":
    main()
