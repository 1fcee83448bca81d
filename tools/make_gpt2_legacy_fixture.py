#!/usr/bin/env python3
"""Writes tests/fixtures/gpt2/tiny-legacy: the tiny-f32 fixture's weights laid out as the
Hugging Face hub's own gpt2 model.safetensors is (and older transformers saved): no
`transformer.` prefix, plus the causal-mask buffers `h.N.attn.bias` (BOOL [1,1,n,n]) and
`h.N.attn.masked_bias` (F32 scalar) that a loader must skip. The logits are tiny-f32's, so
tests reuse tiny-f32/expected.json. Re-runnable; needs torch and safetensors."""
import json
import pathlib
import shutil

import torch
from safetensors.torch import load_file, save_file

root = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "gpt2"
src, dst = root / "tiny-f32", root / "tiny-legacy"
dst.mkdir(exist_ok=True)
cfg = json.loads((src / "config.json").read_text())
n = cfg["n_positions"]
tensors = {}
for name, t in load_file(src / "model.safetensors").items():
    tensors[name.removeprefix("transformer.")] = t.contiguous()
for layer in range(cfg["n_layer"]):
    tensors[f"h.{layer}.attn.bias"] = torch.tril(torch.ones(n, n, dtype=torch.bool)).view(1, 1, n, n)
    tensors[f"h.{layer}.attn.masked_bias"] = torch.tensor(-1e4)
save_file(tensors, dst / "model.safetensors", metadata={"format": "pt"})
shutil.copy(src / "config.json", dst / "config.json")
print(f"wrote {dst}: {len(tensors)} tensors")
