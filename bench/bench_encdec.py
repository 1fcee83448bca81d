#!/usr/bin/env python3
"""Encoder-decoder training throughput: attn (bench/bench_encdec.c, built as
build/bench/bench_encdec) next to PyTorch (pip) training nn.Transformer of the same size on the
same batch, in one run. Usage:

    python3 bench/bench_encdec.py [--threads 2] [--steps 5] [--layers 3 --d-model 256 --heads 4
        --d-ff 1024 --vocab 8002] [-B 200 -S 20 -T 20]

Defaults: the README's Multi30k run (3 + 3 layers, width 256, 4 heads, d_ff 1024, a joint BPE
of 8000 + BOS and PAD) and a batch like one of its 4096-token batches: 200 pairs of 20 source
and 20 target tokens, every row full length (no padding). One step = forward, label-smoothed
(0.1) cross-entropy, backward, global grad norm, Adam (0.9, 0.98, 1e-9); float32, dropout 0.1;
a warm-up step, then the median of --steps steps. tokens/s counts target tokens (B*T per step).

The PyTorch model is torch.nn.Transformer(d_model, nhead, layers, layers, d_ff, dropout=0.1,
batch_first=True): post-LN, ReLU, as the paper and attn (its encoder and decoder final
LayerNorms, which the paper's post-LN does not have, are removed), plus one nn.Embedding shared
by source and target embeddings (times sqrt(d)) and the output projection (logits = h @ E.T),
fixed sinusoidal positions, dropout on the embedding sums, a causal target mask
(nn.Transformer.generate_square_subsequent_mask), CrossEntropyLoss(label_smoothing=0.1),
torch.optim.Adam (foreach) and clip_grad_norm_ with a huge max (it only measures the norm).
One difference in work: nn.Transformer also applies dropout to the attention weights and to the
feed-forward hidden layer, where attn (like the paper) drops out only the embedding sums and
each sub-layer's output. Each engine runs in its own process; peak RSS is the child's ru_maxrss."""
import argparse
import json
import math
import os
import resource
import sys
import time

from bench_train import run  # one JSON line from a child process

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPE = ("layers", "d_model", "heads", "d_ff", "vocab", "B", "S", "T")


def ids(n, vocab, start):
    """The ids bench_encdec.c uses: 3 + (i * 7919 + 11) % (vocab - 3), past pad, bos and eos."""
    import torch
    i = torch.arange(start, start + n, dtype=torch.int64)
    return 3 + (i * 7919 + 11) % (vocab - 3)


def build_model(a):
    import torch
    from torch import nn

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            d = a.d_model
            self.emb = nn.Embedding(a.vocab, d)
            nn.init.normal_(self.emb.weight, 0.0, d ** -0.5)
            self.tf = nn.Transformer(d, a.heads, a.layers, a.layers, a.d_ff, dropout=0.1, batch_first=True)
            self.tf.encoder.norm = None  # post-LN: the paper has no final LayerNorm after each stack
            self.tf.decoder.norm = None
            self.drop = nn.Dropout(0.1)
            pos = torch.arange(max(a.S, a.T), dtype=torch.float32)[:, None]
            freq = torch.pow(10000.0, -torch.arange(0, d, 2, dtype=torch.float32) / d)
            pe = torch.zeros(max(a.S, a.T), d)
            pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
            self.register_buffer("pe", pe)
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(a.T))
            self.scale = math.sqrt(d)

        def embed(self, x):
            return self.drop(self.emb(x) * self.scale + self.pe[: x.size(1)])

        def forward(self, src, tgt_in):
            h = self.tf(self.embed(src), self.embed(tgt_in), tgt_mask=self.mask, tgt_is_causal=True)
            return h @ self.emb.weight.T

    return Seq2Seq()


def torch_child(a):
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = build_model(a).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9, foreach=True)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    B, S, T = a.B, a.S, a.T
    src, tgt_in = ids(B * S, a.vocab, 0).view(B, S), ids(B * T, a.vocab, B * S).view(B, T)
    tgt_out = ids(B * T, a.vocab, B * (S + T)).view(B, T)
    times, cpus = [], []
    for step in range(a.steps + 1):  # step 0 warms up
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(src, tgt_in).reshape(-1, a.vocab), tgt_out.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1e30)
        opt.step()
        if step:
            times.append(time.perf_counter() - t0), cpus.append(time.process_time() - c0)
            print(f"step {step} loss {loss.item():.4f} {times[-1]:.3f} s", file=sys.stderr)
    per, cpu = sorted(times)[len(times) // 2], sorted(cpus)[len(cpus) // 2]
    print(json.dumps({"s_per_step": per, "tok_s": B * T / per, "cpu_s_per_step": cpu, "torch": torch.__version__,
                      "params": sum(p.numel() for p in model.parameters()),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--layers", type=int, default=3, help="encoder layers, and as many decoder layers")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--d-ff", type=int, default=1024)
    ap.add_argument("--vocab", type=int, default=8002)
    ap.add_argument("-B", type=int, default=200, help="sentence pairs per batch")
    ap.add_argument("-S", type=int, default=20, help="source tokens per row")
    ap.add_argument("-T", type=int, default=20, help="target tokens per row")
    ap.add_argument("--attn-bench", default=os.path.join(REPO, "build", "bench", "bench_encdec"))
    ap.add_argument("--torch-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_child:
        return torch_child(a)
    shape = [str(getattr(a, k)) for k in SHAPE]
    flags = ["--layers", "--d-model", "--heads", "--d-ff", "--vocab", "-B", "-S", "-T"]
    args = [x for f, v in zip(flags, shape) for x in (f, v)] + ["--steps", str(a.steps)]
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads))
    attn = run([a.attn_bench, *args, "-t", str(a.threads)], env)
    torch = run([sys.executable, __file__, "--torch-child", *args, "--threads", str(a.threads)], env)
    print(f"Encoder-decoder training step (forward + backward + grad norm + Adam), {a.layers}+{a.layers} layers, "
          f"d_model {a.d_model}, {a.heads} heads, d_ff {a.d_ff}, vocab {a.vocab}; B={a.B} S={a.S} T={a.T} "
          f"(tokens/s: B*T target tokens per step); {a.threads} threads, float32; median of {a.steps} steps; "
          f"parameters attn {attn['params']:,}, torch {torch['params']:,}; torch {torch['torch']}")
    print("| engine | s/step | tokens/s | CPU s/step | peak RSS MB | attn speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| attn | {attn['s_per_step']:.3f} | {attn['tok_s']:.1f} | {attn['cpu_s_per_step']:.3f} | "
          f"{attn['peak_rss_mb']:.0f} | 1.00x |")
    print(f"| PyTorch | {torch['s_per_step']:.3f} | {torch['tok_s']:.1f} | {torch['cpu_s_per_step']:.3f} | "
          f"{torch['peak_rss_mb']:.0f} | {attn['tok_s'] / torch['tok_s']:.2f}x |")


if __name__ == "__main__":
    sys.exit(main())
