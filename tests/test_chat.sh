#!/usr/bin/env bash
# test_chat.sh - `attn chat` fed through a pipe: answers stream, turn 2 feeds the model only what
# follows the cached history (the --verbose line per turn), /save + /load + /save gives the same
# file, /reset keeps only the system prompt, the oldest turns go when the context is full, and bad
# input fails with a clear message. A tiny random GPT-2 (`attn init`) with --chat-template chatml
# runs everywhere; llama.cpp's tiny LLaMA GGUF (shared/data) checks that a conversation starts
# with exactly one BOS; SmolLM2-135M-Instruct ($ATTN_SMOLLM2_GGUF) adds real answers and its own
# template, and is skipped with a note when unset.
set -u
. "$(dirname "$0")/cli_lib.sh"

# turn N's numbers from the --verbose line: "processed reused conversation"
turn_counts() { sed -n "s/.*turn $1: \([0-9]*\) prompt tokens processed, \([0-9]*\) reused from the cache, \([0-9]*\) in the.*/\1 \2 \3/p" "$2"; }

# ---- a tiny random GPT-2: the whole command without a real model ----
m=$tmp/tiny
expect "init" 0 "$attn" init -o "$m" --layers 2 --heads 2 --embd 32 --ctx 256 --seed 7
printf 'Hello there\nSecond turn\n/save %s \n/load %s\n/save %s\n/reset\n/save %s\n/exit\nnot read\n' \
    "$tmp/c1.json" "$tmp/c1.json" "$tmp/c2.json" "$tmp/c3.json" >"$tmp/in"
expect "tiny chat" 0 "$attn" chat -m "$m" --chat-template chatml -s "Be brief." --temp 0 -n 8 -v -t 1 <"$tmp/in"
read -r fed reused total <<<"$(turn_counts 2 "$tmp/err")"
if [ -n "${fed:-}" ] && [ "$reused" -gt 0 ] && [ "$fed" -lt "$total" ]; then ok; else
    bad "tiny turn 2 re-processed the history: '$(turn_counts 2 "$tmp/err")'"; fi
if cmp -s "$tmp/c1.json" "$tmp/c2.json"; then ok; else bad "/save, /load, /save changed the file"; fi
if ls "$tmp"/c1.json?* >/dev/null 2>&1; then bad "/save kept a trailing space in the name"; else ok; fi
contains "saved both turns" "$tmp/c1.json" "\"content\": \"Second turn\""
contains "reset keeps the system prompt" "$tmp/c3.json" "Be brief."
if grep -q "Hello there" "$tmp/c3.json"; then bad "/reset kept the user's messages"; else ok; fi
if grep -q "turn 3" "$tmp/err"; then bad "/exit did not stop the chat"; else ok; fi

# a small context: the oldest turns go, the system prompt stays, the chat goes on
printf 'one\ntwo\nthree\nfour\nfive\n/save %s\n' "$tmp/full.json" >"$tmp/in"
expect "context overflow" 0 "$attn" chat -m "$m" --chat-template chatml -s "Stay." --temp 0 -n 16 -v -t 1 <"$tmp/in"
contains "overflow said on stderr" "$tmp/err" "dropped the oldest turn"
contains "answered turn 5" "$tmp/err" "turn 5:"
contains "system prompt kept" "$tmp/full.json" "Stay."
if grep -q '"one"' "$tmp/full.json"; then bad "the oldest turn was kept"; else ok; fi
# a loaded session far past the context: its oldest turns go in a few steps, not one by one
{ printf '{"messages": ['; for i in $(seq 1 300); do
    printf '{"role": "user", "content": "question %d"}, {"role": "assistant", "content": "answer %d"}, ' "$i" "$i"; done
  printf '{"role": "user", "content": "last"}]}\n'; } >"$tmp/long.json"
printf '/load %s\nnow\n' "$tmp/long.json" >"$tmp/in"
expect "a long loaded session" 0 "$attn" chat -m "$m" --chat-template chatml --temp 0 -n 4 -v -t 1 <"$tmp/in"
drops=$(grep -c "outgrew the context" "$tmp/err")
if [ "$drops" -ge 1 ] && [ "$drops" -le 4 ]; then ok; else bad "301 turns past the context took $drops drop steps"; fi
# a loaded conversation that ends with the user's message gets that message answered
echo '{"messages": [{"role": "user", "content": "first"}, {"role": "assistant", "content": "reply"}, {"role": "user", "content": "waiting"}]}' >"$tmp/pending.json"
printf '/load %s\n/save %s\n' "$tmp/pending.json" "$tmp/answered.json" >"$tmp/in"
expect "/load ending with a user message" 0 "$attn" chat -m "$m" --chat-template chatml --temp 0 -n 4 -v -t 1 <"$tmp/in"
contains "the loaded message answered" "$tmp/err" "turn 1:"
if python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["messages"]; sys.exit(not (len(m) == 4 and m[2]["content"] == "waiting" and m[3]["role"] == "assistant"))' "$tmp/answered.json"; then ok; else
    bad "the loaded user message was not answered: $(cat "$tmp/answered.json")"; fi
