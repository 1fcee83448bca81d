#!/usr/bin/env bash
# test_bleu_cli.sh - `attn bleu` against the `sacrebleu` command line: the "cli" corpus of
# tests/fixtures/bleu_cases.json (two references, an empty line, trailing spaces, a CR) gives
# the lines sacrebleu printed for it (corpus, --tokenize none -lc, --sentence-level); --json and
# stdin work; bad input (line counts, UTF-8, NUL bytes, missing files, options) gives one clear
# line. Run by tests/run_tests.sh with BUILD set.
set -u
. "$(dirname "$0")/cli_lib.sh"
fixture=tests/fixtures/bleu_cases.json
lines_equal() { # description, file, expected file
    if cmp -s "$2" "$3"; then ok; else bad "$1: got"$'\n'"$(head -c 600 "$2")"$'\n'"sacrebleu:"$'\n'"$(head -c 600 "$3")"; fi
}
one_line_error() { # description: the last command wrote exactly one line to stderr, starting "attn bleu:"
    if [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q '^attn bleu: ' "$tmp/err"; then ok; else bad "$1: $(cat "$tmp/err")"; fi
}

# --- bad input (no Python needed) ---
printf 'a b c\nd e f\n' >"$tmp/two.txt"
printf 'a b c\nd e f\ng h\n' >"$tmp/three.txt"
expect "line counts differ" 1 "$attn" bleu "$tmp/two.txt" "$tmp/three.txt"
contains "names both counts" "$tmp/err" "two.txt has 2 lines but $tmp/three.txt has 3"
one_line_error "line count error"
printf 'fine\nbad \xff byte\n' >"$tmp/bad.txt"
expect "invalid UTF-8" 1 "$attn" bleu "$tmp/two.txt" "$tmp/bad.txt"
contains "names the line" "$tmp/err" "bad.txt line 2: invalid UTF-8 at byte 5"
one_line_error "UTF-8 error"
printf 'a\0b\nc\n' >"$tmp/nul.txt"
expect "NUL byte" 1 "$attn" bleu "$tmp/nul.txt" "$tmp/two.txt"
contains "NUL named" "$tmp/err" "nul.txt line 1: contains a NUL byte"
expect "missing file" 1 "$attn" bleu "$tmp/two.txt" "$tmp/nope.txt"
contains "missing file named" "$tmp/err" "nope.txt: cannot open"
one_line_error "missing file"
: >"$tmp/empty.txt"
expect "empty hypothesis file" 1 "$attn" bleu "$tmp/empty.txt" "$tmp/empty.txt"
contains "empty named" "$tmp/err" "empty.txt is empty"
expect "no reference" 2 "$attn" bleu "$tmp/two.txt"
contains "asks for a reference" "$tmp/err" "at least one reference"
expect "unknown tokenizer" 2 "$attn" bleu "$tmp/two.txt" "$tmp/two.txt" --tokenize zh
contains "lists tokenizers" "$tmp/err" "13a, intl or none"
expect "unknown option" 2 "$attn" bleu "$tmp/two.txt" "$tmp/two.txt" --smooth floor
expect "help" 0 "$attn" bleu --help
contains "help shows usage" "$tmp/out" "attn bleu HYP REF"
expect "listed by attn --help" 0 "$attn" --help
contains "bleu in the command list" "$tmp/out" "bleu"

# identical files score 100; a missing final newline changes nothing
printf 'a b c d\nd e f g' >"$tmp/no_newline.txt"
printf 'a b c d\nd e f g\n' >"$tmp/newline.txt"
expect "identical" 0 "$attn" bleu "$tmp/no_newline.txt" "$tmp/newline.txt"
contains "100" "$tmp/out" "BLEU = 100.00 100.0/100.0/100.0/100.0 (BP = 1.000 ratio = 1.000 hyp_len = 8 ref_len = 8)"

expect "three-word lines" 0 "$attn" bleu "$tmp/two.txt" "$tmp/two.txt"
contains "no 4-grams: 0, as sacrebleu" "$tmp/out" "BLEU = 0.00 100.0/100.0/100.0/0.0 (BP = 1.000"
contains "says why it is 0" "$tmp/err" "no 4-grams"

# --- against the sacrebleu command line ---
command -v python3 >/dev/null || { echo "SKIP: python3 is needed to read $fixture"; exit 77; }
python3 - "$fixture" "$tmp" <<'EOF' || { bad "cannot read $fixture"; exit 1; }
import json, sys
case = json.load(open(sys.argv[1], encoding="utf-8"))["cli"]
def write(name, lines):
    with open(f"{sys.argv[2]}/{name}", "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(line + "\n" for line in lines))
write("hyp.txt", case["hyps"])
write("ref1.txt", case["refs"][0])
write("ref2.txt", case["refs"][1])
e = case["expected"]
write("want_corpus.txt", ["BLEU = " + e["corpus"]])
write("want_lc_none.txt", ["BLEU = " + e["corpus_lc_none"]])
write("want_sentence.txt", ["BLEU = " + line for line in e["sentence"]])
EOF
h=$tmp/hyp.txt r1=$tmp/ref1.txt r2=$tmp/ref2.txt
expect "corpus" 0 "$attn" bleu "$h" "$r1" "$r2"
lines_equal "corpus BLEU" "$tmp/out" "$tmp/want_corpus.txt"
expect "tokenized lowercased" 0 "$attn" bleu "$h" "$r1" "$r2" --tokenize none --lowercase
lines_equal "--tokenize none --lowercase" "$tmp/out" "$tmp/want_lc_none.txt"
expect "sentence" 0 "$attn" bleu --sentence "$h" "$r1" "$r2"
lines_equal "sentence BLEU" "$tmp/out" "$tmp/want_sentence.txt"
expect "stdin" 0 sh -c '"$0" bleu - "$1" "$2" <"$3"' "$attn" "$r1" "$r2" "$h"
lines_equal "hypothesis from stdin" "$tmp/out" "$tmp/want_corpus.txt"
expect "json" 0 "$attn" bleu "$h" "$r1" "$r2" --json
if python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
want = open(sys.argv[2]).read().strip()
assert o["text"] == want, (o["text"], want)
assert want.startswith("BLEU = %.2f " % o["score"]), o["score"]
assert o["signature"] == "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp", o["signature"]
assert len(o["counts"]) == 4 and o["hyp_len"] > 0
' "$tmp/out" "$tmp/want_corpus.txt"; then ok; else bad "--json output: $(head -c 400 "$tmp/out")"; fi
expect "sentence json" 0 "$attn" bleu "$h" "$r1" "$r2" --json --sentence
if [ "$(grep -c '"signature":"nrefs:2|case:mixed|eff:yes|' "$tmp/out")" -eq "$(wc -l <"$h")" ]; then ok
else bad "--sentence --json: one object per line, eff:yes: $(head -c 300 "$tmp/out")"; fi

echo "test_bleu_cli: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
