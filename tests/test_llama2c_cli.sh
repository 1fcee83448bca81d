#!/usr/bin/env bash
# test_llama2c_cli.sh - `attn generate` on llama2.c .bin checkpoints: the committed fixture
# greedy-decodes the same tokens as its safetensors twin; a model.bin finds llama2.c's
# tokenizer.bin beside it (or takes --tokenizer); a broken .bin fails with one line. The
# vocab-32000 model here has all-zero weights (header by printf, zeros by head -c): it only
# checks that the files pair up. Run by tests/run_tests.sh with BUILD set.
set -u
. "$(dirname "$0")/cli_lib.sh"
bin=tests/fixtures/llama2c/llama-gqa-tied-f32.bin
data=${ATTN_DATA:-../shared/data}
tokens() { sed -n 's/.*"tokens": \[\([^]]*\)\].*/\1/p' "$tmp/out"; }

ids="96 5 17 33 2 71"
expect "fixture .bin generate" 0 "$attn" generate -m "$bin" --ids "$ids" -n 16 --temp 0 --ignore-eos --json -t 2
from_bin=$(tokens)
expect "fixture safetensors generate" 0 "$attn" generate -m tests/fixtures/llama/llama-gqa-tied-f32 --ids "$ids" -n 16 \
    --temp 0 --ignore-eos --json -t 2
if [ -n "$from_bin" ] && [ "$from_bin" = "$(tokens)" ]; then ok; else bad "greedy: .bin '$from_bin', safetensors '$(tokens)'"; fi

expect "no tokenizer beside a .bin" 1 "$attn" generate -m "$bin" -p "Hello"
contains "names tokenizer.bin" "$tmp/err" "tokenizer.bin"

head -c 1000 "$bin" >"$tmp/truncated.bin"
expect "truncated .bin" 1 "$attn" generate -m "$tmp/truncated.bin" --ids "1 2"
contains "says truncated" "$tmp/err" "truncated llama2.c checkpoint"
if [ "$(wc -l <"$tmp/err")" -le 1 ]; then ok; else bad "error is more than one line: $(cat "$tmp/err")"; fi

mkfifo "$tmp/pipe.bin"
expect "a named pipe as the .bin" 1 timeout 20 "$attn" generate -m "$tmp/pipe.bin" --ids "1 2"
contains "refused, not waited on" "$tmp/err" "pipe.bin: not a regular file"

if [ -r "$data/llama2c/tokenizer.bin" ]; then
    # dim 8, hidden 16, 1 layer, 2 heads, 2 kv heads, vocab 32000 (shared), seq_len 16
    mkdir "$tmp/stories"
    printf '\x08\0\0\0\x10\0\0\0\x01\0\0\0\x02\0\0\0\x02\0\0\0\x00\x7d\0\0\x10\0\0\0' >"$tmp/stories/model.bin"
    head -c $(((32000 * 8 + 2 * 8 + 2 * 64 + 2 * 64 + 3 * 16 * 8 + 8 + 16 * 4) * 4)) /dev/zero >>"$tmp/stories/model.bin"
    ln -s "$(realpath "$data/llama2c/tokenizer.bin")" "$tmp/stories/tokenizer.bin"
    expect "tokenizer.bin beside model.bin" 0 "$attn" generate -m "$tmp/stories/model.bin" -p "Once upon a time" -n 3 \
        --temp 0 --ignore-eos --json
    contains "the prompt was encoded" "$tmp/out" '"prompt": "Once upon a time"'
    mkdir "$tmp/elsewhere" && mv "$tmp/stories/model.bin" "$tmp/elsewhere/"
    expect "--tokenizer tokenizer.bin" 0 "$attn" generate -m "$tmp/elsewhere/model.bin" \
        --tokenizer "$data/llama2c/tokenizer.bin" -p "Once upon a time" -n 3 --temp 0 --ignore-eos
else
    echo "SKIPPED: tokenizer.bin pairing (no $data/llama2c/tokenizer.bin)"
fi

echo "test_llama2c_cli: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
