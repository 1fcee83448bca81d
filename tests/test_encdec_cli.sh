#!/usr/bin/env bash
# test_encdec_cli.sh - the encoder-decoder commands end to end: a joint tokenizer trained by
# `attn tokenizer train` on a synthetic copy task, `attn train-encdec` (then --resume, which must
# match an uninterrupted run bit for bit), `attn translate` scored by `attn bleu` (the copy task
# must reach BLEU > 90), `attn average`, and the bad inputs: line counts that differ, a GPT-2
# model, invalid UTF-8, empty and over-long lines.
set -u
. "$(dirname "$0")/cli_lib.sh"

# 1500 training pairs of 1-5 words from 12, the target a copy of the source
python3 - "$tmp" <<'PY'
import random, sys
r, d = random.Random(1), sys.argv[1]
words = "red blue green cat dog sun moon tree fish bird rock star".split()
def write(name, n):
    lines = [" ".join(r.choice(words) for _ in range(r.randint(1, 5))) for _ in range(n)]
    for side in ("src", "tgt"):
        open(f"{d}/{name}.{side}", "w").write("\n".join(lines) + "\n")
write("train", 1500); write("valid", 100); write("test", 100)
PY
expect "tokenizer" 0 "$attn" tokenizer train -i "$tmp/train.src" "$tmp/train.tgt" -o "$tmp/tok.json" --vocab-size 320
shape=(--layers 2 --d-model 64 --heads 4 --d-ff 128 --max-len 32 --dropout 0 --max-tokens 512 --warmup 200 --clip 1)
train() { "$attn" train-encdec --src "$tmp/train.src" --tgt "$tmp/train.tgt" --tokenizer "$tmp/tok.json" \
    --valid-src "$tmp/valid.src" --valid-tgt "$tmp/valid.tgt" --out "$tmp/ck" "${shape[@]}" --eval-every 400 "$@"; }

# half the run, a copy of that checkpoint, then --resume to the end
expect "train 400 steps" 0 train --steps 400 --log "$tmp/log.jsonl"
contains "validation loss reported" "$tmp/err" "step 400: val loss"
contains "checkpoint has its tokenizer" <(ls "$tmp/ck") "tokenizer.json"
cp -r "$tmp/ck" "$tmp/ck400"
expect "resume to 800 steps" 0 train --steps 800 --resume --log "$tmp/log.jsonl"
contains "resumed" "$tmp/err" "resumed $tmp/ck at step 400"
if [ "$(grep -c '"loss"' "$tmp/log.jsonl")" -eq 800 ]; then ok; else bad "log: $(grep -c '"loss"' "$tmp/log.jsonl") step lines, wanted 800"; fi
# a new run (no --resume) into that folder is refused and leaves the checkpoint alone
cp "$tmp/ck/model.safetensors" "$tmp/ck800.safetensors"
expect "a new run into a checkpoint" 1 train --steps 10
contains "refused by name" "$tmp/err" "already holds a checkpoint: pass --resume"
if cmp -s "$tmp/ck/model.safetensors" "$tmp/ck800.safetensors"; then ok; else bad "the refused run changed the checkpoint"; fi
expect "resume with no steps left" 0 train --steps 800 --resume
contains "nothing to do" "$tmp/err" "is at step 800 already"

# a lying training state: a --max-tokens no command line could give is refused, not divided by
cp -r "$tmp/ck" "$tmp/huge" && sed -i 's/"max_tokens": 512/"max_tokens": 1099511627776/' "$tmp/huge/encdec_state.json"
expect "resume a state of 2^40 max_tokens" 1 "$attn" train-encdec --src "$tmp/train.src" --tgt "$tmp/train.tgt" \
    --tokenizer "$tmp/tok.json" --out "$tmp/huge" --steps 801 --resume
contains "max_tokens named" "$tmp/err" 'encdec_state.json: "max_tokens" = 1099511627776 is out of range [2, 16777216]'

