#!/usr/bin/env bash
# test_cli.sh - the attn command as a user meets it: help, option errors, determinism of
# seeded sampling, JSON output, stop strings, and clear failures on bad input. Run by
# tests/run_tests.sh with BUILD set (the sanitizer build runs it too).
set -u
. "$(dirname "$0")/cli_lib.sh"

expect "top-level help" 0 "$attn" --help
contains "help lists generate" "$tmp/out" "generate"
expect "generate help" 0 "$attn" generate --help
contains "generate help shows --top-p" "$tmp/out" "--top-p"
expect "no command" 2 "$attn"
expect "unknown command" 2 "$attn" frobnicate
contains "unknown command named" "$tmp/err" "unknown command 'frobnicate'"
expect "unknown option" 2 "$attn" generate --frobnicate
contains "unknown option named" "$tmp/err" "unknown option '--frobnicate'"
expect "bad number" 2 "$attn" generate -m x -p hi --temp abc
contains "bad number named" "$tmp/err" "--temp"
expect "missing model" 1 "$attn" generate -m "$tmp/nope" -p hi
contains "missing model named" "$tmp/err" "$tmp/nope"

m=$tmp/model
expect "init" 0 "$attn" init -o "$m" --layers 2 --heads 2 --embd 32 --ctx 64 --seed 7
# init swaps a complete folder in: a folder of other files is refused and left as it was, and
# a size limit hit mid-write (like a full disk) is an error that leaves nothing behind
mkdir -p "$tmp/mine" && echo keep >"$tmp/mine/notes.txt"
expect "init over a folder of other files" 1 "$attn" init -o "$tmp/mine" --layers 1 --heads 1 --embd 8
contains "the foreign file named" "$tmp/err" "holds 'notes.txt'"
if [ "$(ls "$tmp/mine")" = notes.txt ]; then ok; else bad "init changed a folder it refused: $(ls "$tmp/mine")"; fi
expect "init past ulimit -f" 1 bash -c "ulimit -f 64; exec \"$attn\" init -o \"$tmp/big\" --layers 2 --embd 256"
contains "size limit reported" "$tmp/err" "File too large"
if ls -d "$tmp"/big* >/dev/null 2>&1; then bad "a failed init left $(ls -d "$tmp"/big*)"; else ok; fi
expect "seeded run 1" 0 "$attn" generate -m "$m" -p "Hello" -n 12 --seed 5 --json
cp "$tmp/out" "$tmp/run1"
expect "seeded run 2" 0 "$attn" generate -m "$m" -p "Hello" -n 12 --seed 5 --json
if cmp -s <(sed 's/"prompt_ms.*//' "$tmp/run1") <(sed 's/"prompt_ms.*//' "$tmp/out"); then ok; else bad "same seed gave different text"; fi
expect "other seed" 0 "$attn" generate -m "$m" -p "Hello" -n 12 --seed 6 --json
if cmp -s <(sed 's/"prompt_ms.*//' "$tmp/run1") <(sed 's/"prompt_ms.*//' "$tmp/out"); then bad "different seeds gave the same text"; else ok; fi
contains "json counts" "$tmp/out" "\"n_generated\": 12"
contains "json prompt count" "$tmp/out" "\"n_prompt\": 5"
expect "greedy json" 0 "$attn" generate -m "$m" -p "Hello" -n 8 --temp 0 --json
contains "greedy finish" "$tmp/out" "\"finish_reason\": \"length\""
expect "empty prompt" 1 "$attn" generate -m "$m" -p ""
contains "empty prompt message" "$tmp/err" "empty"
head -c 200 /dev/zero | tr '\0' 'a' >"$tmp/long.txt"
expect "prompt longer than context" 1 "$attn" generate -m "$m" -f "$tmp/long.txt"
contains "overflow message" "$tmp/err" "context"
expect "prompt + max tokens past context stops cleanly" 0 "$attn" generate -m "$m" --ids "1 2 3" -n 500 --ignore-eos --json
contains "stopped at context" "$tmp/out" "\"n_generated\": 62"
expect "ids out of vocabulary" 1 "$attn" generate -m "$m" --ids "1 99999"
contains "vocabulary message" "$tmp/err" "outside the vocabulary"
expect "bad id list" 1 "$attn" generate -m "$m" --ids "1 x"
expect "two prompt sources" 2 "$attn" generate -m "$m" -p a --ids 1

# stop strings: the byte-level tokenizer makes every byte one token, so the text is known
expect "greedy reference" 0 "$attn" generate -m "$m" -p "Hi" -n 20 --temp 0 --json --ignore-eos
text=$(sed -E 's/.*"text": "([^"]*)".*/\1/' "$tmp/out")
expect "logits" 0 "$attn" logits -m "$m" --ids "1 2 3" -o "$tmp/l.f32" --all
expect "logits, unknown --kv-type" 2 "$attn" logits -m "$m" --ids "1 2 3" -o "$tmp/l.f32" --kv-type q9 # (ASan: no leak)
if [ -w /dev/full ]; then # a device is no output file; a full disk behind stdout fails the run
    expect "logits to a device" 1 "$attn" logits -m "$m" --ids "1 2 3" -o /dev/full
    contains "device named" "$tmp/err" "/dev/full exists and is not a regular file"
    "$attn" tokenize -m "$m" -p "abc" >/dev/full 2>"$tmp/err"; rc=$?
    if [ "$rc" -eq 1 ]; then ok; else bad "tokenize into a full stdout: exit $rc, wanted 1"; fi
    contains "full stdout named" "$tmp/err" "cannot write the output"
