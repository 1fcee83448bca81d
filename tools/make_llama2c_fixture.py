#!/usr/bin/env python3
"""make_llama2c_fixture.py - writes a Hugging Face LLaMA checkpoint as a llama2.c model file.

The output is the legacy (version 0) .bin of llama2.c's export.py, which its run.c reads:

    int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len   (little-endian;
          vocab_size < 0: a separate classifier follows at the end, > 0: the head is the embedding)
    f32   token_embedding[vocab][dim]
          rms_att[L][dim], wq[L][dim][dim], wk[L][kv_dim][dim], wv[L][kv_dim][dim], wo[L][dim][dim]
          rms_ffn[L][dim], w1[L][hidden][dim], w2[L][dim][hidden], w3[L][hidden][dim]
          rms_final[dim]
          freq_cis_real[seq_len][head_size/2], freq_cis_imag[seq_len][head_size/2]   (unused)
          wcls[vocab][dim]   (only when not shared)

Matrices are nn.Linear's [out][in]; w1 is the gate, w3 the up and w2 the down projection.
run.c rotates adjacent pairs (2i, 2i+1) of each head, Meta's original order, while HF's
checkpoints hold q/k rows permuted for rotate_half (convert_llama_weights_to_hf.py's
`permute`). So, as export.py does for HF models, the q and k rows are permuted back: HF row
h*hd + j*hd/2 + i (j in {0,1}) becomes row h*hd + 2i + j.

Only what run.c computes can be written: model_type llama, SiLU, no biases, head_dim =
hidden_size / heads, rope_theta 10000 without scaling, rms_norm_eps 1e-5, F32 or F16 weights
(stored as F32). Anything else is refused rather than written as a file that computes
something else.

The committed fixture tests/fixtures/llama2c/llama-gqa-tied-f32.bin is
tests/fixtures/llama/llama-gqa-tied-f32 written this way (grouped-query, tied head; the test
compares it with the same folder's safetensors and HF logits). Deterministic: the same input
gives the same bytes. Needs numpy and safetensors (not torch).

Usage: python3 tools/make_llama2c_fixture.py [--hf tests/fixtures/llama/llama-gqa-tied-f32]
           [--out tests/fixtures/llama2c/llama-gqa-tied-f32.bin]
"""

import argparse
import glob
import json
import os
import struct
import sys

import numpy as np
from safetensors.numpy import load_file

SIZE_LIMIT = 2_000_000  # bytes: a committed fixture stays small
ROPE_THETA = 10000.0
RMS_EPS = 1e-5


def fail(msg):
    sys.exit(f"make_llama2c_fixture: {msg}")


def rope_theta(cfg):
    """The config's rope base, refusing any scaling run.c does not do."""
    rp = cfg.get("rope_parameters") or {}
    scaling = cfg.get("rope_scaling") or {}
    kind = rp.get("rope_type", scaling.get("rope_type", scaling.get("type", "default")))
    if kind not in ("default", None):
        fail(f"rope type {kind!r}: run.c has no rope scaling")
    return float(rp.get("rope_theta", cfg.get("rope_theta", ROPE_THETA)))