# one ending with an answer waits for the user
printf '/load %s\n' "$tmp/answered.json" >"$tmp/in"
expect "/load ending with an answer" 0 "$attn" chat -m "$m" --chat-template chatml --temp 0 -n 4 -v -t 1 <"$tmp/in"
if grep -q "turn 1:" "$tmp/err"; then bad "a loaded conversation ending with an answer was answered again"; else ok; fi
# a turn that fails (a message past the whole context) is reported, the chat goes on, and the
# exit status says an answer is missing
{ printf '%0600d\n' 0 | tr 0 'x y '; printf 'short\n'; } >"$tmp/in"
expect "a failed turn fails the run" 1 "$attn" chat -m "$m" --chat-template chatml --temp 0 -n 4 -v -t 1 <"$tmp/in"
contains "too long named" "$tmp/err" "the message is too long"
contains "next turn answered" "$tmp/err" "turn 1:"
contains "failures counted" "$tmp/err" "1 turn failed"

# a NUL byte in an answer (random weights make any byte) does not cut the answer there: the
# saved answer holds what was printed (find a seed whose answer has one)
nul_seed=
for seed in $(seq 1 20); do
    printf 'hi\n/save %s\n' "$tmp/nul.json" >"$tmp/in"
    "$attn" chat -m "$m" --chat-template chatml -t 1 -n 48 --temp 1 --seed "$seed" --ignore-eos <"$tmp/in" \
        >"$tmp/nul.out" 2>"$tmp/err"
    if grep -qaP '\x00' "$tmp/nul.out"; then nul_seed=$seed; break; fi
done
if [ -z "$nul_seed" ]; then echo "note: no answer held a NUL byte in 20 seeds: not checked"
elif python3 - "$tmp/nul.out" "$tmp/nul.json" <<'PY'; then ok; else bad "an answer was cut at its NUL byte (seed $nul_seed)"; fi
import json, sys
out = open(sys.argv[1], "rb").read().rstrip(b"\n")
saved = json.load(open(sys.argv[2]))["messages"][-1]["content"]
# ASCII bytes are never part of a replaced sequence: both hold the same, in order
sys.exit(bytes(b for b in out if 32 <= b < 127) != bytes(ord(c) for c in saved if 32 <= ord(c) < 127))
PY

# a system prompt with no room left for a message and the answer is refused at the start (it
# failed every turn, blaming the message)
printf 'hi\n' >"$tmp/in"
expect "system prompt past the context" 1 "$attn" chat -m "$m" --chat-template chatml -s "$(printf '%0300d' 0)" \
    --temp 0 -n 4 -t 1 <"$tmp/in"
contains "long system prompt named" "$tmp/err" "tokens with the template, and the context of 256 keeps 4"
if grep -q "message is too long" "$tmp/err"; then bad "a turn ran on a system prompt past the context"; else ok; fi
# input that cannot be read is an error, not the end of a chat
expect "a folder as the input" 1 "$attn" chat -m "$m" --chat-template chatml -n 4 -t 1 <"$tmp"
contains "unreadable input named" "$tmp/err" "cannot read the input: Is a directory"
# -n 0 would make every answer empty: refused
expect "chat -n 0" 2 "$attn" chat -m "$m" --chat-template chatml -n 0 -t 1 <"$tmp/in"
contains "-n 0 named" "$tmp/err" "--max-tokens 0 leaves no room for an answer"
# a line with a NUL byte is refused whole (it lost all after the NUL, unseen); the chat goes on
printf 'ab\0cd\nhi\n/save %s\n' "$tmp/nulin.json" >"$tmp/in"
expect "a NUL in a line" 1 "$attn" chat -m "$m" --chat-template chatml --temp 0 -n 4 -v -t 1 <"$tmp/in"
contains "NUL line named" "$tmp/err" "the line holds a NUL byte (after 2 bytes): not sent"
if grep -q '"ab"' "$tmp/nulin.json"; then bad "a cut line was sent: $(cat "$tmp/nulin.json")"; else ok; fi
contains "the next line answered" "$tmp/nulin.json" '"hi"'

# the default model comes from $ATTN_MODEL; without one, the error says how to get one
printf 'hi\n' >"$tmp/in"
ATTN_MODEL=$m expect "ATTN_MODEL" 0 "$attn" chat --chat-template chatml --temp 0 -n 4 -v -t 1 <"$tmp/in"
contains "ATTN_MODEL answered" "$tmp/err" "turn 1:"
ATTN_MODEL= ATTN_MODELS=$tmp/no-models expect "no default model" 1 "$attn" chat <"$tmp/in"
contains "says how to get one" "$tmp/err" "scripts/fetch-smollm2.sh"

