#!/usr/bin/env python3
"""Does llama.cpp load what `attn quantize` writes, and compute what attn computes?

For each type, quantizes IN with attn, loads the result with llama.cpp (llama-cpp-python) and
with attn (`attn logits`), runs the same token ids through both, and prints the largest logit
difference, whether the argmax agrees, and llama.cpp's logit spread for scale. llama.cpp rounds
activations to 8-bit blocks before quantized dot products, attn does not, so on quantized files
the two differ by that rounding (on the random tiny-llama model of ../shared/data/llamacpp-ref
about 0.1-0.4; see its README).

Usage: tools/check_quantize_llamacpp.py --attn build/attn [--in MODEL.gguf|HF_DIR]
       [--vocab FILE.gguf] [--types q8_0,q4_k_m,...] [--ids "1 2 3"] [--pure]
Exits 1 if llama.cpp fails to load a file or a logit is not finite. Not run in CI."""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import llama_cpp.llama_cpp as lowlevel
from llama_cpp import Llama
from llamacpp_buffers import use_plain_buffers

# the same plain kernels on every host for the reference figures (bench/bench_llama.py times
# llama.cpp with its extra buffers on, as users run it)
use_plain_buffers()

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "llamacpp-ref")
TYPES = "f32,f16,q8_0,q4_0,q4_1,q5_0,q5_1,q2_k,q3_k_m,q4_k_m,q5_k_m,q6_k"
# prompt 1 of refs/tiny-llama-*.json: "First Citizen:\nBefore we proceed any further, hear me speak."
IDS = "1 359 319 298 339 278 457 504 286 263 330 278 491 261 316 258 347 401 259 427 303 277 326 365 299 324 " \
      "273 266 309 402 277 297 341 46"


def attn_logits(attn, path, ids, tmp):
    out = os.path.join(tmp, "logits.f32")
    subprocess.run([attn, "logits", "-m", path, "--ids", ids, "-o", out, "-t", "2"], check=True,
                   capture_output=True)
    return np.fromfile(out, dtype=np.float32)


def llamacpp_logits(path, ids):
    # KV cache in F32 as the reference runs (llama.cpp's default F16 cache moves logits by ~5e-3)
    llm = Llama(model_path=path, n_ctx=max(64, len(ids) + 1), n_batch=512, logits_all=True, n_threads=2,
                type_k=lowlevel.GGML_TYPE_F32, type_v=lowlevel.GGML_TYPE_F32, verbose=False)
    llm.eval(ids)
    return np.array(llm.scores[len(ids) - 1], dtype=np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attn", required=True)
    ap.add_argument("--in", dest="inp", default=os.path.join(DATA, "tiny-llama-f32.gguf"))
    ap.add_argument("--vocab")
    ap.add_argument("--types", default=TYPES)
    ap.add_argument("--ids", default=IDS)
    ap.add_argument("--pure", action="store_true")
    a = ap.parse_args()
    ids = [int(t) for t in a.ids.split()]
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'type':8} {'bytes':>9} {'max|llama.cpp-attn|':>20} {'argmax':>7} {'llama.cpp logit std':>20}")
        for t in a.types.split(","):
            out = os.path.join(tmp, f"{t}.gguf")
            cmd = [a.attn, "quantize", a.inp, out, "--type", t, "-t", "2"] + (["--pure"] if a.pure else []) + \
                  (["--vocab", a.vocab] if a.vocab else [])
            subprocess.run(cmd, check=True, capture_output=True)
            try:
                ll = llamacpp_logits(out, ids)
            except Exception as e:  # llama.cpp refused the file
                print(f"{t:8} llama.cpp failed to load it: {e}")
                failed = True
                continue
            at = attn_logits(a.attn, out, a.ids, tmp)
            if at.shape != ll.shape or not np.isfinite(ll).all() or not np.isfinite(at).all():
                print(f"{t:8} bad logits: shapes {at.shape} {ll.shape}")
                failed = True
                continue
            diff = float(np.abs(ll - at).max())
            same = "same" if int(ll.argmax()) == int(at.argmax()) else "DIFF"
            print(f"{t:8} {os.path.getsize(out):9d} {diff:20.4f} {same:>7} {float(ll.std()):20.3f}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