fi
size=$(stat -c %s "$tmp/l.f32")
if [ "$size" -eq $((3 * 257 * 4)) ]; then ok; else bad "logits file is $size bytes, wanted $((3 * 257 * 4))"; fi
expect "tokenize" 0 "$attn" tokenize -m "$m" -p "abc"
contains "byte tokens" "$tmp/out" "97 98 99"
expect "bench" 0 "$attn" bench -m "$m" -p 16 -n 8 -r 1 --json
contains "bench fields" "$tmp/out" "\"tg_tok_s\""
expect "bench past context" 2 "$attn" bench -m "$m" -p 100
expect "bench --matmul f32" 0 "$attn" bench -m "$m" -p 16 -n 2 -r 1 --json --matmul f32
contains "matmul reported" "$tmp/out" "\"matmul\": \"f32\""
expect "bench --matmul f32, ATTN_QDOT=q8" 0 env ATTN_QDOT=q8 "$attn" bench -m "$m" -p 16 -n 2 -r 1 --matmul f32
contains "ATTN_QDOT named beside f32" "$tmp/out" "f32; ATTN_QDOT: quantized decoding with one-byte integer activations"
expect "bench --matmul int8" 0 "$attn" bench -m "$m" -p 16 -n 2 -r 1 --matmul int8
contains "int8 reaches decoding" "$tmp/out" "prompts and decoding"
expect "bench default matmul" 0 "$attn" bench -m "$m" -p 16 -n 2 -r 1
contains "auto names decoding" "$tmp/out" "quantized decoding with two-byte integer activations"

# the KV cache: f32 by default for an f32 model, f16 on request (generation timed 20 positions in)
expect "bench default cache" 0 "$attn" bench -m "$m" -p 16 -n 4 -r 1 --json
contains "f32 model, f32 cache" "$tmp/out" "\"kv_type\": \"F32\""
expect "bench --kv-type f16 -d 20" 0 "$attn" bench -m "$m" -p 16 -n 4 -d 20 -r 1 --json --kv-type f16
contains "f16 cache reported" "$tmp/out" "\"kv_type\": \"F16\""
contains "depth reported" "$tmp/out" "\"depth\": 20"
expect "depth past context" 2 "$attn" bench -m "$m" -p 16 -n 8 -d 60
expect "generate --kv-type f16" 0 "$attn" generate -m "$m" -p "Hello" -n 6 --seed 5 --kv-type f16
expect "unknown --kv-type" 2 "$attn" generate -m "$m" -p "hi" -n 2 --kv-type f8
contains "--kv-type choices named" "$tmp/err" "auto, f32 or f16"
expect "unknown --matmul" 2 "$attn" generate -m "$m" -p "hi" -n 2 --matmul fp8
contains "--matmul choices named" "$tmp/err" "f32, bf16, int8 or auto"
# bf16 products run on the AVX-512 kernels only: with others chosen, a refusal, not f32 in silence
expect "--matmul bf16 with --isa scalar" 2 "$attn" bench -m "$m" -p 16 -n 2 -r 1 --isa scalar --matmul bf16
contains "bf16 refusal names BF16" "$tmp/err" "AVX-512 kernels with BF16"

# perplexity: chunks of --ctx tokens; too short a text is an error
for i in $(seq 1 20); do echo "the cat sat on the mat $i"; done >"$tmp/ppl.txt"
expect "perplexity" 0 "$attn" perplexity -m "$m" -f "$tmp/ppl.txt" --ctx 64 --json
contains "perplexity json" "$tmp/out" "\"chunks\": "
expect "perplexity needs -f" 2 "$attn" perplexity -m "$m"
expect "a context of 2 scores nothing" 1 "$attn" perplexity -m "$m" -f "$tmp/ppl.txt" --ctx 2
contains "context 2 named" "$tmp/err" "between 3 and"
echo "short" >"$tmp/short.txt"
expect "text shorter than a chunk" 1 "$attn" perplexity -m "$m" -f "$tmp/short.txt" --ctx 64
contains "short text message" "$tmp/err" "fewer than one chunk"

# convert: the same model in f16 loads and its logits stay close to f32's
expect "convert f16" 0 "$attn" convert -m "$m" -o "$tmp/m16" --dtype f16
contains "config records f16" "$tmp/m16/config.json" "float16"
expect "f16 logits" 0 "$attn" logits -m "$tmp/m16" --ids "1 2 3" -o "$tmp/l16.f32" --all
if cmp -s "$tmp/l.f32" "$tmp/l16.f32"; then bad "f16 logits are bit-identical to f32 (conversion did nothing?)"; else ok; fi
size16=$(stat -c %s "$tmp/m16/model.safetensors"); size32=$(stat -c %s "$m/model.safetensors")
if [ $((size16 * 2)) -le $((size32 + 4096)) ]; then ok; else bad "f16 file $size16 bytes is not half of $size32"; fi
expect "convert bad dtype" 2 "$attn" convert -m "$m" -o "$tmp/mx" --dtype q4

echo "test_cli: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
