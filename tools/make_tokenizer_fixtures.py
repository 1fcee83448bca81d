#!/usr/bin/env python3
"""make_tokenizer_fixtures.py - writes the reference data tests/test_tokenizer.c checks the
GPT-2 tokenizer against, computed with tiktoken's own "gpt2" encoding (built offline from the
local vocab.bpe + encoder.json, with tiktoken's own regex) and cross-checked with Hugging Face
`tokenizers` on tokenizer.json.

Writes, into tests/fixtures/tokenizer/:
  tiktoken_gpt2.tsv          per piece of each corpus file: offset, length, token count and a
                             64-bit FNV-1a hash of the ids (each id as 4 little-endian bytes).
                             Pieces end at a line end after every PIECE_BYTES bytes.
  tiktoken_gpt2_classes.tsv  every code point range that tiktoken's regex treats as a letter
                             (L), number (N) or white space (S); all others are "other".

Usage: tools/make_tokenizer_fixtures.py [DATA_DIR]   (default $ATTN_DATA or ../shared/data)
Deterministic: the same data gives byte-identical fixtures. Needs tiktoken, tokenizers.
"""
import gzip
import os
import sys

os.environ["TIKTOKEN_CACHE_DIR"] = ""  # read the local files directly, never the network

import tiktoken  # noqa: E402
import tiktoken.load  # noqa: E402
from tiktoken_ext import openai_public  # noqa: E402

PIECE_BYTES = 32768
# Corpus files, relative to the data dir. .gz files are read decompressed.
CORPORA = [
    "text/tinyshakespeare.txt",
    "text/tinystories-lowercase-4M.txt",
    "multi30k/train.de.gz",
    "text/brown-tagged.txt.gz",
]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(REPO, "tests", "fixtures", "tokenizer")


def data_dir():
    if len(sys.argv) > 1:
        return sys.argv[1]
    if os.environ.get("ATTN_DATA"):
        return os.environ["ATTN_DATA"]
    return os.path.join(REPO, "..", "shared", "data")


def gpt2_encoding(data):
    """tiktoken's gpt2 encoding, exactly as tiktoken_ext.openai_public.gpt2() builds it,
    but from local copies of the same files (their sha256 is checked)."""
    ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=os.path.join(data, "gpt2", "vocab.bpe"),
        encoder_json_file=os.path.join(data, "gpt2", "encoder.json"),
        vocab_bpe_hash="1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
        encoder_json_hash="196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    )
    return tiktoken.Encoding(
        name="gpt2",
        explicit_n_vocab=50257,
        pat_str=openai_public.r50k_pat_str,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 50256},
    )


def fnv1a64(ids):
    h = 0xCBF29CE484222325
    for i in ids:
        for b in int(i).to_bytes(4, "little", signed=True):
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def read_corpus(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def pieces(data):
    """(offset, length) blocks that end just after a newline once PIECE_BYTES have passed."""
    out, start = [], 0
    while start < len(data):
        nl = data.find(b"\n", start + PIECE_BYTES)
        end = len(data) if nl < 0 else nl + 1
        out.append((start, end - start))
        start = end
    return out


def corpus_rows(enc, hf, data):
    rows, total, hf_mismatch = [], 0, 0
    for name in CORPORA:
        raw = read_corpus(os.path.join(data, name))
        spans = pieces(raw)
        texts = [raw[o:o + n].decode("utf-8") for o, n in spans]  # all corpora are UTF-8
        ids = enc.encode_ordinary_batch(texts)
        hf_ids = [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)] if hf else ids
        for (o, n), a, b in zip(spans, ids, hf_ids):
            if a != b:
                hf_mismatch += 1
                if hf_mismatch <= 5:
                    print(f"  HF differs from tiktoken: {name} offset {o}", file=sys.stderr)
            rows.append(f"{name}\t{o}\t{n}\t{len(a)}\t{fnv1a64(a):016x}")
        total += len(raw)
        print(f"{name}: {len(raw)} bytes, {len(spans)} pieces, {sum(map(len, ids))} tokens")
    print(f"all: {total / 1e6:.2f} MB, {len(rows)} pieces, HF tokenizers mismatches: {hf_mismatch}")
    return rows


