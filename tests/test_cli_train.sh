#!/usr/bin/env bash
# test_cli_train.sh - `attn train` and `attn plot` as a user meets them, on a tiny model and
# a few KB of text: a run with eval, samples and a JSONL log; 10 steps + --resume giving
# the same losses as 20 straight; a --config file; SIGINT saving and exiting 0; kill -9
# losing at most the steps since the last save; corrupt or mismatched checkpoints, tiny
# corpora and a file size limit while saving as clear errors; the checkpoint loading in
# `attn generate`; the SVG plot. Run by tests/run_tests.sh with BUILD set (also under ASan).
set -u
. "$(dirname "$0")/cli_lib.sh"
losses() { grep '"loss"' "$1" | sed 's/, "tokens_per_s.*//'; } # the log without timings
state_step() { sed -n 's/^  "step": \([0-9]*\),/\1/p' "$1/train_state.json"; }
wait_for() { # file, seconds: true once the file exists
    local i
    for i in $(seq 1 $(($2 * 10))); do [ -e "$1" ] && return 0; sleep 0.1; done
    return 1
}

# data: a few KB of text, a character tokenizer, train/val shards
for i in $(seq 1 200); do echo "The king $i shall speak, and the queen shall not; thou art my lord."; done >"$tmp/a.txt"
expect "tokenizer" 0 "$attn" tokenizer train -i "$tmp/a.txt" --chars -o "$tmp/tok.json"
expect "data prepare" 0 "$attn" data prepare -i "$tmp/a.txt" -o "$tmp/data" --tokenizer "$tmp/tok.json"
model=(--layers 2 --heads 2 --embd 32 --batch 4 --seq 32 -t 1 --eval-every 5 --eval-batches 2)

expect "help" 0 "$attn" train --help
contains "help shows --resume" "$tmp/out" "--resume"
expect "no --data" 2 "$attn" train --out "$tmp/x"
expect "unknown option" 2 "$attn" train --data "$tmp/data" --out "$tmp/x" --frob

# a straight run: progress, eval, sample, log, checkpoint
expect "train 20 steps" 0 "$attn" train --data "$tmp/data" --out "$tmp/a" "${model[@]}" --steps 20 --save-every 5 \
    --sample-every 10 --sample-len 20 --log "$tmp/a.jsonl"
contains "progress line" "$tmp/err" "step 20/20 | loss"
contains "tokens/s shown" "$tmp/err" "tok/s | ETA"
contains "val loss shown" "$tmp/err" "val loss"
contains "sample shown" "$tmp/err" "--- sample at step 10 ---"
contains "done message" "$tmp/err" "done, 20 steps"
if [ "$(grep -c '"loss"' "$tmp/a.jsonl")" -eq 20 ]; then ok; else bad "log has $(grep -c '"loss"' "$tmp/a.jsonl") step lines"; fi
contains "log step fields" "$tmp/a.jsonl" '"grad_norm"'
contains "log eval fields" "$tmp/a.jsonl" '"ppl"'
for f in model.safetensors config.json tokenizer.json train_state.json train_state.safetensors; do
    if [ -f "$tmp/a/$f" ]; then ok; else bad "checkpoint lacks $f"; fi
done
# bf16 matrix products (--matmul bf16): where the CPU has AVX512-BF16 (AMX or not), the same
# run's losses stay within 2% of the f32 ones; elsewhere a clear refusal naming BF16
expect "bad precision" 2 "$attn" train --data "$tmp/data" --out "$tmp/p" "${model[@]}" --steps 2 --matmul fp8
contains "precision choices named" "$tmp/err" "f32, bf16, int8 or auto"
expect "int8 refused for training" 2 "$attn" train --data "$tmp/data" --out "$tmp/p" "${model[@]}" --steps 2 --matmul int8
contains "int8 refusal says why" "$tmp/err" "training takes f32 or bf16"
"$attn" train --data "$tmp/data" --out "$tmp/bf" "${model[@]}" --steps 20 --log "$tmp/bf.jsonl" --matmul bf16 \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
last_loss() { grep '"step": 20, "loss"' "$1" | sed 's/.*"loss": \([0-9.e+-]*\),.*/\1/'; }
if [ $rc -eq 0 ]; then
    if awk -v a="$(last_loss "$tmp/a.jsonl")" -v b="$(last_loss "$tmp/bf.jsonl")" \
        'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a > 0 && d <= 0.02 * a && a != b) }'; then ok
    else bad "bf16 step-20 loss $(last_loss "$tmp/bf.jsonl") against f32 $(last_loss "$tmp/a.jsonl")"; fi
