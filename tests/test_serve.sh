#!/usr/bin/env bash
# test_serve.sh - `attn serve` end to end on loopback: starts servers on free ports (--port 0)
# with tiny random models from `attn init` (a character-level one, and a byte-level one that
# emits invalid UTF-8, behind --api-key), llama.cpp's tiny LLaMA GGUF (BOS handling, from
# shared/data) and, when $ATTN_SMOLLM2_GGUF is set, SmolLM2; then
# tests/test_serve.py drives every endpoint, streaming, errors and abuse (a client leaving
# mid-stream, 200 concurrent connections, memory), the official OpenAI SDK and the web page in
# headless Chromium (screenshot: $BUILD/serve-page.png). Each server is killed on exit.
# The SDK and browser parts skip without `openai`, `playwright` or /usr/bin/chromium, except
# when CI=true (scripts/setup.sh --test and tools/requirements.txt install them): then they fail.
set -u
. "$(dirname "$0")/cli_lib.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
strict=()
[ "${CI:-}" = true ] && strict=(--strict)

# A Python with the SDK and playwright if there is one; CI installs them when missing.
find_python() {
    local venv=${ATTN_VENV:-$HOME/.cache/attn/venv}/bin/python
    for py in python3 "$venv"; do
        "$py" -c "import openai, playwright" 2>/dev/null && { echo "$py"; return; }
    done
    if [ "${CI:-}" = true ]; then
        py=$("$root/scripts/python-env.sh") && "$py" -m pip install -q openai playwright >&2 && { echo "$py"; return; }
    fi
    command -v python3
}
py=$(find_python)
if [ -z "$py" ]; then echo "SKIP: no python3 to drive the server"; exit 77; fi

# start_server LOG ARGS...: runs attn serve on a free port; sets bgpid and port.
start_server() {
    local log=$1; shift
    "$attn" serve --port 0 -t 1 "$@" >"$log" 2>&1 &
    bgpid=$! port=
    for _ in $(seq 300); do # up to 30 s: sanitizer builds start slowly
        port=$(grep -so 'listening on http://127.0.0.1:[0-9]*' "$log" | grep -o '[0-9]*$')
        [ -n "$port" ] && return 0
        kill -0 "$bgpid" 2>/dev/null || break
        sleep 0.1
    done
    bad "the server did not start: $(tail -c 400 "$log")"
    return 1
}

# stop_server LOG: SIGTERM must end it cleanly (exit 0; under ASan also no leaks).
stop_server() {
    kill -TERM "$bgpid"
    wait "$bgpid"; local rc=$?
    bgpid=
    if [ "$rc" -eq 0 ]; then ok; else bad "the server exited with $rc on SIGTERM: $(tail -c 600 "$1")"; fi
    contains "the server says it stops" "$1" "stopping"
}

drive() { # parts, extra args...
    local parts=$1; shift
    if "$py" "$root/tests/test_serve.py" --url "http://127.0.0.1:$port" --pid "$bgpid" --parts "$parts" \
        --screenshot "$build/serve-page.png" "${strict[@]}" "$@" >"$tmp/py.out" 2>&1; then ok; else bad "test_serve.py $parts"; fi
    sed 's/^/  /' "$tmp/py.out"
}

# ---- the command line ----
expect "serve help" 0 "$attn" serve --help
contains "help names the endpoints" "$tmp/out" "/v1/chat/completions"
expect "missing model" 1 "$attn" serve -m "$tmp/nope" --port 0
contains "missing model named" "$tmp/err" "$tmp/nope"
expect "open address without a key warns" 1 "$attn" serve -m "$tmp/nope" --host 0.0.0.0
contains "warning about an open address" "$tmp/err" "without --api-key"

