#!/usr/bin/env python3
"""Perplexity of a GGUF model by llama.cpp (llama-cpp-python) next to `attn perplexity`, same
method (chunks of --ctx tokens from an empty cache, second half scored) and the same text.
Usage: tools/compare_perplexity_llamacpp.py --attn build/attn --gguf MODEL.gguf -f TEXT
       [--ctx 512] [--chunks 10]"""
import argparse
import json
import math
import subprocess

import numpy as np
from llama_cpp import Llama
from llamacpp_buffers import use_plain_buffers

# the same plain kernels on every host for the reference figures (bench/bench_llama.py times
# llama.cpp with its extra buffers on, as users run it)
use_plain_buffers()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attn", required=True)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("-f", "--file", required=True)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--chunks", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    out = subprocess.run([a.attn, "perplexity", "-m", a.gguf, "-f", a.file, "--ctx", str(a.ctx), "--chunks",
                          str(a.chunks), "-t", str(a.threads), "--json"], capture_output=True, text=True, check=True)
    attn = json.loads(out.stdout.strip().splitlines()[-1])
    llm = Llama(model_path=a.gguf, n_ctx=a.ctx, n_batch=a.ctx, n_ubatch=a.ctx, logits_all=True,
                n_threads=a.threads, verbose=False)
    text = open(a.file, "rb").read()
    ids = llm.tokenize(text, add_bos=False)
    nll, scored = 0.0, 0
    for c in range(min(a.chunks, len(ids) // a.ctx)):
        chunk = ids[c * a.ctx:(c + 1) * a.ctx]
        llm.reset()
        llm.eval(chunk)
        logits = np.array(llm.scores[:a.ctx], dtype=np.float64)
        for i in range(a.ctx // 2, a.ctx - 1):  # llama-perplexity: n_ctx - 1 - n_ctx/2 per chunk
            row = logits[i]
            m = row.max()
            nll += math.log(np.exp(row - m).sum()) + m - row[chunk[i + 1]]
            scored += 1
    ppl = math.exp(nll / scored)
    print(f"text tokens: attn {attn['tokens']}, llama.cpp {len(ids)}")
    print(f"perplexity ({scored} tokens scored, ctx {a.ctx}): attn {attn['ppl']:.4f}, llama.cpp {ppl:.4f}, "
          f"difference {100 * (attn['ppl'] / ppl - 1):+.2f}%")


if __name__ == "__main__":
    main()
