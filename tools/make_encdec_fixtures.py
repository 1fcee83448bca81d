#!/usr/bin/env python3
"""make_encdec_fixtures.py - builds the encoder-decoder reference in tests/fixtures/encdec/ with PyTorch.

A tiny 2017 Transformer made of torch.nn's own modules - nn.TransformerEncoder /
nn.TransformerDecoder of nn.TransformerEncoderLayer / nn.TransformerDecoderLayer (ReLU,
batch_first) and an nn.Embedding shared three ways (source embedding, target embedding,
output projection), embeddings times sqrt(d_model) plus the paper's sinusoids - one fixed
batch of mixed lengths with padding, and what PyTorch computes from them in float32, so
tests/test_encdec.c can check attn's loss and every parameter gradient:

    tests/fixtures/encdec/{post,pre}/config.json        attn's "attn-encdec" config
    tests/fixtures/encdec/{post,pre}/model.safetensors  the weights, nn.Transformer names
    tests/fixtures/encdec/{post,pre}/grads.safetensors  d loss / d param (shared.weight: all three uses)
    tests/fixtures/encdec/{post,pre}/expected.json      {"src", "tgt" (the pairs without EOS/BOS),
        "src_ids", "src_len", "tgt_in", "tgt_out", "tgt_len" (the padded batch), "smoothing",
        "loss", "loss_unsmoothed"}

post: the paper's post-LN layers, no final LayerNorm; pre: norm_first=True with a final
LayerNorm after each stack. Masks: src_key_padding_mask and memory_key_padding_mask from the
source lengths, a causal tgt_mask and tgt_key_padding_mask from the target lengths.
loss = F.cross_entropy(logits, tgt_out, ignore_index=-1, label_smoothing=0.1): the mean over
the 11 target tokens. Dropout 0. The weights are random and not the init (LayerNorms and
biases perturbed) so every parameter's gradient matters.

Deterministic: re-running rewrites the same files (for the same torch).

Usage: python3 tools/make_encdec_fixtures.py [--out tests/fixtures/encdec]
"""

import argparse
import json
import math
import os
import shutil
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

SEED = 6017
SHAPE = dict(vocab=23, d_model=16, nhead=4, dim_feedforward=32, layers=2, max_len=16)
PAD, BOS, EOS = 0, 1, 2
SRC_LENS = [5, 2, 3]  # tokens before the EOS: source rows of 6, 3 and 4
TGT_LENS = [3, 4, 1]  # tokens before the EOS: target rows of 4, 5 and 2
SMOOTHING = 0.1
SIZE_LIMIT = 400_000  # bytes, all files together


def sinusoids(n_pos, d):
    """PE[p][2i] = sin(p * 10000^(-2i/d)), PE[p][2i+1] = cos(...), in float64 then float32."""
    pe = torch.zeros(n_pos, d, dtype=torch.float64)
    pos = torch.arange(n_pos, dtype=torch.float64)[:, None]
    i = torch.arange(0, d, 2, dtype=torch.float64)
    angle = pos * torch.exp(-i * math.log(10000.0) / d)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe.float()


class EncDec(nn.Module):
    def __init__(self, pre_ln):
        super().__init__()
        s = SHAPE
        d = s["d_model"]
        self.d = d
        self.shared = nn.Embedding(s["vocab"], d)
        enc = nn.TransformerEncoderLayer(d, s["nhead"], s["dim_feedforward"], dropout=0.0, activation="relu",
                                         batch_first=True, norm_first=pre_ln)
        self.encoder = nn.TransformerEncoder(enc, s["layers"], norm=nn.LayerNorm(d) if pre_ln else None,
                                             enable_nested_tensor=False)
        dec = nn.TransformerDecoderLayer(d, s["nhead"], s["dim_feedforward"], dropout=0.0, activation="relu",
                                         batch_first=True, norm_first=pre_ln)
        self.decoder = nn.TransformerDecoder(dec, s["layers"], norm=nn.LayerNorm(d) if pre_ln else None)
        self.register_buffer("pe", sinusoids(s["max_len"], d), persistent=False)

    def embed(self, ids):
        return self.shared(ids) * math.sqrt(self.d) + self.pe[: ids.shape[1]]

    def forward(self, src, src_len, tgt_in, tgt_len):
        S, T = src.shape[1], tgt_in.shape[1]
        src_pad = torch.arange(S)[None, :] >= src_len[:, None]  # True: padding
        tgt_pad = torch.arange(T)[None, :] >= tgt_len[:, None]
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)  # True: not allowed
        mem = self.encoder(self.embed(src), src_key_padding_mask=src_pad)
        y = self.decoder(self.embed(tgt_in), mem, tgt_mask=causal, tgt_key_padding_mask=tgt_pad,
                         memory_key_padding_mask=src_pad)
        return y @ self.shared.weight.T


