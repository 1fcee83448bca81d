#!/usr/bin/env python3
"""bench_llmc.py - attn's GPT-2 124M training step next to llm.c's CPU trainer (train_gpt2.c),
the baseline the training issue measures against, alternated in one run on the same threads.

llm.c is not shipped or fetched here: point --llmc at a checkout of github.com/karpathy/llm.c
(its train_gpt2.c and llmc/ headers). train_gpt2 is built there with its Makefile's CPU flags
if missing. Its inputs are written to a temporary folder in llm.c's own formats, with random
values (speed does not depend on them): gpt2_124M.bin (header of 256 int32: magic 20240326,
version 3 = f32, maxT, vocab, layers, heads, channels, padded vocab; then the 16 parameter
tensors) and the Tiny Shakespeare token shards it opens by default (header of 256 int32: magic
20240520, version 1, token count; then uint16 tokens). Both train B=4, T=64 (llm.c's default
and bench_train's). llm.c's step 0 (first touch of its buffers) is dropped; each round takes
the median of its steps 1..--steps (before its first validation at step 10); attn's rounds are
`build/bench/bench_train --steps N` medians.

  python3 bench/bench_llmc.py --llmc ~/src/llm.c --rounds 3
Needs numpy."""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

import numpy as np

import bench_train  # its run(): one engine's JSON line

REPO = bench_train.REPO
MAXT, V, L, NH, C, VP = 1024, 50257, 12, 12, 768, 50304
B, T = 4, 64


def param_sizes():
    """llm.c's parameter tensors in file order: (numel, init) with init 'w' (N(0, 0.02)), 1 or 0."""
    return [(VP * C, "w"), (MAXT * C, "w"), (L * C, 1), (L * C, 0), (L * 3 * C * C, "w"), (L * 3 * C, 0),
            (L * C * C, "w"), (L * C, 0), (L * C, 1), (L * C, 0), (L * 4 * C * C, "w"), (L * 4 * C, 0),
            (L * 4 * C * C, "w"), (L * C, 0), (C, 1), (C, 0)]


def write_inputs(folder):
    rng = np.random.default_rng(0)
    header = np.zeros(256, dtype=np.int32)
    header[:8] = [20240326, 3, MAXT, V, L, NH, C, VP]
    with open(os.path.join(folder, "gpt2_124M.bin"), "wb") as f:
        f.write(header.tobytes())
        for n, init in param_sizes():
            a = rng.standard_normal(n, dtype=np.float32) * np.float32(0.02) if init == "w" \
                else np.full(n, init, dtype=np.float32)
            f.write(a.tobytes())
    data = os.path.join(folder, "dev", "data", "tinyshakespeare")
    os.makedirs(data, exist_ok=True)
    for split, n in (("train", 200_000), ("val", 20_000)):
        header = np.zeros(256, dtype=np.int32)
        header[:3] = [20240520, 1, n]
        with open(os.path.join(data, f"tiny_shakespeare_{split}.bin"), "wb") as f:
            f.write(header.tobytes())
            f.write(rng.integers(0, V, size=n, dtype=np.uint16).tobytes())


def build_llmc(llmc):
    exe = os.path.join(llmc, "train_gpt2")
    if not os.path.exists(exe):  # the Makefile's CPU build (OpenMP, -march=native)
        subprocess.run(["gcc", "-Ofast", "-Wno-unused-result", "-Wno-ignored-pragmas", "-Wno-unknown-attributes",
                        "-march=native", "-fopenmp", "-DOMP", "train_gpt2.c", "-lm", "-lgomp", "-o", "train_gpt2"],
                       cwd=llmc, check=True)
    return exe


def llmc_round(exe, folder, steps, threads):
    """Median seconds per step of llm.c's steps 1..steps."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    p = subprocess.Popen([exe], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    times = []
    for line in p.stdout:
        m = re.match(r"step (\d+): train loss \S+ \(took ([\d.]+) ms\)", line)
        if m and int(m.group(1)) >= 1:
            times.append(float(m.group(2)) / 1000)
            if len(times) == steps:
                break
    p.kill()
    p.wait()
    if len(times) < steps:
        sys.exit("bench_llmc: llm.c stopped before its step %d" % steps)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llmc", required=True, help="a checkout of karpathy/llm.c")
    ap.add_argument("--bench", default=os.path.join(REPO, "build", "bench", "bench_train"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    exe = build_llmc(os.path.abspath(os.path.expanduser(a.llmc)))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        write_inputs(folder)
        for r in range(a.rounds):
            llmc_s = llmc_round(exe, folder, a.steps, a.threads)
            attn = bench_train.run([a.bench, "--steps", str(a.steps), "-t", str(a.threads)], os.environ)
            rows.append((B * T / llmc_s, attn["median_tok_s"], attn["peak_rss_mb"]))
            print(f"round {r + 1}: llm.c {rows[-1][0]:.1f} tok/s ({llmc_s:.2f} s/step), attn {rows[-1][1]:.1f} "
                  f"tok/s: {rows[-1][1] / rows[-1][0]:.2f}x", file=sys.stderr, flush=True)
    llmc_tps = statistics.median(r[0] for r in rows)
    attn_tps = statistics.median(r[1] for r in rows)
    ratios = sorted(r[1] / r[0] for r in rows)
    print("| engine | tok/s (median of %d rounds) | ratio |" % a.rounds)
    print("|---|---:|---:|")
    print(f"| llm.c train_gpt2 (OMP_NUM_THREADS={a.threads}) | {llmc_tps:.1f} | 1.00x |")
    print(f"| attn bench_train (-t {a.threads}) | {attn_tps:.1f} | {statistics.median(ratios):.2f}x "
          f"({ratios[0]:.2f}-{ratios[-1]:.2f}) |")


if __name__ == "__main__":
    main()