# a state without its step (or with a seed that is no hex string) is refused: it resumed at step 0
# on the trained weights and trimmed the run's log to nothing
cp -r "$tmp/ck" "$tmp/nostep" && cp "$tmp/log.jsonl" "$tmp/nostep.jsonl"
python3 -c 'import json,sys; p=sys.argv[1]; s=json.load(open(p)); del s["step"]; json.dump(s, open(p, "w"))' \
    "$tmp/nostep/encdec_state.json"
expect "resume a state without its step" 1 "$attn" train-encdec --src "$tmp/train.src" --tgt "$tmp/train.tgt" \
    --tokenizer "$tmp/tok.json" --out "$tmp/nostep" --steps 801 --resume --log "$tmp/nostep.jsonl"
contains "step named" "$tmp/err" 'nostep/encdec_state.json: "step" missing'
if cmp -s "$tmp/log.jsonl" "$tmp/nostep.jsonl"; then ok; else bad "the refused resume changed its log"; fi
cp -r "$tmp/ck" "$tmp/badseed" && sed -i 's/"dropout_seed": "[0-9a-f]*"/"dropout_seed": "zz"/' "$tmp/badseed/encdec_state.json"
expect "resume a state whose dropout seed is no hex string" 1 "$attn" train-encdec --src "$tmp/train.src" \
    --tgt "$tmp/train.tgt" --tokenizer "$tmp/tok.json" --out "$tmp/badseed" --steps 801 --resume
contains "seed named" "$tmp/err" '"dropout_seed" missing or not a hex string'

# --resume continues bit-identically, dropout on: 40 steps saving every 20, next to 20 steps,
# 10 more (logged, then lost as in a crash: the step-20 checkpoint put back) and a --resume to 40
# that repeats none of the recipe flags (the checkpoint's recipe and model win). Losses, learning
# rates and grad norms must match as strings, the weights byte for byte, and the log must hold
# each step once (the resumed run trims the lines logged after the checkpoint).
losses() { grep '"loss"' "$1" | sed 's/, "tokens_per_s.*//'; } # the log without timings
data=(--src "$tmp/train.src" --tgt "$tmp/train.tgt" --tokenizer "$tmp/tok.json")
recipe=(--layers 1 --d-model 32 --heads 2 --d-ff 64 --max-len 32 --dropout 0.1 --max-tokens 256 --warmup 20 --clip 1
    --seed 7 --valid-src "$tmp/valid.src" --valid-tgt "$tmp/valid.tgt" --eval-every 15)
expect "uninterrupted 40 steps" 0 "$attn" train-encdec "${data[@]}" "${recipe[@]}" --out "$tmp/u" --steps 40 \
    --save-every 20 --log "$tmp/u.jsonl"
expect "first 20 steps" 0 "$attn" train-encdec "${data[@]}" "${recipe[@]}" --out "$tmp/h" --steps 20 --log "$tmp/h.jsonl"
cp -r "$tmp/h" "$tmp/h20"
expect "10 steps past the checkpoint" 0 "$attn" train-encdec "${data[@]}" "${recipe[@]}" --out "$tmp/h" --steps 30 \
    --resume --log "$tmp/h.jsonl"
rm -rf "$tmp/h" && mv "$tmp/h20" "$tmp/h"
expect "resume without the recipe flags" 0 "$attn" train-encdec "${data[@]}" --out "$tmp/h" --steps 40 --resume \
    --log "$tmp/h.jsonl"
contains "recipe from the checkpoint" "$tmp/err" "--max-tokens 256 from the checkpoint"
contains "model from the checkpoint" "$tmp/err" "the checkpoint's model is used: --layers 1 --d-model 32"
if [ "$(losses "$tmp/u.jsonl")" = "$(losses "$tmp/h.jsonl")" ] && [ "$(grep -c '"loss"' "$tmp/h.jsonl")" -eq 40 ]; then ok
else bad "resumed run differs: $(diff <(losses "$tmp/u.jsonl") <(losses "$tmp/h.jsonl") | head -4)"; fi
if cmp -s "$tmp/u/model.safetensors" "$tmp/h/model.safetensors"; then ok; else bad "resumed weights differ"; fi