elif [ $rc -eq 2 ] && grep -q "BF16" "$tmp/err"; then
    ok
    echo "note: no AVX512-BF16 here: --matmul bf16 refused as it should be"
else bad "--matmul bf16: exit $rc: $(tail -c 300 "$tmp/err")"; fi

expect "generate from the checkpoint" 0 "$attn" generate -m "$tmp/a" -p "The king" -n 10 --seed 1
expect "fresh run into a checkpoint" 1 "$attn" train --data "$tmp/data" --out "$tmp/a" "${model[@]}" --steps 5
contains "refusal names --resume" "$tmp/err" "--resume"

expect "trailing slash on --out" 0 "$attn" train --data "$tmp/data" --out "$tmp/a/" --resume -t 1 --steps 20
contains "a finished run says so" "$tmp/err" "nothing to train: the checkpoint in $tmp/a/ is already at step 20"
if [ -d "$tmp/a" ] && ! ls -d "$tmp"/a/.tmp-* "$tmp"/a/.old >/dev/null 2>&1; then ok; else bad "trailing slash misplaced the checkpoint"; fi

# 10 steps, then --resume for 10 more: the same losses as strings
expect "first half" 0 "$attn" train --data "$tmp/data" --out "$tmp/b" "${model[@]}" --steps 20 --save-every 5 \
    --stop-at 10 --log "$tmp/b.jsonl"
expect "resume" 0 "$attn" train --data "$tmp/data" --out "$tmp/b" --resume -t 1 --eval-every 5 --eval-batches 2 \
    --log "$tmp/b.jsonl"
contains "resume note" "$tmp/err" "resuming from step 10"
if [ "$(losses "$tmp/a.jsonl")" = "$(losses "$tmp/b.jsonl")" ] && [ -n "$(losses "$tmp/b.jsonl")" ]; then ok
else bad "resumed losses differ: $(diff <(losses "$tmp/a.jsonl") <(losses "$tmp/b.jsonl") | head -4)"; fi
if cmp -s "$tmp/a/model.safetensors" "$tmp/b/model.safetensors"; then ok; else bad "resumed weights differ"; fi

# a config file gives the same keys as the flags
cat >"$tmp/cfg.json" <<EOF
{"data": "$tmp/data", "out": "$tmp/c", "layers": 2, "heads": 2, "embd": 32, "batch": 4, "seq": 32,
 "steps": 20, "stop-at": 5, "eval-every": 5, "eval-batches": 2, "threads": 1, "log": "$tmp/c.jsonl"}
EOF
expect "config file" 0 "$attn" train --config "$tmp/cfg.json"
if [ "$(losses "$tmp/c.jsonl")" = "$(losses "$tmp/a.jsonl" | head -5)" ]; then ok; else bad "config run differs from flags"; fi
echo '{"layers": [1]}' >"$tmp/badcfg.json"
expect "bad config value" 2 "$attn" train --config "$tmp/badcfg.json" --data "$tmp/data" --out "$tmp/x"

# SIGINT: finish the step, save, exit 0
"$attn" train --data "$tmp/data" --out "$tmp/s" "${model[@]}" --steps 1000000 --save-every 0 --eval-every 0 \
    --log "$tmp/s.jsonl" >"$tmp/s.out" 2>"$tmp/s.err" &
bgpid=$!
wait_for "$tmp/s.jsonl" 30 && sleep 0.3
kill -INT "$bgpid"
wait "$bgpid"; rc=$?; bgpid=
if [ "$rc" -eq 0 ]; then ok; else bad "SIGINT: exit $rc; $(tail -c 300 "$tmp/s.err")"; fi
contains "SIGINT message" "$tmp/s.err" "stopped by a signal"
n=$(state_step "$tmp/s")
if [ -n "$n" ] && [ "$n" -ge 1 ]; then ok; else bad "SIGINT checkpoint step '$n'"; fi
expect "resume after SIGINT" 0 "$attn" train --data "$tmp/data" --out "$tmp/s" --resume -t 1 --steps $((n + 2))
contains "resumed at the signal's step" "$tmp/err" "resuming from step $n"