# on a terminal: libedit's prompt and line reading (a pty from util-linux's script, if present)
if command -v script >/dev/null; then
    printf 'Hello\n/exit\n' | script -qec "$attn chat -m $m --chat-template chatml --temp 0 -n 4 -t 1" /dev/null \
        >"$tmp/tty" 2>&1
    contains "terminal prompt" "$tmp/tty" "> Hello"
    contains "terminal greeting" "$tmp/tty" "/help for commands"
fi

# clear failures
expect "unknown template" 2 "$attn" chat -m "$m" --chat-template nope <"$tmp/in"
contains "unknown template named" "$tmp/err" "unknown chat template 'nope'"
contains "template names listed" "$tmp/err" "chatml, llama2"
expect "model without a template" 2 "$attn" chat -m "$m" <"$tmp/in"
contains "no template said" "$tmp/err" "has no chat template: give --chat-template"
# commands that take no words refuse extra ones rather than act (or quit) on them
printf 'hi\n/reset now\n/help me\n/exit now\n/quit please\n/save %s\n' "$tmp/extra.json" >"$tmp/in"
expect "commands with extra words" 0 "$attn" chat -m "$m" --chat-template chatml --temp 0 -n 4 -t 1 <"$tmp/in"
contains "/reset with a word refused" "$tmp/err" "/reset takes no arguments (got 'now'): nothing done"
contains "/help with a word refused" "$tmp/err" "/help takes no arguments (got 'me')"
contains "/exit with a word refused" "$tmp/err" "/exit takes no arguments (got 'now')"
contains "/quit with a word refused" "$tmp/err" "/quit takes no arguments (got 'please')"
if grep -q "commands:" "$tmp/err"; then bad "/help me printed the help"; else ok; fi
contains "not reset, not quit" "$tmp/extra.json" '"hi"'
echo '{"messages": [{"role": "tool", "content": "x"}]}' >"$tmp/bad.json"
printf '/load %s\n/load %s\n/frobnicate\n/load %s\n' "$tmp/bad.json" "$tmp/missing.json" "$tmp" >"$tmp/in"
expect "bad /load" 0 "$attn" chat -m "$m" --chat-template chatml -t 1 <"$tmp/in"
contains "bad role named" "$tmp/err" "message 1 needs a \"role\""
contains "missing file named" "$tmp/err" "missing.json"
contains "unknown command named" "$tmp/err" "unknown command '/frobnicate'"
contains "folder named" "$tmp/err" "$tmp is a folder, not a saved conversation"
# /save replaces only a saved conversation: not the model's files, not other files
cp "$m/config.json" "$tmp/config.keep" && echo notes >"$tmp/notes.txt"
printf 'hi\n/save %s\n/save %s\n' "$m/config.json" "$tmp/notes.txt" >"$tmp/in"
expect "/save over other files" 0 "$attn" chat -m "$m" --chat-template chatml --temp 0 -n 4 -t 1 <"$tmp/in"
contains "other file refused" "$tmp/err" "config.json exists and is not a saved conversation"
if cmp -s "$m/config.json" "$tmp/config.keep" && [ "$(cat "$tmp/notes.txt")" = notes ]; then ok; else
    bad "/save replaced a file that was no saved conversation"; fi
# nor a symbolic link: the rename would put the file in place of the link and leave its target old
cp "$tmp/c1.json" "$tmp/target.json" && ln -s target.json "$tmp/link.json"
printf 'hi\n/save %s\n' "$tmp/link.json" >"$tmp/in"
expect "/save onto a link" 0 "$attn" chat -m "$m" --chat-template chatml --temp 0 -n 4 -t 1 <"$tmp/in"
contains "link refused" "$tmp/err" "link.json is a symbolic link (to target.json)"
if [ -L "$tmp/link.json" ] && cmp -s "$tmp/c1.json" "$tmp/target.json"; then ok; else bad "/save replaced the link"; fi
echo '{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}' >"$tmp/order.json"
printf '/load %s\n' "$tmp/order.json" >"$tmp/in"
expect "llama2 refuses the order" 0 "$attn" chat -m "$m" --chat-template llama2 -t 1 <"$tmp/in"
contains "order error" "$tmp/err" "alternate"