# --keep 2: the model of the two newest saves stays beside the checkpoint as OUT-at-STEP
expect "train with --keep 2" 0 "$attn" train-encdec "${data[@]}" "${recipe[@]}" --out "$tmp/k/" --steps 30 \
    --save-every 10 --keep 2
kept="$(cd "$tmp" && ls -d k-at-* | tr '\n' ' ')"
if [ "$kept" = "k-at-20 k-at-30 " ]; then ok; else bad "--keep 2 left: $kept"; fi
if cmp -s "$tmp/k/model.safetensors" "$tmp/k-at-30/model.safetensors" && [ ! -e "$tmp/k-at-30/encdec_state.json" ]; then ok
else bad "k-at-30 is not the final model alone"; fi
expect "average the kept models" 0 "$attn" average -o "$tmp/k-avg" "$tmp"/k-at-*

# beam search (the default) and greedy decoding both copy the test sentences
expect "translate" 0 "$attn" translate -m "$tmp/ck" -i "$tmp/test.src" -o "$tmp/hyp.txt"
expect "bleu" 0 "$attn" bleu "$tmp/hyp.txt" "$tmp/test.tgt" --json
bleu_at_least() { # description, minimum, file with attn bleu --json output
    if python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["score"]; sys.exit(0 if s > float(sys.argv[2]) else 1)' "$3" "$2"
    then ok; else bad "$1: BLEU not above $2: $(head -c 300 "$3")"; fi
}
bleu_at_least "copy task, beam 4" 90 "$tmp/out"
# -o is written whole at the end: a failed run (here the file size limit) leaves the old file as it was
echo precious >"$tmp/keep.txt"
expect "translate past ulimit -f" 1 sh -c 'ulimit -f 1; exec "$0" translate -m "$1" -i "$2" -o "$3" --greedy' "$attn" \
    "$tmp/ck" "$tmp/train.tgt" "$tmp/keep.txt"
if [ "$(cat "$tmp/keep.txt")" = precious ] && [ -z "$(ls "$tmp" | grep 'keep.txt.tmp')" ]; then ok
else bad "a failed translate changed its -o file: $(head -c 100 "$tmp/keep.txt")"; fi
expect "translate from stdin, greedy" 0 sh -c '"$0" translate -m "$1" --greedy <"$2" >"$3"' "$attn" "$tmp/ck" "$tmp/test.src" "$tmp/hyp_greedy.txt"
expect "bleu greedy" 0 "$attn" bleu "$tmp/hyp_greedy.txt" "$tmp/test.tgt" --json
bleu_at_least "copy task, greedy" 90 "$tmp/out"

# attn average: an atomic model folder that loads and translates
expect "average" 0 "$attn" average -o "$tmp/avg" "$tmp/ck400" "$tmp/ck"
expect "translate with the average" 0 "$attn" translate -m "$tmp/avg" -i "$tmp/test.src" -o "$tmp/hyp_avg.txt"
if [ "$(wc -l <"$tmp/hyp_avg.txt")" -eq 100 ] && [ -s "$tmp/hyp_avg.txt" ]; then ok; else bad "average: $(wc -l <"$tmp/hyp_avg.txt") lines"; fi
expect "average of nothing" 2 "$attn" average -o "$tmp/avg2"
expect "average of a missing folder" 1 "$attn" average -o "$tmp/avg2" "$tmp/ck" "$tmp/nothing"
if [ ! -e "$tmp/avg2" ]; then ok; else bad "a failed average left $tmp/avg2 behind"; fi
# checkpoints of one shape but another tokenizer, or another epsilon: their mean is no model
cp -r "$tmp/ck" "$tmp/ck-tok" && printf ' ' >>"$tmp/ck-tok/tokenizer.json"
expect "average across tokenizers" 1 "$attn" average -o "$tmp/avg2" "$tmp/ck" "$tmp/ck-tok"
contains "tokenizers named" "$tmp/err" "averaging needs checkpoints of one tokenizer"
cp -r "$tmp/ck" "$tmp/ck-eps" && sed -i 's/"layer_norm_eps": [0-9.e-]*/"layer_norm_eps": 0.001/' "$tmp/ck-eps/config.json"
expect "average across epsilons" 1 "$attn" average -o "$tmp/avg2" "$tmp/ck" "$tmp/ck-eps"
contains "epsilon named" "$tmp/err" "another LayerNorm (placement or epsilon)"
if [ ! -e "$tmp/avg2" ]; then ok; else bad "a refused average left $tmp/avg2 behind"; fi
# -o naming one of the checkpoints (by any path) would replace it with the mean: refused, it stays
# (a model folder of average's own, which the folder swap would replace without a word)
cp -r "$tmp/avg" "$tmp/avg-in"
expect "average -o one of its checkpoints" 1 "$attn" average -o "$tmp/./avg-in/" "$tmp/ck" "$tmp/avg-in"
contains "the checkpoint named" "$tmp/err" "overwrite the input"
if cmp -s "$tmp/avg-in/model.safetensors" "$tmp/avg/model.safetensors"; then ok; else bad "average replaced its input checkpoint"; fi