# ---- a character-level model: every endpoint, errors and load ----
printf '%s\n' "$(python3 -c 'print("".join(map(chr, range(32, 127))))' 2>/dev/null || echo 'abc')" >"$tmp/chars.txt"
expect "char tokenizer" 0 "$attn" tokenizer train --chars -i "$tmp/chars.txt" -o "$tmp/chars.json"
expect "char model" 0 "$attn" init -o "$tmp/chars" --ctx 4096 --tokenizer "$tmp/chars.json" --seed 1
expect "unknown chat template" 1 "$attn" serve -m "$tmp/chars" --chat-template nope --port 0
contains "templates listed" "$tmp/err" "chatml"
if start_server "$tmp/serve1.log" -m "$tmp/chars" --parallel 4 --queue 16; then
    contains "startup line" "$tmp/serve1.log" "4 slots of 4096 positions"
    expect "the port is taken" 1 "$attn" serve -m "$tmp/chars" --port "$port"
    contains "port in use named" "$tmp/err" "cannot listen"
    rss=()
    case $build in *san*) rss=(--no-rss) ;; esac # ASan keeps freed memory in quarantine
    drive api,abuse --model-id chars --n-ctx 4096 --long-tokens 4000 "${rss[@]}"
    [ -z "${ATTN_SMOLLM2_GGUF:-}" ] && drive sdk,browser --model-id chars
    stop_server "$tmp/serve1.log"
fi

# ---- a byte-level model behind an API key: 401s, and invalid UTF-8 kept out of the JSON ----
expect "byte model" 0 "$attn" init -o "$tmp/bytes" --layers 2 --heads 2 --embd 32 --ctx 256 --seed 2
if start_server "$tmp/serve2.log" -m "$tmp/bytes" --parallel 2 --api-key "s3cret-key-123"; then
    drive auth,bytes --model-id bytes --key "s3cret-key-123"
    stop_server "$tmp/serve2.log"
fi

# ---- a tokenizer that adds BOS: llama.cpp's tiny LLaMA GGUF and its reference outputs ----
data=${ATTN_DATA:-../shared/data}
if [ -r "$data/llamacpp-ref/refs/tiny-llama-f32.json" ]; then
    if start_server "$tmp/serve4.log" -m "$data/llamacpp-ref/tiny-llama-f32.gguf" --chat-template llama2 --alias tiny-llama; then
        drive bos --model-id tiny-llama --ref "$data/llamacpp-ref/refs/tiny-llama-f32.json"
        stop_server "$tmp/serve4.log"
    fi
else
    echo "note: no $data/llamacpp-ref: BOS part skipped"
fi

# ---- SmolLM2: the SDK and the page with a real assistant ----
gguf=${ATTN_SMOLLM2_GGUF:-}
if [ -n "$gguf" ] && [ -f "$gguf" ]; then
    if start_server "$tmp/serve3.log" -m "$gguf" --parallel 2 --ctx-size 2048 --alias smollm2; then
        contains "SmolLM2's template found" "$tmp/serve3.log" "chat template chatml"
        contains "decoding's activations named" "$tmp/serve3.log" "with one-byte integer activations (as llama.cpp"
        contains "scoring's precision named" "$tmp/serve3.log" "prompts scored with --matmul auto's"
        drive sdk,browser,scored --model-id smollm2 --real-model --dump "$tmp/scored-default.json"
        stop_server "$tmp/serve3.log"
    fi
    # serve's own default yields to ATTN_MATMUL, as every command's does
    if ATTN_MATMUL=auto start_server "$tmp/serve5.log" -m "$gguf" --parallel 1 --ctx-size 256; then
        contains "ATTN_MATMUL=auto keeps two bytes" "$tmp/serve5.log" "with two-byte integer activations"
        drive scored --model-id smollm2 --dump "$tmp/scored-auto.json"
        stop_server "$tmp/serve5.log"
    fi
    if start_server "$tmp/serve6.log" -m "$gguf" --parallel 1 --ctx-size 256 --matmul int8; then
        drive scored --model-id smollm2 --dump "$tmp/scored-int8.json"
        stop_server "$tmp/serve6.log"
    fi
    # the default scores prompts as --matmul auto does, not with its one-byte decoding activations
    if python3 - "$tmp"/scored-{default,auto,int8}.json <<'EOF'
import json, sys
d, a, i = (json.load(open(f)) for f in sys.argv[1:])
near = max(abs(x - y) for x, y in zip(d, a))
far = max(abs(x - y) for x, y in zip(d, i))
print(f"scored prompt, {len(d)} tokens: default vs auto {near:.2g}, vs int8 {far:.2g}")
sys.exit(0 if len(d) == len(a) == len(i) > 20 and near < 1e-4 and far > 1e-2 else 1)
EOF
    then ok; else bad "the default server scores prompts as --matmul auto"; fi
else
    echo "note: no SmolLM2 GGUF (set ATTN_SMOLLM2_GGUF): SDK and page tested with a random model"
fi

echo "test_serve: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