def check_config(cfg):
    """The fields of the header, after checking that run.c computes what HF does."""
    if cfg.get("model_type") != "llama":
        fail(f"model_type {cfg.get('model_type')!r}: only llama")
    dim, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads") or heads
    checks = [
        (cfg.get("hidden_act", "silu") == "silu", "hidden_act must be silu"),
        (not cfg.get("attention_bias") and not cfg.get("mlp_bias"), "llama2.c has no biases"),
        (cfg.get("head_dim", dim // heads) == dim // heads and dim % heads == 0, "head_dim must be hidden_size / heads"),
        (rope_theta(cfg) == ROPE_THETA, f"run.c's rope_theta is {ROPE_THETA:g}"),
        (abs(cfg.get("rms_norm_eps", RMS_EPS) - RMS_EPS) < 1e-12, f"run.c's rms_norm_eps is {RMS_EPS:g}"),
    ]
    for ok, why in checks:
        if not ok:
            fail(why)
    return dict(dim=dim, hidden=cfg["intermediate_size"], layers=cfg["num_hidden_layers"], heads=heads,
                kv_heads=kv_heads, vocab=cfg["vocab_size"], seq_len=cfg["max_position_embeddings"])


def load_tensors(folder):
    """Every tensor of the folder's safetensors file(s) as f32, names without "model."."""
    out = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.safetensors"))):
        for name, t in load_file(path).items():
            if t.dtype not in (np.float32, np.float16):
                fail(f"{path}: {name} is {t.dtype}; only F32 and F16 are written")
            out[name.removeprefix("model.")] = t.astype(np.float32)
    if not out:
        fail(f"{folder}: no .safetensors files")
    return out


def unpermute(w, n_heads):
    """HF's rotate_half row order back to Meta's interleaved pairs (inverse of HF's permute)."""
    rows, cols = w.shape
    return w.reshape(n_heads, 2, rows // n_heads // 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


def rope_tables(p):
    """llama2.c's precompute_freqs_cis tables, which run.c skips; written for a faithful file."""
    head = p["dim"] // p["heads"]
    freqs = 1.0 / (ROPE_THETA ** (np.arange(0, head, 2)[: head // 2].astype(np.float32) / head))
    angles = np.outer(np.arange(p["seq_len"], dtype=np.float32), freqs).astype(np.float32)
    return np.cos(angles), np.sin(angles)


def arrays_in_order(t, p, shared):
    L = range(p["layers"])
    layer = lambda name: [t[f"layers.{i}.{name}.weight"] for i in L]
    yield t["embed_tokens.weight"]
    yield from layer("input_layernorm")
    yield from (unpermute(w, p["heads"]) for w in layer("self_attn.q_proj"))
    yield from (unpermute(w, p["kv_heads"]) for w in layer("self_attn.k_proj"))
    yield from layer("self_attn.v_proj")
    yield from layer("self_attn.o_proj")
    yield from layer("post_attention_layernorm")
    yield from layer("mlp.gate_proj")
    yield from layer("mlp.down_proj")
    yield from layer("mlp.up_proj")
    yield t["norm.weight"]
    yield from rope_tables(p)
    if not shared:
        yield t["lm_head.weight"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hf", default="tests/fixtures/llama/llama-gqa-tied-f32")
    ap.add_argument("--out", default="tests/fixtures/llama2c/llama-gqa-tied-f32.bin")
    ap.add_argument("--no-size-limit", action="store_true", help="for files not meant to be committed")
    args = ap.parse_args()

    with open(os.path.join(args.hf, "config.json")) as f:
        cfg = json.load(f)
    p = check_config(cfg)
    t = load_tensors(args.hf)
    # export.py: shared when the head is the embedding (tied, or an identical copy)
    head = None if cfg.get("tie_word_embeddings") else t.get("lm_head.weight")
    if head is None and not cfg.get("tie_word_embeddings"):
        fail("no lm_head.weight and tie_word_embeddings is false")
    shared = head is None or np.array_equal(head, t["embed_tokens.weight"])
    header = struct.pack("<7i", p["dim"], p["hidden"], p["layers"], p["heads"], p["kv_heads"],
                         p["vocab"] if shared else -p["vocab"], p["seq_len"])
    body = b"".join(np.ascontiguousarray(a, dtype="<f4").tobytes() for a in arrays_in_order(t, p, shared))
    if len(header) + len(body) > SIZE_LIMIT and not args.no_size_limit:
        fail(f"{len(header) + len(body)} bytes is over the fixture limit of {SIZE_LIMIT}")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header + body)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}: {len(header) + len(body)} bytes, {'shared' if shared else 'separate'} classifier")


if __name__ == "__main__":
    main()