# translate -o naming its input, its tokenizer or a file of its model folder would destroy it: refused
cp "$tmp/test.src" "$tmp/in.txt" && cp "$tmp/tok.json" "$tmp/tok-in.json" && cp -r "$tmp/ck400" "$tmp/ck-t"
expect "translate -o its -i" 1 "$attn" translate -m "$tmp/ck" -i "$tmp/in.txt" -o "$tmp/./in.txt" --greedy
contains "-i named" "$tmp/err" "overwrite the input"
expect "translate -o its --tokenizer" 1 "$attn" translate -m "$tmp/ck" -i "$tmp/test.src" --tokenizer "$tmp/tok-in.json" \
    -o "$tmp/tok-in.json" --greedy
contains "--tokenizer named" "$tmp/err" "overwrite the input"
for f in tokenizer.json config.json model.safetensors; do
    expect "translate -o the model's $f" 1 "$attn" translate -m "$tmp/ck-t" -i "$tmp/test.src" -o "$tmp/ck-t/$f" --greedy
    contains "the model's $f named" "$tmp/err" "overwrite the input"
done
if cmp -s "$tmp/in.txt" "$tmp/test.src" && cmp -s "$tmp/tok-in.json" "$tmp/tok.json" && diff -r "$tmp/ck-t" "$tmp/ck400" >/dev/null
then ok; else bad "translate replaced one of its inputs"; fi

# empty lines give empty lines; over-long lines are cut with a warning
printf 'red cat\n\nblue\n' >"$tmp/empty.txt"
expect "empty line" 0 "$attn" translate -m "$tmp/ck" -i "$tmp/empty.txt" --greedy
if [ "$(sed -n 2p "$tmp/out")" = "" ] && [ "$(wc -l <"$tmp/out")" -eq 3 ] && [ "$(sed -n 3p "$tmp/out")" = "blue" ]
then ok; else bad "empty line: $(cat "$tmp/out")"; fi
python3 -c 'print("red"); print(" ".join(["cat"] * 60))' >"$tmp/long.txt"
expect "long line" 0 "$attn" translate -m "$tmp/ck" -i "$tmp/long.txt" --greedy
contains "long line warned" "$tmp/err" "cut to fit (first: line 2)"

# --out a folder of the user's files, or a file: refused before any training step (not at the first save)
mkdir "$tmp/mine" && echo notes >"$tmp/mine/notes.txt"
expect "--out a folder of other files" 1 "$attn" train-encdec --src "$tmp/valid.src" --tgt "$tmp/valid.tgt" \
    --tokenizer "$tmp/tok.json" --out "$tmp/mine" --steps 1 --log "$tmp/mine.jsonl"
