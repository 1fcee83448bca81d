#!/usr/bin/env python3
"""make_bleu_fixtures.py - BLEU scores and tokenizations computed by PyPI `sacrebleu` itself, so
tests/test_bleu.c and tests/test_bleu_cli.sh can check that `attn bleu` gives the same numbers.

    python3 -m pip install sacrebleu
    tools/make_bleu_fixtures.py [--data ../shared/data/multi30k] > tests/fixtures/bleu_cases.json

Cases (deterministic: a fixed seed):
  "tokenize": hand-written edge strings (punctuation, numbers, hyphens, quotes, HTML entities,
      "<skipped>", "-\\n" joins, Unicode punctuation, whitespace, final sigma, İ), real Multi30k
      sentences and every character with a lowercase mapping in Unicode 3.2, through
      sacrebleu's own preprocessing (lowercase, rstrip, tokenizer): for each of 13a, intl and
      none, the tokens ' '.join(result.split()) cased and lowercased.
  "sentence": sacrebleu's sentence BLEU (effective order) of corrupted Multi30k sentences
      (English and German) against 1-3 references, plus edge cases (empty, 1-3 words, no
      4-gram match, ties between reference lengths, repeated words, entities, case).
  "corpus": corpus BLEU of small corrupted corpora and edge corpora (all short, empty lines,
      empty hypothesis...).
  "cli": one corpus written to files and scored by the `sacrebleu` command line itself, with
      the text line for the corpus and for --sentence-level, as tests/test_bleu_cli.sh expects.
Each BLEU case stores score, bp, counts, totals, hyp_len, ref_len and str(score) (two
decimals, as attn prints; it shows the precisions and the ratio).
Tested with sacrebleu 2.6.0, Python 3.11."""
import argparse
import gzip
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import unicodedata

import sacrebleu
from sacrebleu.metrics import BLEU

logging.getLogger("sacrebleu").setLevel(logging.ERROR)
SEED = 20240506
TOKENIZERS = ["13a", "intl", "none"]

EDGE_STRINGS = [
    "", " ", "Hello, world!", "The cat sat on the mat.", "  leading and trailing spaces  ",
    "1,000,000.50 dollars", "3.14 is pi, 2,5 in German", "In 1999. And 2000,", "a.b,c", "x.,y", "..", "...", "1.",
    ".5", "5.", "-5", "5-6", "5 - 6", "well-known e-mail", "3-year-old", "A-1", "9--10", "-- dash --",
    "\"quoted\" and 'single' quotes", "it's John's", "rock 'n' roll", "(parens) [brackets] {braces}",
    "a/b\\c|d~e^f_g`h", "#hashtag @user $5 % & * + = < > ? ! ; :", "e.g. i.e. U.S.A.",
    "&quot;quoted&quot; &amp; &lt;tag&gt;", "&amp;lt; double &amp;amp; escaped", "&apos;not unescaped&apos; &#39;",
    "AT&T", "<skipped> removed <skipped>", "line-\njoined", "line\nbreak", "-\n", "tab\tseparated\tvalues",
    "carriage return\r", "trailing\r\n", "non\u00a0breaking\u2009thin\u3000ideographic",
    "file\x1cgroup\x1drecord\x1eunit\x1fseparators\x85next", "zero\u200bwidth\u200bspace", "soft\u00adhyphen",
    "«Guillemets» „Anführungszeichen“ “curly” ‘single’", "Ellipsis… em—dash en–dash", "¿Qué? ¡Sí!",
    "Straße Ärger Öl Über", "ΟΔΟΣ ΟΔΟΣ. ΟΔΟΣ.Α ΣΑ Σ", "İstanbul I ı", "ǅ ǈ ǋ titlecase", "ﬁ ligature ß",
    "日本語のテキスト、句読点。", "中文，标点！", "emoji 👍🏽 test 🎉!", "e\u0301 combining acute", "٣٤٥ Arabic-Indic digits",
    "x²+y²=z² ½ ⅓", "ªΣ ºΣ 🄰Σ Σ̈ ΑΣ' ΑΣ'Α ΑΣ.Α", "€100 £5 ¥3", "→ arrows ← and ≥ math ≤", "ª º ordinals", "price: $1,234.56!",
    "multiple   spaces\t\tand tabs", "Ends with a tokenized period .", "A man , a plan , a canal : Panama !",
]


def read_gz_lines(path):
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as f:
        return [line.rstrip("\n") for line in f]


def preprocess(text, tokenize, lowercase):
    """The tokens sacrebleu counts: its own _preprocess_segment, then str.split()."""
    return " ".join(BLEU(tokenize=tokenize, lowercase=lowercase)._preprocess_segment(text).split())


