#!/usr/bin/env bash
# test_smollm2.sh - a real model end to end: SmolLM2-135M-Instruct (LLaMA architecture, Q4_1
# GGUF with its own BPE tokenizer) answers a factual prompt greedily, and its tokenizer gives
# llama.cpp's ids for a known string. Needs $ATTN_SMOLLM2_GGUF (scripts/fetch-smollm2.sh);
# skips without it.
set -u
. "$(dirname "$0")/cli_lib.sh"
gguf=${ATTN_SMOLLM2_GGUF:-}
if [ -z "$gguf" ] || [ ! -f "$gguf" ]; then echo "SKIP: no SmolLM2 GGUF (set ATTN_SMOLLM2_GGUF)"; exit 77; fi

expect "greedy answer" 0 "$attn" generate -m "$gguf" -p "The capital of France is" -n 4 --temp 0 --no-echo
contains "knows Paris" "$tmp/out" "Paris"
expect "json" 0 "$attn" generate -m "$gguf" -p "Once upon a time there was a little" -n 8 --temp 0 --json
contains "a story" "$tmp/out" "girl"
# ids from llama.cpp (llama-cpp-python 0.3.36) for this string with SmolLM2's vocab
expect "tokenize" 0 "$attn" tokenize -m "$gguf" -p "Hello world"
contains "llama.cpp's ids" "$tmp/out" "19556 905"
expect "bench" 0 "$attn" bench -m "$gguf" -p 16 -n 8 -r 1 --json
contains "bench fields" "$tmp/out" "\"tg_tok_s\""

echo "test_smollm2: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