contains "the other file named" "$tmp/err" "mine holds 'notes.txt', which the new checkpoint would not keep"
if [ ! -e "$tmp/mine.jsonl" ] && [ "$(cat "$tmp/mine/notes.txt")" = notes ]; then ok; else bad "trained before refusing --out"; fi
expect "--out a file" 1 "$attn" train-encdec --src "$tmp/valid.src" --tgt "$tmp/valid.tgt" \
    --tokenizer "$tmp/tok.json" --out "$tmp/mine/notes.txt" --steps 1
contains "not a folder" "$tmp/err" "notes.txt exists and is not a folder"

# --out a symbolic link to a checkpoint: refused (the folder swap replaced the link and emptied its target)
cp -r "$tmp/ck400" "$tmp/real" && ln -s real "$tmp/link"
expect "resume through a symbolic link" 1 "$attn" train-encdec --src "$tmp/valid.src" --tgt "$tmp/valid.tgt" \
    --tokenizer "$tmp/tok.json" --out "$tmp/link/" --steps 401 --resume
contains "link named" "$tmp/err" "link is a symbolic link (to real)"
expect "average into a symbolic link" 1 "$attn" average -o "$tmp/link" "$tmp/ck"
if [ -L "$tmp/link" ] && cmp -s "$tmp/real/model.safetensors" "$tmp/ck400/model.safetensors"; then ok
else bad "the link or its checkpoint changed"; fi

# a --max-len shorter than the batch plan's rows (--max-tokens 7 plans rows of 7): the plan
# takes rows of --max-len; it was refused as "encoder-decoder batch 1 x (7, 7)"
printf 'red\ncat\n' >"$tmp/one.src" && printf 'rot\nkatze\n' >"$tmp/one.tgt"
expect "--max-len under the plan's rows" 0 "$attn" train-encdec --src "$tmp/one.src" --tgt "$tmp/one.tgt" \
    --tokenizer "$tmp/tok.json" --out "$tmp/short-len" --steps 2 --max-len 6 --max-tokens 7
expect "--max-len no pair fits" 1 "$attn" train-encdec --src "$tmp/one.src" --tgt "$tmp/one.tgt" \
    --tokenizer "$tmp/tok.json" --out "$tmp/short-len2" --steps 2 --max-len 2
contains "what fits said" "$tmp/err" "each side at most 1 tokens: --max-len less its EOS or BOS"

# bad input
head -n 10 "$tmp/train.tgt" >"$tmp/short.tgt"
expect "line counts differ" 1 "$attn" train-encdec --src "$tmp/train.src" --tgt "$tmp/short.tgt" --tokenizer "$tmp/tok.json" --out "$tmp/bad" --steps 1
contains "both counts named" "$tmp/err" "has 1500 lines but $tmp/short.tgt has 10"
printf 'red cat\nblue \xff\xfe dog\n' >"$tmp/bad_utf8.txt"
expect "invalid UTF-8 to translate" 1 "$attn" translate -m "$tmp/ck" -i "$tmp/bad_utf8.txt"
contains "invalid UTF-8 line named" "$tmp/err" "bad_utf8.txt:2: invalid UTF-8"
cp "$tmp/train.src" "$tmp/bad.tgt" && printf 'cat \xc0\xaf\n' >>"$tmp/bad.tgt" && echo red >>"$tmp/train.src"
expect "invalid UTF-8 to train" 1 "$attn" train-encdec --src "$tmp/train.src" --tgt "$tmp/bad.tgt" --tokenizer "$tmp/tok.json" --out "$tmp/bad" --steps 1
contains "training line named" "$tmp/err" "bad.tgt:1501: invalid UTF-8"
# a tokenizer that is no tokenizer.json (llama2.c's tokenizer.bin here; also a GGUF or vocab.json +
# merges.txt) is refused before training: the checkpoint keeps a copy named tokenizer.json
python3 -c 'import struct, sys; sys.stdout.buffer.write(struct.pack("<i", 7) + b"".join(struct.pack("<fi", 0, len(t)) + t
    for t in [b"<unk>", b"\n<s>\n", b"\n</s>\n"] + [b"<0x%02X>" % i for i in range(256)]))' >"$tmp/tokenizer.bin"
