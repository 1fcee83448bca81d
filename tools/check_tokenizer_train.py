#!/usr/bin/env python3
"""check_tokenizer_train.py - checks `attn tokenizer train` against Hugging Face tokenizers.

For each text file and vocabulary size it
  1. trains a byte-level BPE with attn and with HF's BpeTrainer set up the same way
     (ByteLevel pre-tokenizer, add_prefix_space false, the 256-byte initial alphabet,
     special token <|endoftext|>, the same min_frequency), and compares the vocabularies
     (token -> id) and the merge lists;
  2. loads attn's tokenizer.json with HF `tokenizers.Tokenizer.from_file` and compares the ids
     of the whole text (and a few awkward strings) from HF and from `attn tokenize`;
  3. does the same for `attn tokenizer train --chars` (a character vocabulary) and, when the
     text is nanoGPT's Tiny Shakespeare, checks the ids are nanoGPT's stoi.
Prints one line per check and exits 1 if any fails.

usage: tools/check_tokenizer_train.py [--attn build/attn] [--vocab 300,4096] FILE...
       tools/check_tokenizer_train.py --write-fixture OUT --vocab 1000 FILE
           (HF's merges for FILE, one per line, for tests/test_bpe_train.c)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

EOT = "<|endoftext|>"
AWKWARD = ["Hello world", "  two  spaces\n\n\nlines  \n", "x" * 300, "naïve café 日本語 🤗",
           "it's we'll they've", "tabs\tand\r\nCRLF", EOT + " between " + EOT, "<|endoftext", ""]

failures = 0


def report(ok, what):
    global failures
    failures += not ok
    print(("ok    " if ok else "FAIL  ") + what)


def hf_train(path, vocab_size, min_freq):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_freq, special_tokens=[EOT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    t0 = time.perf_counter()
    tok.train([path], trainer)
    return json.loads(tok.to_str()), time.perf_counter() - t0


def merge_strings(model):
    return [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]


def attn_ids(attn, tokenizer, text, tmp):
    p = os.path.join(tmp, "text.txt")
    with open(p, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    out = subprocess.run([attn, "tokenize", "--tokenizer", tokenizer, "-f", p, "--special"], check=True,
                         capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def compare_ids(attn, tokenizer, texts, tmp, label, known=None):
    """known: the characters the vocabulary has (None: all); texts with others are not
    expected to decode back, since they hold <unk>."""
    hf = Tokenizer.from_file(tokenizer)
    for name, text in texts:
        a = attn_ids(attn, tokenizer, text, tmp)
        h = hf.encode(text).ids
        first = next((i for i, (x, y) in enumerate(zip(a, h)) if x != y), min(len(a), len(h)))
        report(a == h, f"{label}: {name}: attn and HF give the same {len(h)} ids"
               + ("" if a == h else f" (first difference at {first})"))
        if text and a == h and (known is None or set(text.replace(EOT, "")) <= known):
            report(hf.decode(h, skip_special_tokens=False) == text, f"{label}: {name}: HF decodes the ids back")


def check_bpe(attn, path, vocab_size, min_freq, tmp):
    out = os.path.join(tmp, f"bpe{vocab_size}.json")
    t0 = time.perf_counter()
    subprocess.run([attn, "tokenizer", "train", "-i", path, "--vocab-size", str(vocab_size), "--min-frequency",
                    str(min_freq), "-o", out], check=True, capture_output=True)
    t_attn = time.perf_counter() - t0
    ours = json.load(open(out, encoding="utf-8"))
    theirs, t_hf = hf_train(path, vocab_size, min_freq)
    label = f"{os.path.basename(path)} vocab {vocab_size}"
    print(f"      {label}: attn {t_attn:.2f} s (whole command), HF {t_hf:.2f} s (train only)")
    va, vh = ours["model"]["vocab"], theirs["model"]["vocab"]
    report(va == vh, f"{label}: vocabularies identical ({len(va)} vs {len(vh)} tokens"
           + ("" if va == vh else f", same token set: {set(va) == set(vh)}, "
              f"{len(set(va) & set(vh))} shared") + ")")
    ma, mh = merge_strings(ours["model"]), merge_strings(theirs["model"])
    same = sum(x == y for x, y in zip(ma, mh))
    prefix = next((i for i, (x, y) in enumerate(zip(ma, mh)) if x != y), min(len(ma), len(mh)))
    report(ma == mh, f"{label}: merges identical ({len(ma)} vs {len(mh)}; {same} at the same rank, "
           f"first {prefix} equal, {len(set(ma) & set(mh))} in common)")
    text = open(path, encoding="utf-8").read()
    compare_ids(attn, out, [("whole file", text)] + [(repr(s[:20]), s) for s in AWKWARD], tmp, label)


def check_chars(attn, path, tmp):
    out = os.path.join(tmp, "chars.json")
    subprocess.run([attn, "tokenizer", "train", "-i", path, "--chars", "-o", out], check=True, capture_output=True)
    text = open(path, encoding="utf-8").read()
    label = f"{os.path.basename(path)} chars"
    chars = sorted(set(text))
    vocab = json.load(open(out, encoding="utf-8"))["model"]["vocab"]
    report(all(vocab[c] == i for i, c in enumerate(chars)),
           f"{label}: ids are nanoGPT's stoi (sorted(set(text)), {len(chars)} characters)")
    unseen = "".join(sorted({c for s in AWKWARD for c in s} - set(text)))[:8]
    compare_ids(attn, out, [("whole file", text), ("unseen characters -> <unk>", "ab" + unseen + "cd")]
                + [(repr(s[:20]), s) for s in AWKWARD], tmp, label, known=set(text))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--attn", default="build/attn")
    ap.add_argument("--vocab", default="300,4096")
    ap.add_argument("--min-frequency", type=int, default=2)
    ap.add_argument("--write-fixture")
    args = ap.parse_args()
    if args.write_fixture:
        import tokenizers
        vocab = int(args.vocab.split(",")[0])
        model, _ = hf_train(args.files[0], vocab, args.min_frequency)
        with open(args.write_fixture, "w", encoding="utf-8", newline="\n") as f:
            f.write(f"# HF tokenizers {tokenizers.__version__} BpeTrainer (ByteLevel, 256-byte alphabet, "
                    f"<|endoftext|>) on {os.path.basename(args.files[0])}: vocab {vocab}, min_frequency "
                    f"{args.min_frequency}\n")
            f.writelines(m + "\n" for m in merge_strings(model["model"]))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.files:
            for v in map(int, args.vocab.split(",")):
                check_bpe(args.attn, path, v, args.min_frequency, tmp)
            check_chars(args.attn, path, tmp)
    print(f"check_tokenizer_train: {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
