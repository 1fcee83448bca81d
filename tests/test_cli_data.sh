#!/usr/bin/env bash
# test_cli_data.sh - `attn tokenizer train` and `attn data prepare/info` as a user meets them:
# help, option errors, a BPE and a character tokenizer trained on generated text and used by
# `attn tokenize`, shards written and checked, and clear failures on bad input (missing or
# empty files, corrupt shards). Run by tests/run_tests.sh with BUILD set (also under ASan).
set -u
. "$(dirname "$0")/cli_lib.sh"

# a few KB of text, no data files needed
for i in $(seq 1 300); do echo "The king $i shall speak, and the queen shall not; thou art my lord."; done >"$tmp/a.txt"
for i in $(seq 1 100); do echo "Once upon a time there was a little girl named Lily $i."; done >"$tmp/b.txt"

expect "top-level help lists tokenizer" 0 "$attn" --help
contains "help names tokenizer" "$tmp/out" "tokenizer"
contains "help names data" "$tmp/out" "data"
expect "tokenizer train help" 0 "$attn" tokenizer train --help
contains "train help shows --vocab-size" "$tmp/out" "--vocab-size"
expect "data prepare help" 0 "$attn" data prepare --help
contains "prepare help shows --val-fraction" "$tmp/out" "--val-fraction"
expect "tokenizer without subcommand" 2 "$attn" tokenizer
expect "unknown tokenizer subcommand" 2 "$attn" tokenizer frob
contains "subcommand named" "$tmp/err" "'frob'"
expect "train without -o" 2 "$attn" tokenizer train -i "$tmp/a.txt" --vocab-size 300
expect "train with neither size nor chars" 2 "$attn" tokenizer train -i "$tmp/a.txt" -o "$tmp/t.json"
expect "vocab size too small" 2 "$attn" tokenizer train -i "$tmp/a.txt" --vocab-size 100 -o "$tmp/t.json"
contains "range named" "$tmp/err" "--vocab-size (expected a number in [257, 16777216])"
cp "$tmp/a.txt" "$tmp/text.txt"
expect "train -o its own input" 1 "$attn" tokenizer train -i "$tmp/text.txt" --vocab-size 300 -o "$tmp/text.txt"
if cmp -s "$tmp/text.txt" "$tmp/a.txt"; then ok; else bad "tokenizer train replaced its training text"; fi
expect "missing input" 1 "$attn" tokenizer train -i "$tmp/nope.txt" --vocab-size 300 -o "$tmp/t.json"
contains "missing input named" "$tmp/err" "nope.txt"

# byte-level BPE: two inputs after one -i
expect "train bpe" 0 "$attn" tokenizer train -i "$tmp/a.txt" "$tmp/b.txt" --vocab-size 300 -o "$tmp/bpe.json"
contains "train summary" "$tmp/out" "300 tokens (43 merges)"
contains "two files read" "$tmp/out" "in 2 files"
expect "tokenize with it" 0 "$attn" tokenize --tokenizer "$tmp/bpe.json" -p "The king shall speak" --show
contains "a merged token" "$tmp/out" '" king"'
expect "special token is id 0" 0 "$attn" tokenize --tokenizer "$tmp/bpe.json" -p "<|endoftext|>" --special
contains "eot id" "$tmp/out" "0"
expect "unreachable size" 0 "$attn" tokenizer train -i "$tmp/b.txt" --vocab-size 5000 -o "$tmp/small.json"
contains "ran out of pairs" "$tmp/err" "only"

# characters
expect "train chars" 0 "$attn" tokenizer train -i "$tmp/b.txt" --chars -o "$tmp/chars.json"
contains "chars summary" "$tmp/out" "characters + <|endoftext|> + <unk>"
expect "tokenize chars" 0 "$attn" tokenize --tokenizer "$tmp/chars.json" -p "Lily"
n_unk=$("$attn" tokenize --tokenizer "$tmp/chars.json" -p "Z" 2>/dev/null)
n_ids=$(grep -c . <(tr ' ' '\n' <"$tmp/out"))
if [ "$n_ids" -eq 4 ]; then ok; else bad "chars: 'Lily' gave $n_ids ids"; fi
if [ -n "$n_unk" ]; then ok; else bad "chars: an unseen character did not encode (to <unk>)"; fi
# a NUL byte would be written as "\u0000", which attn's JSON reader cannot load back: refused
printf 'ab\0cd\n' >"$tmp/nul.txt"
expect "chars with a NUL byte" 1 "$attn" tokenizer train -i "$tmp/nul.txt" --chars -o "$tmp/nul.json"
contains "NUL named with its file" "$tmp/err" "$tmp/nul.txt: characters: the text has a NUL byte (at byte 2)"
if [ -e "$tmp/nul.json" ]; then bad "a tokenizer.json was written for a text with a NUL byte"; else ok; fi

