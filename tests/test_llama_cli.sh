#!/usr/bin/env bash
# test_llama_cli.sh - `attn generate` and `attn logits` on LLaMA-family folders exactly as
# Hugging Face saves them (tests/fixtures/llama), prompts given as ids (LLaMA tokenizers are
# not in attn yet): greedy output equals HF's, a sharded folder works, a broken one fails
# with one clear line. Run by tests/run_tests.sh with BUILD set.
set -u
. "$(dirname "$0")/cli_lib.sh"
fix=tests/fixtures/llama
# field NAME PROMPT_INDEX FIXTURE: the prompt's ids or greedy tokens from expected.json, space-separated
field() {
    python3 -c 'import json,sys; e=json.load(open(sys.argv[3])); print(" ".join(map(str, e["prompts"][int(sys.argv[2])][sys.argv[1]])))' \
        "$1" "$2" "$fix/$3/expected.json"
}
command -v python3 >/dev/null || { echo "SKIP: python3 is needed to read expected.json"; exit 77; }

for name in llama-gqa-tied-f32 qwen2-bias-f32 mistral-sharded-f32; do
    ids=$(field ids 1 "$name") want=$(field greedy 1 "$name")
    expect "$name generate" 0 "$attn" generate -m "$fix/$name" --ids "$ids" -n 16 --temp 0 --ignore-eos --json -t 2
    got=$(python3 -c 'import json,sys; print(" ".join(map(str, json.load(sys.stdin)["tokens"])))' <"$tmp/out")
    if [ "$got" = "$want" ]; then ok; else bad "$name: greedy '$got', HF has '$want'"; fi
done

expect "logits through the shard index" 0 "$attn" logits -m "$fix/mistral-sharded-f32/model.safetensors.index.json" \
    --ids "$(field ids 0 mistral-sharded-f32)" -o "$tmp/logits.f32"
if [ "$(stat -c %s "$tmp/logits.f32" 2>/dev/null)" = $((97 * 4)) ]; then ok; else bad "logits file size"; fi

expect "no tokenizer, no ids" 1 "$attn" generate -m "$fix/llama-gqa-tied-f32" -p "Hello"
contains "asks for a tokenizer" "$tmp/err" "--tokenizer"

mkdir "$tmp/broken"
cp "$fix/llama-gqa-tied-f32/model.safetensors" "$tmp/broken/"
sed 's/"num_key_value_heads": 2/"num_key_value_heads": 4/' "$fix/llama-gqa-tied-f32/config.json" >"$tmp/broken/config.json"
expect "shape mismatch" 1 "$attn" generate -m "$tmp/broken" --ids "1 2 3" -n 2
contains "names the tensor" "$tmp/err" "k_proj.weight' has shape [16, 32] but config.json implies [32, 32]"
if [ "$(wc -l <"$tmp/err")" -le 1 ]; then ok; else bad "error is more than one line: $(cat "$tmp/err")"; fi

echo "test_llama_cli: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
