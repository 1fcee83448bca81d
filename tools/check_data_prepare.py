#!/usr/bin/env python3
"""check_data_prepare.py - checks `attn data prepare` against nanoGPT's data preparation.

For a text file (Tiny Shakespeare by default) it runs `attn data prepare` with
  - GPT-2's tokenizer: the shards must hold exactly nanoGPT's data/shakespeare/prepare.py ids:
    tiktoken "gpt2" encode_ordinary of data[:int(n*0.9)] and data[int(n*0.9):] (tiktoken built
    offline from the data dir's vocab.bpe + encoder.json, as tools/make_tokenizer_fixtures.py does);
  - a character tokenizer (`attn tokenizer train --chars`): nanoGPT's shakespeare_char
    prepare.py ids, stoi = {c: i for i, c in enumerate(sorted(set(data)))};
  - a 4096-token BPE trained by attn: HF tokenizers' ids for the same two portions;
and checks the headers (magic, version, counts, width, vocab size, tokenizer id = FNV-1a 64 of
the tokenizer file). Prints one line per check, exits 1 if any fails.

usage: tools/check_data_prepare.py [--attn build/attn] [--data ../shared/data] [FILE]
"""
import argparse
import os
import struct
import subprocess
import sys
import tempfile

import tiktoken
import tiktoken.load
from tiktoken_ext import openai_public
from tokenizers import Tokenizer

failures = 0


def report(ok, what):
    global failures
    failures += not ok
    print(("ok    " if ok else "FAIL  ") + what)


def gpt2_tiktoken(data):
    ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=os.path.join(data, "gpt2", "vocab.bpe"),
        encoder_json_file=os.path.join(data, "gpt2", "encoder.json"),
        vocab_bpe_hash="1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
        encoder_json_hash="196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783")
    return tiktoken.Encoding(name="gpt2", explicit_n_vocab=50257, pat_str=openai_public.r50k_pat_str,
                             mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})


def read_shard(path):
    with open(path, "rb") as f:
        head = f.read(256)
        magic, version, hsize, n, width, vocab, tok_id, eot = struct.unpack("<8sIIQIIQi", head[:44])
        body = f.read()
    fmt = {2: "H", 4: "I"}[width]
    ids = list(struct.unpack(f"<{n}{fmt}", body)) if len(body) == n * width else None
    return dict(magic=magic, version=version, hsize=hsize, n=n, width=width, vocab=vocab, tok_id=tok_id,
                eot=eot, ids=ids, rest_zero=head[44:] == bytes(212))


def fnv1a64(path):
    h = 0xCBF29CE484222325
    for b in open(path, "rb").read():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def check(attn, label, text_path, tokenizer, tok_file, want_train, want_val, vocab, tmp):
    out = os.path.join(tmp, label)
    r = subprocess.run([attn, "data", "prepare", "-i", text_path, "-o", out, "--tokenizer", tokenizer],
                       capture_output=True, text=True)
    report(r.returncode == 0, f"{label}: prepare ({r.stdout.strip() or r.stderr.strip()})")
    for name, want in (("train.bin", want_train), ("val.bin", want_val)):
        s = read_shard(os.path.join(out, name))
        header_ok = (s["magic"] == b"ATTNTOK1" and s["version"] == 1 and s["hsize"] == 256 and s["rest_zero"]
                     and s["vocab"] == vocab and s["width"] == (2 if vocab <= 65536 else 4)
                     and s["tok_id"] == fnv1a64(tok_file))
        report(header_ok, f"{label}: {name} header (vocab {s['vocab']}, uint{8 * s['width']}, "
               f"tokenizer {s['tok_id']:016x})")
        first = next((i for i, (a, b) in enumerate(zip(s["ids"] or [], want)) if a != b), None)
        report(s["ids"] == want, f"{label}: {name}: {s['n']} ids, reference {len(want)}"
               + ("" if s["ids"] == want else f", first difference at {first}"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?")
    ap.add_argument("--attn", default="build/attn")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--data", default=os.environ.get("ATTN_DATA") or os.path.join(here, "..", "..", "shared", "data"))
    args = ap.parse_args()
    path = args.file or os.path.join(args.data, "text", "tinyshakespeare.txt")
    data = open(path, encoding="utf-8").read()
    n = len(data)
    train, val = data[:int(n * 0.9)], data[int(n * 0.9):]  # nanoGPT's split
    with tempfile.TemporaryDirectory() as tmp:
        enc = gpt2_tiktoken(args.data)
        gpt2 = os.path.join(args.data, "gpt2")
        check(args.attn, "gpt2", path, gpt2, os.path.join(gpt2, "tokenizer.json"), enc.encode_ordinary(train),
              enc.encode_ordinary(val), 50257, tmp)

        chars = os.path.join(tmp, "chars.json")
        subprocess.run([args.attn, "tokenizer", "train", "-i", path, "--chars", "-o", chars], check=True,
                       capture_output=True)
        stoi = {c: i for i, c in enumerate(sorted(set(data)))}
        check(args.attn, "chars", path, chars, chars, [stoi[c] for c in train], [stoi[c] for c in val],
              len(stoi) + 2, tmp)

        bpe = os.path.join(tmp, "bpe.json")
        subprocess.run([args.attn, "tokenizer", "train", "-i", path, "--vocab-size", "4096", "-o", bpe], check=True,
                       capture_output=True)
        hf = Tokenizer.from_file(bpe)
        check(args.attn, "bpe4096", path, bpe, bpe, hf.encode(train).ids, hf.encode(val).ids, 4096, tmp)
    print(f"check_data_prepare: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