# ---- a tokenizer that adds BOS (llama.cpp's tiny LLaMA GGUF): one per conversation ----
tiny_llama=${ATTN_DATA:-../shared/data}/llamacpp-ref/tiny-llama-f32.gguf
if [ -r "$tiny_llama" ]; then
    printf 'hi\n' >"$tmp/in"
    # llama2 writes "<s>" itself: the conversation is exactly the template's tokens
    expect "llama2 chat" 0 "$attn" chat -m "$tiny_llama" --chat-template llama2 --temp 0 -n 2 -v -t 1 <"$tmp/in"
    read -r _ _ total <<<"$(turn_counts 1 "$tmp/err")"
    "$attn" tokenize -m "$tiny_llama" --special --no-bos -p "<s>[INST] hi [/INST]" >"$tmp/ids"
    read -r first second _ <"$tmp/ids"
    if [ "${total:-}" = "$(wc -w <"$tmp/ids")" ] && [ "$first" = 1 ] && [ "$second" != 1 ]; then ok; else
        bad "llama2: $total tokens in the conversation, the template alone: $(cat "$tmp/ids")"; fi
    # chatml writes none: BOS goes in front
    expect "chatml chat" 0 "$attn" chat -m "$tiny_llama" --chat-template chatml --temp 0 -n 2 -v -t 1 <"$tmp/in"
    read -r _ _ total <<<"$(turn_counts 1 "$tmp/err")"
    printf '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n' >"$tmp/chatml.txt"
    n=$("$attn" tokenize -m "$tiny_llama" --special --no-bos -f "$tmp/chatml.txt" --count)
    if [ "${total:-}" = $((n + 1)) ]; then ok; else bad "chatml: $total tokens in the conversation, want BOS + $n"; fi
else
    echo "note: BOS part skipped (no $tiny_llama)"
fi

# ---- SmolLM2: real answers, its own template and default system prompt ----
gguf=${ATTN_SMOLLM2_GGUF:-}
if [ -z "$gguf" ] || [ ! -f "$gguf" ]; then
    echo "note: SmolLM2 part skipped (set ATTN_SMOLLM2_GGUF: scripts/fetch-smollm2.sh prints the path)"
else
    printf 'What is the capital of France?\nAnd of Germany?\n/save %s\n/load %s\n/save %s\n/reset\nWhat is the capital of France?\n' \
        "$tmp/s1.json" "$tmp/s1.json" "$tmp/s2.json" >"$tmp/in"
    expect "SmolLM2 chat" 0 "$attn" chat -m "$gguf" --temp 0 -n 24 -v <"$tmp/in"
    contains "knows Paris" "$tmp/out" "Paris"
    contains "knows Berlin" "$tmp/out" "Berlin"
    if [ "$(grep -c Paris "$tmp/out")" -ge 2 ]; then ok; else bad "after /reset the same question got another answer"; fi
    contains "its template found" "$tmp/err" "template chatml"
    read -r fed reused total <<<"$(turn_counts 2 "$tmp/err")"
    if [ -n "${fed:-}" ] && [ "$reused" -gt 30 ] && [ "$fed" -lt "$total" ]; then ok; else
        bad "SmolLM2 turn 2 re-processed the history: '$(turn_counts 2 "$tmp/err")'"; fi
    read -r fed reused total <<<"$(turn_counts 3 "$tmp/err")"
    if [ -n "${fed:-}" ] && [ "$reused" -gt 0 ]; then ok; else bad "after /reset the system prompt was not reused"; fi
    if cmp -s "$tmp/s1.json" "$tmp/s2.json"; then ok; else bad "SmolLM2: /save, /load, /save changed the file"; fi
    contains "the model's own system prompt" "$tmp/s1.json" "named SmolLM, trained by Hugging Face"
    # a system prompt its vocabulary cannot spell (no byte tokens) is refused at the start
    printf 'hi\n' >"$tmp/in"
    expect "untokenizable system prompt" 1 "$attn" chat -m "$gguf" -s $'sys\xff' --temp 0 -n 4 <"$tmp/in"
    contains "system prompt named" "$tmp/err" "the system prompt cannot be used"

    # Ctrl-C during an answer stops that answer only; the next line is answered
    mkfifo "$tmp/fifo"
    "$attn" chat -m "$gguf" --temp 0 -n 300 -v <"$tmp/fifo" >"$tmp/out" 2>"$tmp/err" &
    bgpid=$!
    exec 3>"$tmp/fifo"
    echo "Write a long story about a dragon." >&3
    for _ in $(seq 600); do [ -s "$tmp/out" ] && break; sleep 0.1; done
    kill -INT "$bgpid"
    echo "What is the capital of France?" >&3
    exec 3>&-
    wait "$bgpid"; rc=$?; bgpid=
    if [ "$rc" -eq 0 ]; then ok; else bad "interrupted chat exited with $rc: $(tail -c 300 "$tmp/err")"; fi
    if grep -q "turn 1:.*stop: cancelled" "$tmp/err"; then ok; else bad "Ctrl-C did not stop the answer: $(cat "$tmp/err")"; fi
    contains "next question answered" "$tmp/out" "Paris"
fi

echo "test_chat: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