def classify_block(lo, hi):
    """Asks tiktoken itself which alternative of its regex each code point falls in: a probe
    encoding knows only the 256 bytes and the probe strings, and tiktoken returns a probe's
    own token only when its regex keeps the probe in one piece. "aX" is one piece iff X is a
    letter, "1X" iff a number, "!X" iff other, "X\\t" at the end iff white space."""
    probes = {"L": "a{}", "N": "1{}", "O": "!{}", "S": "{}\t"}
    cps = [c for c in range(lo, hi) if not 0xD800 <= c <= 0xDFFF]
    ranks = {bytes([b]): b for b in range(256)}
    for c in cps:
        for p in probes.values():
            ranks.setdefault(p.format(chr(c)).encode(), len(ranks))
    enc = tiktoken.Encoding("probe", pat_str=openai_public.r50k_pat_str,
                            mergeable_ranks=ranks, special_tokens={})
    out = {}
    for c in cps:
        hits = [k for k, p in probes.items() if len(enc.encode_ordinary(p.format(chr(c)))) == 1]
        if len(hits) != 1:
            raise SystemExit(f"U+{c:04X}: ambiguous class {hits}")
        out[c] = hits[0]
    return out


def class_rows():
    rows, cur = [], None  # cur = [start, end, class]
    for lo in range(0, 0x110000, 0x10000):
        block = classify_block(lo, lo + 0x10000)
        for c in range(lo, lo + 0x10000):
            k = block.get(c, "O")
            if cur and k == cur[2] and c == cur[1] + 1:
                cur[1] = c
                continue
            if cur and cur[2] != "O":
                rows.append(f"{cur[0]:x}\t{cur[1]:x}\t{cur[2]}")
            cur = [c, c, k]
    if cur[2] != "O":
        rows.append(f"{cur[0]:x}\t{cur[1]:x}\t{cur[2]}")
    print(f"classes: {len(rows)} ranges of L/N/S code points")
    return rows


def check_vocab_tests(enc, data):
    base = os.path.join(data, "vocab-tests", "ggml-vocab-gpt-2.gguf")
    with open(base + ".inp", "rb") as f:
        inputs = f.read().split(b"\n__ggml_vocab_test__\n")
    if inputs and inputs[-1] == b"":
        inputs.pop()
    with open(base + ".out") as f:
        expected = [[int(x) for x in line.split()] for line in f.read().split("\n")[: len(inputs)]]
    ok = sum(enc.encode_ordinary(i.decode()) == e for i, e in zip(inputs, expected))
    print(f"llama.cpp vocab tests agree with tiktoken: {ok}/{len(inputs)}")


def write(name, header, rows):
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, name), "w", newline="\n") as f:
        f.write("".join(f"# {h}\n" for h in header))
        f.write("\n".join(rows) + "\n")


def main():
    data = data_dir()
    enc = gpt2_encoding(data)
    try:
        from tokenizers import Tokenizer
        hf = Tokenizer.from_file(os.path.join(data, "gpt2", "tokenizer.json"))
        hf.no_truncation()  # this tokenizer.json asks to truncate to 50 tokens
        hf.no_padding()
    except ImportError:
        hf = None
        print("tokenizers not installed: skipping the HF cross-check")
    check_vocab_tests(enc, data)
    write("tiktoken_gpt2.tsv", [
        f"tiktoken {tiktoken.__version__} gpt2 encode_ordinary, by tools/make_tokenizer_fixtures.py",
        "file (in the data dir; .gz read decompressed)\toffset\tlength\ttokens\tfnv1a64 of ids (int32 LE)",
    ], corpus_rows(enc, hf, data))
    write("tiktoken_gpt2_classes.tsv", [
        f"tiktoken {tiktoken.__version__} r50k_pat_str classes, by tools/make_tokenizer_fixtures.py",
        "first\tlast (hex code points)\tclass: L letter, N number, S white space; others: other",
    ], class_rows())


if __name__ == "__main__":
    main()