def lowercase_table_string():
    """Every character with a lowercase mapping that Unicode 3.2 already had (stable across
    Python versions, so the fixture does not depend on the Unicode version that made it)."""
    old = unicodedata.ucd_3_2_0
    chars = [chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xE000 and old.category(chr(c)) != "Cn"
             and chr(c).lower() != chr(c)]
    return " ".join("".join(chars[i:i + 40]) for i in range(0, len(chars), 40))


def tokenize_cases(en, de, rng):
    texts = EDGE_STRINGS + rng.sample(en, 15) + rng.sample(de, 15)
    cases = [{"text": t, **{tok: [preprocess(t, tok, False), preprocess(t, tok, True)] for tok in TOKENIZERS}}
             for t in texts + [lowercase_table_string()]]
    return cases


def corrupt(words, rng, vocab):
    """A random edit of a word list, like a translation that is nearly right."""
    words = list(words)
    op = rng.randrange(9)
    i = rng.randrange(len(words)) if words else 0
    if not words or op == 0:
        words.insert(i, rng.choice(vocab))
    elif op == 1:
        del words[i]
    elif op == 2 and len(words) > 1:
        j = min(i + 1, len(words) - 1)
        words[i], words[j] = words[j], words[i]
    elif op == 3:
        words[i] = rng.choice(vocab)
    elif op == 4:
        words.insert(i, words[i])
    elif op == 5:
        words = words[:max(1, len(words) * rng.randint(3, 9) // 10)]
    elif op == 6:
        words[i] = words[i].upper() if rng.random() < 0.5 else words[i].lower()
    elif op == 7:
        words[-1] = words[-1].rstrip(".") if words[-1].endswith(".") else words[-1] + rng.choice([".", ",", "!", " ."])
    else:
        words[i] = words[i] + rng.choice([",", "-", "'s", "&amp;", "\"", "-" + rng.choice(vocab)])
    return words


def hypothesis_of(ref, rng, vocab):
    words = ref.split()
    for _ in range(rng.choice([0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 6])):
        words = corrupt(words, rng, vocab)
    return " ".join(words)


def score_record(score):
    return {"score": score.score, "bp": score.bp, "counts": list(score.counts), "totals": list(score.totals),
            "hyp_len": score.sys_len, "ref_len": score.ref_len, "text": str(score)}


def sentence_case(hyp, refs, tokenize="13a", lowercase=False):
    score = BLEU(tokenize=tokenize, lowercase=lowercase, effective_order=True).sentence_score(hyp, refs)
    if tokenize == "13a" and not lowercase:  # the convenience function agrees
        assert sacrebleu.sentence_bleu(hyp, refs).score == score.score
    return {"tokenize": tokenize, "lowercase": lowercase, "hyp": hyp, "refs": refs, **score_record(score)}


def corpus_case(hyps, ref_streams, tokenize="13a", lowercase=False):
    score = BLEU(tokenize=tokenize, lowercase=lowercase).corpus_score(hyps, ref_streams)
    if tokenize == "13a" and not lowercase:
        assert sacrebleu.corpus_bleu(hyps, ref_streams).score == score.score
    return {"tokenize": tokenize, "lowercase": lowercase, "hyps": hyps, "refs": ref_streams, **score_record(score)}


def random_options(rng):
    return rng.choice([("13a", False)] * 4 + [("13a", True), ("intl", False), ("none", True), ("none", False)])


EDGE_SENTENCES = [
    ("", ["A dog runs."]), ("", [""]), ("A dog runs.", [""]), ("dog", ["dog"]), ("dog", ["A dog runs."]),
    ("a dog", ["a dog runs"]), ("a dog runs", ["a dog runs"]), ("runs dog a", ["a dog runs"]),
    ("the the the the the the the", ["the cat is on the mat"]), ("the cat", ["the cat is on the mat"]),
    ("A man in a red shirt", ["A man in a blue shirt is walking"]),
    ("A man is walking down the street", ["A woman is walking down the street ."]),
    ("cat mat on sat the", ["the cat sat on the mat"]), ("completely unrelated words here", ["a dog runs fast"]),
    ("a b c d e", ["a b c d", "a b c d e f"]), ("a b c d e", ["a b c d e f", "a b c d"]),
    ("a b c d e", ["x y z w", "a b q d e f"]), ("one two three four five six", ["one two", "three four five six"]),
    ("Hello , world !", ["Hello, world!"]), ("&quot;Hi&quot; &amp; bye", ["\"Hi\" & bye"]),
    ("THE CAT SAT", ["the cat sat"]), ("1,000 people", ["1,000 people."]), ("well-known fact", ["well - known fact"]),
    ("ΟΔΟΣ", ["οδος"]), ("Straße", ["STRASSE"]), ("İ", ["i̇"]), ("«Oui»", ["« Oui »"]),
]


def sentence_cases(en, de, rng):
    cases = []
    for hyp, refs in EDGE_SENTENCES:
        for tok, lc in (("13a", False), ("13a", True), ("none", True), ("intl", False)):
            cases.append(sentence_case(hyp, refs, tok, lc))
    for lines in (en, de):
        vocab = [w for line in lines[:2000] for w in line.split()]
        for _ in range(100):
            ref = rng.choice(lines)
            refs = [ref] + [hypothesis_of(ref, rng, vocab) for _ in range(rng.choice([0, 0, 1, 2]))]
            hyp = hypothesis_of(ref, rng, vocab)
            cases.append(sentence_case(hyp, refs, *random_options(rng)))
    return cases


def random_corpus(lines, rng, n_segments, n_refs):
    vocab = [w for line in lines[:2000] for w in line.split()]
    refs = rng.sample(lines, n_segments)
    hyps = [hypothesis_of(r, rng, vocab) for r in refs]
    streams = [refs] + [[hypothesis_of(r, rng, vocab) for r in refs] for _ in range(n_refs - 1)]
    return hyps, streams


def corpus_cases(en, de, rng):
    short = ["a", "a b", "a b c", "b c", ""]
    cases = [
        corpus_case(["a b", "a b c"], [["a b", "a b c"]]),                        # no 4-grams at all: 0
        corpus_case(["", ""], [["a dog", "a cat"]]),                               # empty hypothesis
        corpus_case(["", "a"], [["", ""]]),                                        # empty references
        corpus_case(["the dog barks", "", "a cat"], [["the dog barks loudly", "", "a cat sleeps"]]),
        corpus_case(short, [short[::-1]]),
        corpus_case(["x y z w v", "p q r s t"], [["x y z w v", "p q r s t"]]),    # perfect: 100
        corpus_case(["x y z w v u"], [["x y q w v u"]]),                           # no 4-gram match: exp smoothing
        corpus_case(["A B C D", "e f g h"], [["a b c d", "E F G H"]], "13a", True),
        corpus_case(["a b c d e"] * 3, [["a b c d", "a b c d e f", "a b"], ["a b c d e f", "a b c d", "a b c"]]),
    ]
    for lines in (en, de):
        for _ in range(8):
            hyps, streams = random_corpus(lines, rng, rng.randint(5, 25), rng.choice([1, 1, 2, 3]))
            cases.append(corpus_case(hyps, streams, *random_options(rng)))
    hyps, streams = random_corpus(en, rng, 150, 1)
    cases.append(corpus_case(hyps, streams))
    return cases


def cli_case(de, rng):
    """A German corpus with two references, some lines with trailing spaces or CR, an empty line;
    the expected lines come from the sacrebleu command itself (width 2, text format)."""
    hyps, (ref1, ref2) = random_corpus(de, rng, 40, 2)
    hyps[3], ref1[7], hyps[11] = "", ref1[7] + "  ", hyps[11] + "\r"
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, name) for name in ("hyp.txt", "ref1.txt", "ref2.txt")]
        for path, lines in zip(paths, (hyps, ref1, ref2)):
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write("\n".join(lines) + "\n")

        def run(*extra):
            cmd = [sys.executable, "-m", "sacrebleu", paths[1], paths[2], "-i", paths[0], "-w", "2", "-f", "text"]
            out = subprocess.run(cmd + list(extra), check=True, capture_output=True, text=True).stdout
            return [line.split(" = ", 1)[1] for line in out.splitlines()]

        expected = {
            "corpus": run()[0], "corpus_lc_none": run("-lc", "--tokenize", "none")[0],
            "sentence": run("--sentence-level"),
        }
    api = BLEU().corpus_score(hyps, [ref1, ref2])
    assert "BLEU = " + expected["corpus"] == str(api), (expected["corpus"], str(api))
    return {"hyps": hyps, "refs": [ref1, ref2], "expected": expected}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../shared/data/multi30k"))
    args = parser.parse_args()
    en = read_gz_lines(os.path.join(args.data, "test_2016_flickr.en.gz")) + read_gz_lines(
        os.path.join(args.data, "val.en.gz"))
    de = read_gz_lines(os.path.join(args.data, "test_2016_flickr.de.gz")) + read_gz_lines(
        os.path.join(args.data, "val.de.gz"))
    rng = random.Random(SEED)
    fixture = {
        "sacrebleu_version": sacrebleu.__version__,
        "tokenize": tokenize_cases(en, de, rng),
        "sentence": sentence_cases(en, de, rng),
        "corpus": corpus_cases(en, de, rng),
        "cli": cli_case(de, rng),
    }
    json.dump(fixture, sys.stdout, ensure_ascii=False, separators=(",", ":"))
    sys.stdout.write("\n")
    print(f"{len(fixture['tokenize'])} tokenizations, {len(fixture['sentence'])} sentence and "
          f"{len(fixture['corpus'])} corpus scores", file=sys.stderr)


if __name__ == "__main__":
    main()