# SIGTERM too
"$attn" train --data "$tmp/data" --out "$tmp/t" "${model[@]}" --steps 1000000 --save-every 0 --eval-every 0 \
    --log "$tmp/t.jsonl" >/dev/null 2>"$tmp/t.err" &
bgpid=$!
wait_for "$tmp/t.jsonl" 30 && sleep 0.2
kill -TERM "$bgpid"
wait "$bgpid"; rc=$?; bgpid=
if [ "$rc" -eq 0 ] && [ "$(state_step "$tmp/t")" = "$(grep -c '"loss"' "$tmp/t.jsonl")" ]; then ok
else bad "SIGTERM: exit $rc, saved step $(state_step "$tmp/t"); $(tail -c 300 "$tmp/t.err")"; fi

# kill -9: at most the steps since the last save are lost
"$attn" train --data "$tmp/data" --out "$tmp/k" "${model[@]}" --steps 1000000 --save-every 5 --eval-every 0 \
    --log "$tmp/k.jsonl" >/dev/null 2>&1 &
bgpid=$!
wait_for "$tmp/k/train_state.json" 30 && sleep 0.2
kill -9 "$bgpid"
wait "$bgpid" 2>/dev/null; bgpid=
expect "resume after kill -9" 0 "$attn" train --data "$tmp/data" --out "$tmp/k" --resume -t 1 --steps 1 --eval-every 0 \
    --log "$tmp/k.jsonl"
saved=$(sed -n 's/.*resuming from step \([0-9]*\).*/\1/p' "$tmp/err")
logged=$(grep -c '"loss"' "$tmp/k.jsonl")
if [ -n "$saved" ] && [ $((saved % 5)) -eq 0 ] && [ "$saved" -ge 5 ]; then ok
else bad "after kill -9: resumed from '$saved'"; fi
# the resumed run drops log lines of steps the checkpoint never saw: the log reads as one run
if [ "$logged" = "$saved" ] && [ -z "$(grep -o '"step": [0-9]*' "$tmp/k.jsonl" | sort | uniq -d)" ]; then ok
else bad "after kill -9 and resume: $logged step lines for $saved steps, or duplicates"; fi
ls -d "$tmp"/k.old "$tmp"/k.tmp-* >/dev/null 2>&1 && bad "leftover temp or old folder after recovery" || ok
expect "killed checkpoint loads" 0 "$attn" generate -m "$tmp/k" -p "The" -n 5 --seed 2

# bad input: clear errors, never a crash
expect "resume without checkpoint" 1 "$attn" train --data "$tmp/data" --out "$tmp/none" --resume
contains "no checkpoint message" "$tmp/err" "no checkpoint"
expect "missing data" 1 "$attn" train --data "$tmp/nodata" --out "$tmp/x"
contains "missing data message" "$tmp/err" "attn data prepare"
echo "tiny" >"$tmp/tiny.txt"
expect "tiny prepare" 0 "$attn" data prepare -i "$tmp/tiny.txt" -o "$tmp/tinydata" --tokenizer "$tmp/tok.json"
expect "corpus smaller than a batch" 1 "$attn" train --data "$tmp/tinydata" --out "$tmp/x" "${model[@]}"
contains "batch message" "$tmp/err" "fewer than one batch"
for i in $(seq 1 100); do echo "Once upon a time there was a girl named Lily $i: QUICK BROWN FOX JUMPS OVER ZEBRAS!"; done >"$tmp/other.txt"
expect "other tokenizer" 0 "$attn" tokenizer train -i "$tmp/other.txt" --chars -o "$tmp/tok2.json"
expect "other data" 0 "$attn" data prepare -i "$tmp/other.txt" -o "$tmp/data2" --tokenizer "$tmp/tok2.json"
expect "resume on other data" 1 "$attn" train --data "$tmp/data2" --out "$tmp/b" --resume
contains "tokenizer mismatch named" "$tmp/err" "another tokenizer"
expect "resume with another shape" 1 "$attn" train --data "$tmp/data" --out "$tmp/b" --resume --layers 3
contains "shape mismatch named" "$tmp/err" "model shape"
# a val split of another tokenizer is refused before training, not at the first evaluation
mkdir -p "$tmp/mixed" && cp "$tmp/data/train.bin" "$tmp/data/tokenizer.json" "$tmp/mixed/" 2>/dev/null
cp "$tmp/data2/val.bin" "$tmp/mixed/val.bin"
expect "val of another tokenizer" 1 "$attn" train --data "$tmp/mixed" --out "$tmp/mx" "${model[@]}" --steps 2
contains "val file named" "$tmp/err" "mixed/val.bin"
if [ -e "$tmp/mx" ]; then bad "a refused run left a checkpoint folder"; else ok; fi
expect "min-lr above lr" 1 "$attn" train --data "$tmp/data" --out "$tmp/x" "${model[@]}" --steps 2 --lr 1e-3 --min-lr 1e-2
contains "min-lr named" "$tmp/err" "--min-lr 0.01 is above --lr 0.001"
expect "a peak below the default floor" 0 "$attn" train --data "$tmp/data" --out "$tmp/lowlr" "${model[@]}" --steps 2 \
    --lr 5e-5 --eval-every 0
