#!/usr/bin/env python3
"""Training throughput: attn (bench/bench_train.c, built as build/bench/bench_train) next to
PyTorch (pip) training the same GPT-2 shape with the same batch: forward + backward +
AdamW step, in one run. Usage:

    python3 bench/bench_train.py [--threads 2] [--steps 5] [--shape 124M|small] [--precision f32|bf16|both]
                                 [--rounds 1]

f32: float32 throughout. bf16: matrix products with bf16 operands and f32 sums, weights,
activations and optimizer in f32 (attn: `bench_train --bf16`, AMX tiles or AVX512-BF16; PyTorch:
`torch.autocast("cpu", dtype=torch.bfloat16)` around the forward and the loss, oneDNN).

124M: GPT-2 small, B=4, T=64 (llm.c's CPU reference shape). small: 6 layers, width 384,
6 heads, context 256, vocabulary 65 (nanoGPT's character-level "baby GPT"), B=4, T=256.
Each engine runs in its own process and reports the median step after a warm-up step; with
--rounds N the engines take turns N times and the median run is reported, with the median
ratio and its range; peak RSS from the process's own high-water mark."""
import argparse
import json
import os
import resource
import statistics
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
    ap.add_argument("--rounds", type=int, default=1, help="runs of each engine, alternating; medians reported")
    ap.add_argument("--attn-bench", default=os.path.join(REPO, "build", "bench", "bench_train"))
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_child:
        return torch_child(a.shape, a.steps, a.threads, a.precision)
    s = SHAPES[a.shape]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    rows = []
    for prec in (["f32", "bf16"] if a.precision == "both" else [a.precision]):
        attn_cmd = [a.attn_bench, "--layers", str(s["layers"]), "--heads", str(s["heads"]), "--embd", str(s["embd"]),
                    "--ctx", str(s["ctx"]), "--vocab", str(s["vocab"]), "-B", str(s["B"]), "-T", str(s["T"]),
                    "--steps", str(a.steps), "-t", str(a.threads)] + (["--bf16"] if prec == "bf16" else [])
        torch_cmd = [sys.executable, __file__, "--torch-child", "--shape", a.shape, "--steps", str(a.steps),
                     "--threads", str(a.threads), "--precision", prec]
        rounds = []
        for r in range(a.rounds):  # the engines take turns, so a slow phase of the host hits both
            first, second = (attn_cmd, torch_cmd) if r % 2 == 0 else (torch_cmd, attn_cmd)
            x, y = run(first, env), run(second, env)
            rounds.append((x, y) if r % 2 == 0 else (y, x))
        rows.append((prec, rounds))
    print(f"GPT-2 {a.shape} training step (forward + backward + clip + AdamW), B={s['B']} T={s['T']}, "
          f"{a.threads} threads, {a.rounds} round(s) alternating the engines; torch {rows[0][1][0][1]['torch']}")
    print("| precision | engine | s/step | tokens/s | peak RSS MB | attn speed-up |")
    print("|---|---|---:|---:|---:|---:|")
    for prec, rounds in rows:
        # medians of steps within a run (both sides), then the median run
        attn_tok = statistics.median(r[0]["median_tok_s"] for r in rounds)
        torch_tok = statistics.median(r[1]["tok_s"] for r in rounds)
        ratios = [r[0]["median_tok_s"] / r[1]["tok_s"] for r in rounds]
        spread = f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
        attn_rss = max(r[0]["peak_rss_mb"] for r in rounds)
        torch_rss = max(r[1]["peak_rss_mb"] for r in rounds)
        print(f"| {prec} | attn | {s['B'] * s['T'] / attn_tok:.3f} | {attn_tok:.1f} | {attn_rss:.0f} | 1.00x |")
        print(f"| {prec} | PyTorch | {s['B'] * s['T'] / torch_tok:.3f} | {torch_tok:.1f} | {torch_rss:.0f} | "
              f"{statistics.median(ratios):.2f}x{spread} |")

if __name__ == "__main__":
    sys.exit(main())
