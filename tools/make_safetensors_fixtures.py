#!/usr/bin/env python3
"""make_safetensors_fixtures.py - writes the tiny Hugging Face-made safetensors files that
tests/test_safetensors.c reads back (and that seed the safetensors fuzzer), so attn is
checked against the reference writer, not only against itself.

Every tensor holds value(i) = (i % 29) * 0.25 - 3.5 * scale with scale = 1 + (tensor index),
all exactly representable in F16 and BF16; test_safetensors.c recomputes the same formula.
Run from the repo root:  python3 tools/make_safetensors_fixtures.py
"""
import os
import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "safetensors")

# name, dtype, shape: the order here defines each tensor's scale (its index).
MIXED = [
    ("scalar.f32", torch.float32, ()),
    ("vec.f16", torch.float16, (5,)),
    ("mat.bf16", torch.bfloat16, (3, 4)),
    ("cube.f32", torch.float32, (2, 3, 2)),
    ("h.0.attn.c_attn.weight", torch.float16, (2, 1, 3, 2)),
    ("empty.bf16", torch.bfloat16, (0, 3)),
    ("odd.bf16", torch.bfloat16, (3,)),
]


def values(index, numel):
    scale = 1 + index
    i = torch.arange(numel, dtype=torch.float64)
    return (i % 29) * 0.25 - 3.5 * scale


def make(spec):
    out = {}
    for index, (name, dtype, shape) in enumerate(spec):
        numel = 1
        for d in shape:
            numel *= d
        out[name] = values(index, numel).reshape(shape).to(dtype).contiguous()
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    save_file(make(MIXED), os.path.join(OUT, "hf_mixed.safetensors"),
              metadata={"format": "pt", "note": "attn fixture \u00e9\u4e2d"})
    save_file(make(MIXED[:3]), os.path.join(OUT, "hf_nometa.safetensors"))
    save_file({}, os.path.join(OUT, "hf_empty.safetensors"), metadata={"only": "metadata"})
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)), "bytes")


if __name__ == "__main__":
    main()