contains "the floor follows the peak" "$tmp/lowlr/train_state.json" '"min_lr": 4.99999987e-6'
expect "beta2 of 1" 1 "$attn" train --data "$tmp/data" --out "$tmp/x" "${model[@]}" --steps 2 --beta2 1
contains "betas named" "$tmp/err" "must be in [0, 1)"
expect "fine-tune a model with a smaller vocabulary" 1 "$attn" train --data "$tmp/data2" --out "$tmp/x" --init "$tmp/a" \
    --batch 4 --seq 32 --steps 2
contains "vocabulary named" "$tmp/err" "vocabulary"
expect "fine-tune from a checkpoint folder" 0 "$attn" train --data "$tmp/data" --out "$tmp/ft" --init "$tmp/a" \
    --batch 4 --seq 32 --steps 3 -t 1 --eval-every 0
expect "zero steps" 1 "$attn" train --data "$tmp/data" --out "$tmp/x" "${model[@]}" --steps 0
contains "zero steps refused, not run as 100" "$tmp/err" "--steps must be at least 1"
# an --out the run could never save to is refused before the first step, not after it
mkdir -p "$tmp/mine" && echo "notes" >"$tmp/mine/notes.txt"
expect "--out a folder of the user's files" 1 "$attn" train --data "$tmp/data" --out "$tmp/mine" "${model[@]}" --steps 2
contains "the user's file named" "$tmp/err" "holds 'notes.txt'"
if grep -q "step 1/" "$tmp/err"; then bad "trained before refusing --out"; else ok; fi
expect "--out a file" 1 "$attn" train --data "$tmp/data" --out "$tmp/a.txt" "${model[@]}" --steps 2
contains "--out a file named" "$tmp/err" "exists and is not a folder"
expect "init from a missing folder" 1 "$attn" train --data "$tmp/data" --out "$tmp/x" --init "$tmp/nothere" --steps 2
contains "the missing folder named" "$tmp/err" "nothere: no such folder or file"
# a model of a larger vocabulary fine-tuned on data of another tokenizer: no token id is out of
# range, but its tokenizer.json says the data is not its own
expect "model of the other tokenizer" 0 "$attn" train --data "$tmp/data2" --out "$tmp/m2" "${model[@]}" --steps 2 \
    --eval-every 0
expect "fine-tune on data of another tokenizer" 1 "$attn" train --data "$tmp/data" --out "$tmp/x" --init "$tmp/m2" \
    --batch 4 --seq 32 --steps 2
contains "other tokenizer named" "$tmp/err" "made with another tokenizer than the model in"
expect "the same, --init naming the weights file" 1 "$attn" train --data "$tmp/data" --out "$tmp/x" \
    --init "$tmp/m2/model.safetensors" --batch 4 --seq 32 --steps 2
contains "other tokenizer named (file)" "$tmp/err" "made with another tokenizer than the model in"
cp -r "$tmp/b" "$tmp/bd"
sed -i 's/"batch": "0x0*14"/"batch": "0x0000000000000007"/' "$tmp/bd/train_state.json"
expect "edited data cursor" 1 "$attn" train --data "$tmp/data" --out "$tmp/bd" --resume --steps 21
contains "cursor named" "$tmp/err" "data batch 7 does not follow from step 20"
printf '{"data": "%s", "out": "%s", "lr": null}' "$tmp/data" "$tmp/x" >"$tmp/nullcfg.json"
expect "null config value" 2 "$attn" train --config "$tmp/nullcfg.json"
contains "null key named" "$tmp/err" "key 'lr' is null"
printf '{"data": "%s", "out": "%s", "steps": 2, "steps": 3}' "$tmp/data" "$tmp/x" >"$tmp/dupcfg.json"
expect "duplicate config key" 2 "$attn" train --config "$tmp/dupcfg.json"
contains "duplicate named" "$tmp/err" "duplicate"
cp -r "$tmp/b" "$tmp/bc"
truncate -s 1000 "$tmp/bc/model.safetensors"
expect "truncated checkpoint" 1 "$attn" train --data "$tmp/data" --out "$tmp/bc" --resume
contains "truncated file named" "$tmp/err" "model.safetensors"
cp -r "$tmp/b" "$tmp/bj"
echo '{"format": "attn-tr' >"$tmp/bj/train_state.json"
expect "torn train_state.json" 1 "$attn" train --data "$tmp/data" --out "$tmp/bj" --resume
contains "json named" "$tmp/err" "train_state.json"