def randomize(model, gen):
    """Random weights of a trained-like scale, LayerNorms and biases away from 1 and 0."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "shared.weight":
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(model.d))
            elif p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * math.sqrt(2.0 / (p.shape[0] + p.shape[1])))
            elif "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def batch(gen):
    """The pairs and their padded layout, as attn_encdec_batch_build lays them out."""
    V = SHAPE["vocab"]
    src = [torch.randint(3, V, (n,), generator=gen).tolist() for n in SRC_LENS]
    tgt = [torch.randint(3, V, (n,), generator=gen).tolist() for n in TGT_LENS]
    S, T = max(SRC_LENS) + 1, max(TGT_LENS) + 1
    src_ids = [x + [EOS] + [PAD] * (S - len(x) - 1) for x in src]
    tgt_in = [[BOS] + y + [PAD] * (T - len(y) - 1) for y in tgt]
    tgt_out = [y + [EOS] + [-1] * (T - len(y) - 1) for y in tgt]
    return dict(src=src, tgt=tgt, src_ids=src_ids, src_len=[n + 1 for n in SRC_LENS], tgt_in=tgt_in,
                tgt_out=tgt_out, tgt_len=[n + 1 for n in TGT_LENS])


def loss_of(model, b, smoothing):
    t = {k: torch.tensor(b[k]) for k in ("src_ids", "src_len", "tgt_in", "tgt_out", "tgt_len")}
    logits = model(t["src_ids"], t["src_len"], t["tgt_in"], t["tgt_len"])
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), t["tgt_out"].reshape(-1), ignore_index=-1,
                           label_smoothing=smoothing)


def config_json(pre_ln):
    s = SHAPE
    return {"model_type": "attn-encdec", "vocab_size": s["vocab"], "d_model": s["d_model"], "nhead": s["nhead"],
            "dim_feedforward": s["dim_feedforward"], "num_encoder_layers": s["layers"],
            "num_decoder_layers": s["layers"], "max_len": s["max_len"], "norm_first": pre_ln,
            "layer_norm_eps": 1e-5, "pad_token_id": PAD, "bos_token_id": BOS, "eos_token_id": EOS,
            "activation": "relu", "dropout": 0.0, "label_smoothing": SMOOTHING}


def make(out, pre_ln):
    gen = torch.Generator().manual_seed(SEED + pre_ln)
    model = EncDec(pre_ln).float().train()  # dropout is 0: train() only keeps the fast paths off
    randomize(model, gen)
    b = batch(gen)
    os.makedirs(out)
    params = {n: p.detach().clone().contiguous() for n, p in model.named_parameters()}
    save_file(params, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config_json(pre_ln), f, indent=2, sort_keys=True)

    model.zero_grad(set_to_none=True)
    loss = loss_of(model, b, SMOOTHING)
    loss.backward()
    grads = {n: p.grad.detach().clone().contiguous() for n, p in model.named_parameters()}
    assert all(g.abs().max() > 0 for g in grads.values()), [n for n, g in grads.items() if g.abs().max() == 0]
    save_file(grads, os.path.join(out, "grads.safetensors"), metadata={"format": "pt"})
    with torch.no_grad():
        loss_plain = loss_of(model, b, 0.0)
    expected = dict(b, smoothing=SMOOTHING, loss=float(loss.detach()), loss_unsmoothed=float(loss_plain),
                    torch=torch.__version__, seed=SEED + pre_ln)
    with open(os.path.join(out, "expected.json"), "w") as f:  # one key per line
        f.write("{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in expected.items()) + "\n}\n")
    print(f"{os.path.basename(out)}: {len(params)} tensors, loss {float(loss.detach()):.6f} "
          f"(unsmoothed {float(loss_plain):.6f})")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "encdec"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    shutil.rmtree(args.out, ignore_errors=True)
    for name, pre_ln in (("post", False), ("pre", True)):
        make(os.path.join(args.out, name), pre_ln)
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, fs in os.walk(args.out) for n in fs)
    print(f"{total / 1024:.1f} KiB in {os.path.normpath(args.out)}")
    if total >= SIZE_LIMIT:
        sys.exit(f"fixtures are {total} bytes, over the {SIZE_LIMIT} byte budget")


if __name__ == "__main__":
    main()