expect "a llama2.c tokenizer.bin to train" 1 "$attn" train-encdec --src "$tmp/valid.src" --tgt "$tmp/valid.tgt" \
    --tokenizer "$tmp/tokenizer.bin" --out "$tmp/bad_tok" --steps 1
contains "tokenizer.bin refused" "$tmp/err" "tokenizer.bin: a checkpoint keeps its tokenizer as a tokenizer.json"
if [ ! -e "$tmp/bad_tok" ]; then ok; else bad "a refused tokenizer left $tmp/bad_tok behind"; fi
expect "gpt-2 init" 0 "$attn" init -o "$tmp/gpt2" --layers 1 --heads 1 --embd 8 --ctx 16 --tokenizer "$tmp/tok.json"
expect "a GPT-2 model to translate" 1 sh -c 'echo red | "$0" translate -m "$1"' "$attn" "$tmp/gpt2"
contains "model kind named" "$tmp/err" "is not an attn encoder-decoder"
expect "no model" 2 "$attn" translate -i "$tmp/test.src"
expect "a missing model folder" 1 "$attn" translate -m "$tmp/nowhere" -i "$tmp/test.src"
contains "missing config named" "$tmp/err" "nowhere/config.json: cannot read"
mkdir -p "$tmp/gelu" && cp "$tmp"/ck/* "$tmp/gelu/" && sed -i 's/"relu"/"gelu"/' "$tmp/gelu/config.json"
expect "an activation the model does not run" 1 "$attn" translate -m "$tmp/gelu" -i "$tmp/test.src"
contains "activation named" "$tmp/err" "activation 'gelu' is not supported"
mkdir -p "$tmp/vocab2e9" && cp "$tmp"/ck/* "$tmp/vocab2e9/" && sed -i 's/"vocab_size": [0-9]*/"vocab_size": 2000000000/' "$tmp/vocab2e9/config.json"
expect "a config.json that lies about the vocabulary" 1 "$attn" translate -m "$tmp/vocab2e9" -i "$tmp/test.src"
contains "checked against the weights before allocating" "$tmp/err" "tensor 'shared.weight' is not the [2000000000 x 64] that config.json implies"
expect "a smaller tokenizer" 0 "$attn" tokenizer train -i "$tmp/train.src" -o "$tmp/tok2.json" --vocab-size 300
expect "tokenizer of another model" 1 "$attn" translate -m "$tmp/ck" -i "$tmp/test.src" --tokenizer "$tmp/tok2.json"
contains "tokenizer mismatch" "$tmp/err" "is not the tokenizer's 300 tokens + 2"
# a config.json whose EOS is not the tokenizer's (the vocabulary still fits) is refused too
mkdir -p "$tmp/eos" && cp "$tmp"/ck/* "$tmp/eos/" && sed -i 's/"eos_token_id": [0-9]*/"eos_token_id": 5/' "$tmp/eos/config.json"
expect "a config.json with another EOS" 1 "$attn" translate -m "$tmp/eos" -i "$tmp/test.src"
contains "ids named" "$tmp/err" "(EOS 5, BOS 301, PAD 302) is not the tokenizer's 301 tokens + 2 (EOS 0, BOS 301, PAD 302)"
cp -r "$tmp/ck" "$tmp/eos_resume" && cp "$tmp/eos/config.json" "$tmp/eos_resume/"
expect "resume a checkpoint with another EOS" 1 "$attn" train-encdec --src "$tmp/valid.src" --tgt "$tmp/valid.tgt" \
    --tokenizer "$tmp/tok.json" --out "$tmp/eos_resume" --steps 801 --resume
contains "resume: ids named" "$tmp/err" "eos_resume: the model's vocabulary 303 (EOS 5, BOS 301, PAD 302)"

echo "test_encdec_cli: $checks checks, $failed failed"
[ "$failed" -eq 0 ]