# data prepare and info
expect "prepare" 0 "$attn" data prepare -i "$tmp/a.txt" "$tmp/b.txt" -o "$tmp/d" --tokenizer "$tmp/bpe.json"
contains "prepare summary" "$tmp/out" "train +"
contains "prepare speed" "$tmp/out" "MB/s"
for f in train.bin val.bin tokenizer.json; do
    if [ -f "$tmp/d/$f" ]; then ok; else bad "prepare did not write $f"; fi
done
expect "info" 0 "$attn" data info "$tmp/d/train.bin" "$tmp/d/val.bin"
contains "info fields" "$tmp/out" "version 1"
contains "info width" "$tmp/out" "uint16"
expect "prepare chars, all train" 0 "$attn" data prepare -i "$tmp/b.txt" -o "$tmp/c" --tokenizer "$tmp/chars.json" --val-fraction 0
contains "chars token count" "$tmp/out" "$(wc -c <"$tmp/b.txt" | tr -d ' ') train + 0 val"
expect "prepare with a folder as tokenizer" 0 "$attn" data prepare -i "$tmp/b.txt" -o "$tmp/e" --tokenizer "$tmp/d"

: >"$tmp/empty.txt"
expect "empty input" 1 "$attn" data prepare -i "$tmp/empty.txt" -o "$tmp/x" --tokenizer "$tmp/bpe.json"
contains "empty named" "$tmp/err" "empty"
expect "missing tokenizer" 1 "$attn" data prepare -i "$tmp/a.txt" -o "$tmp/x" --tokenizer "$tmp/none.json"
contains "missing tokenizer named" "$tmp/err" "none.json"
expect "missing text" 1 "$attn" data prepare -i "$tmp/none.txt" -o "$tmp/x" --tokenizer "$tmp/bpe.json"
expect "bad val fraction" 2 "$attn" data prepare -i "$tmp/a.txt" -o "$tmp/x" --tokenizer "$tmp/bpe.json" --val-fraction 1.5
expect "prepare without tokenizer" 2 "$attn" data prepare -i "$tmp/a.txt" -o "$tmp/x"
if [ ! -e "$tmp/x/train.bin" ]; then ok; else bad "a failed prepare left a shard"; fi
# an output that is, or would write over, one of the input texts is refused before any work
mkdir -p "$tmp/o"
cp "$tmp/a.txt" "$tmp/o/train.bin"
cp "$tmp/a.txt" "$tmp/o/tokenizer.json"
cp "$tmp/a.txt" "$tmp/keep.txt"
expect "-o is an input file" 1 "$attn" data prepare -i "$tmp/keep.txt" -o "$tmp/keep.txt" --tokenizer "$tmp/bpe.json"
contains "-o input named" "$tmp/err" "overwrite the input"
expect "-o would write train.bin over an input" 1 "$attn" data prepare -i "$tmp/o/train.bin" -o "$tmp/o" --tokenizer "$tmp/bpe.json"
contains "train.bin input named" "$tmp/err" "$tmp/o/train.bin"
expect "-o would copy the tokenizer over an input" 1 "$attn" data prepare -i "$tmp/b.txt" "$tmp/o/tokenizer.json" -o "$tmp/o" --tokenizer "$tmp/bpe.json"
contains "tokenizer.json input named" "$tmp/err" "overwrite the input"
for f in keep.txt o/train.bin o/tokenizer.json; do
    if cmp -s "$tmp/$f" "$tmp/a.txt"; then ok; else bad "prepare replaced its input $f"; fi
done
if [ ! -e "$tmp/o/val.bin" ]; then ok; else bad "a refused prepare wrote val.bin"; fi
cp "$tmp/a.txt" "$tmp/o/a.txt"
expect "an input inside the output folder (not written over) is fine" 0 "$attn" data prepare -i "$tmp/o/a.txt" -o "$tmp/o" --tokenizer "$tmp/bpe.json"
if cmp -s "$tmp/o/a.txt" "$tmp/a.txt"; then ok; else bad "prepare changed an input in its output folder"; fi

head -c 300 "$tmp/d/train.bin" >"$tmp/trunc.bin"
expect "truncated shard" 1 "$attn" data info "$tmp/trunc.bin"
contains "truncated named" "$tmp/err" "truncated"
expect "not a shard" 1 "$attn" data info "$tmp/a.txt"
contains "magic named" "$tmp/err" "not an attn token shard"
cp "$tmp/d/val.bin" "$tmp/badid.bin"
printf '\xff\xff' | dd of="$tmp/badid.bin" bs=1 seek=300 conv=notrunc status=none
expect "id beyond the vocabulary" 1 "$attn" data info "$tmp/badid.bin"
contains "bad id named" "$tmp/err" "not below the vocabulary size 300"
expect "info without files" 2 "$attn" data info

echo "test_cli_data: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
