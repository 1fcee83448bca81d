#!/usr/bin/env python3
"""Training throughput: attn (bench/bench_train.c, built as build/bench/bench_train) next to
PyTorch (pip) training the same GPT-2 shape with the same batch: forward + backward +
AdamW step, in one run. Usage:

    python3 bench/bench_train.py [--threads 2] [--steps 5] [--shape 124M|small] [--precision f32|bf16|both]

f32: float32 throughout. bf16: matrix products with bf16 operands and f32 sums, weights,
activations and optimizer in f32 (attn: `bench_train --bf16`, AMX tiles; PyTorch:
`torch.autocast("cpu", dtype=torch.bfloat16)` around the forward and the loss, oneDNN).

124M: GPT-2 small, B=4, T=64 (llm.c's CPU reference shape). small: 6 layers, width 384,
6 heads, context 256, vocabulary 65 (nanoGPT's character-level "baby GPT"), B=4, T=256.
Each engine runs in its own process and reports the median step after a warm-up step; peak
RSS from the process's own high-water mark."""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = {"124M": dict(layers=12, heads=12, embd=768, ctx=1024, vocab=50257, B=4, T=64),
          "small": dict(layers=6, heads=6, embd=384, ctx=256, vocab=65, B=4, T=256)}


def torch_child(shape, steps, threads, precision):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.set_num_threads(threads)
    s = SHAPES[shape]
    cfg = GPT2Config(n_layer=s["layers"], n_head=s["heads"], n_embd=s["embd"], n_positions=s["ctx"],
                     vocab_size=s["vocab"], embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1, fused=False, foreach=True)
    x = (torch.arange(s["B"] * s["T"] * 2) * 7919 + 11) % s["vocab"]
    tok, tgt = x[: s["B"] * s["T"]].view(s["B"], s["T"]), x[s["B"] * s["T"]:].view(s["B"], s["T"])
    times = []
    for step in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(tok).logits
            loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), tgt.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step:
            times.append(time.perf_counter() - t0)
    times.sort()
    per = times[len(times) // 2]
    print(json.dumps({"s_per_step": per, "tok_s": s["B"] * s["T"] / per, "torch": torch.__version__,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run(cmd, env):
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--shape", choices=SHAPES, default="124M")
    ap.add_argument("--precision", choices=["f32", "bf16", "both"], default="f32")
    ap.add_argument("--attn-bench", default=os.path.join(REPO, "build", "bench", "bench_train"))
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_child:
        return torch_child(a.shape, a.steps, a.threads, a.precision)
    s = SHAPES[a.shape]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    rows = []
    for prec in (["f32", "bf16"] if a.precision == "both" else [a.precision]):
        attn = run([a.attn_bench, "--layers", str(s["layers"]), "--heads", str(s["heads"]), "--embd", str(s["embd"]),
                    "--ctx", str(s["ctx"]), "--vocab", str(s["vocab"]), "-B", str(s["B"]), "-T", str(s["T"]),
                    "--steps", str(a.steps), "-t", str(a.threads)] + (["--bf16"] if prec == "bf16" else []), env)
        torch = run([sys.executable, __file__, "--torch-child", "--shape", a.shape, "--steps", str(a.steps),
                     "--threads", str(a.threads), "--precision", prec], env)
        rows.append((prec, attn, torch))
    print(f"GPT-2 {a.shape} training step (forward + backward + clip + AdamW), B={s['B']} T={s['T']}, "
          f"{a.threads} threads; torch {rows[0][2]['torch']}")
    print("| precision | engine | s/step | tokens/s | peak RSS MB | attn speed-up |")
    print("|---|---|---:|---:|---:|---:|")
    for prec, attn, torch in rows:
        attn_s = s["B"] * s["T"] / attn["median_tok_s"]  # medians on both sides, as for PyTorch
        print(f"| {prec} | attn | {attn_s:.3f} | {attn['median_tok_s']:.1f} | {attn['peak_rss_mb']:.0f} | 1.00x |")
        print(f"| {prec} | PyTorch | {torch['s_per_step']:.3f} | {torch['tok_s']:.1f} | {torch['peak_rss_mb']:.0f} | "
              f"{attn['median_tok_s'] / torch['tok_s']:.2f}x |")


if __name__ == "__main__":
    sys.exit(main())