# a save that hits the file size limit (like a full disk) fails; the old checkpoint stays
cp "$tmp/b/model.safetensors" "$tmp/before.safetensors"
expect "save past ulimit -f" 1 bash -c "ulimit -f 16; exec \"$attn\" train --data \"$tmp/data\" --out \"$tmp/b\" --resume -t 1 --steps 21 --eval-every 0"
contains "intact message" "$tmp/err" "previous checkpoint is intact"
if cmp -s "$tmp/b/model.safetensors" "$tmp/before.safetensors" && [ "$(state_step "$tmp/b")" = 20 ]; then ok
else bad "the failed save changed the checkpoint"; fi
ls -d "$tmp"/b.tmp-* >/dev/null 2>&1 && bad "temp folder left after the failed save" || ok

# plot
expect "plot" 0 "$attn" plot "$tmp/a.jsonl" -o "$tmp/loss.svg"
contains "svg root" "$tmp/loss.svg" "<svg"
contains "legend train" "$tmp/loss.svg" "train loss"
contains "legend val" "$tmp/loss.svg" "val loss"
if command -v rsvg-convert >/dev/null; then
    expect "svg renders" 0 rsvg-convert "$tmp/loss.svg" -o "$tmp/loss.png"
fi
: >"$tmp/empty.jsonl"
expect "plot of an empty log" 1 "$attn" plot "$tmp/empty.jsonl" -o "$tmp/e.svg"
expect "plot without a log" 2 "$attn" plot -o "$tmp/e.svg"
# any number of arguments: the log after 70 options is still found (a fixed list of 64 lost it)
titles=(); for i in $(seq 1 70); do titles+=(--title "t$i"); done
expect "plot after 140 option words" 0 "$attn" plot -o "$tmp/many.svg" "${titles[@]}" "$tmp/a.jsonl"
contains "the last title wins" "$tmp/many.svg" ">t70</text>"
# -o naming the log (by any path) would replace the log with its plot: refused, the log kept
cp "$tmp/a.jsonl" "$tmp/keep.jsonl"
expect "plot -o its own log" 1 "$attn" plot "$tmp/keep.jsonl" -o "$tmp/./keep.jsonl"
contains "own log named" "$tmp/err" "overwrite the input"
if cmp -s "$tmp/keep.jsonl" "$tmp/a.jsonl"; then ok; else bad "plot replaced its log"; fi
# lines that cannot be drawn are skipped and counted; a title of any bytes stays well-formed XML
printf '{"step": 1, "loss": 3.5}\n{"step": 2, "loss": 1e308}\n{"step": 3, "loss": NaN}\n{"step": 4, "lo\n{"step": 5, "loss": 2.5}\n' \
    >"$tmp/odd.jsonl"
expect "plot of an odd log" 0 "$attn" plot "$tmp/odd.jsonl" -o "$tmp/odd.svg" --title $'ti\xfftle <&>\x01'
contains "skipped lines counted" "$tmp/err" "skipped 3 lines"
contains "two points drawn" "$tmp/err" "2 train points"
if grep -q -e nan -e inf "$tmp/odd.svg"; then bad "non-finite coordinates in the SVG"; else ok; fi
if LC_ALL=C grep -q $'\xff\|\x01' "$tmp/odd.svg"; then bad "raw invalid bytes in the SVG title"; else ok; fi
contains "title escaped" "$tmp/odd.svg" "tle &lt;&amp;&gt;"
if command -v rsvg-convert >/dev/null; then
    expect "odd svg renders" 0 rsvg-convert "$tmp/odd.svg" -o "$tmp/odd.png"
fi

echo "test_cli_train: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
