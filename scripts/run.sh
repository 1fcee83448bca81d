#!/usr/bin/env bash
# run.sh - the README's main job: install what is missing, build, and generate text from the
# default model. Until attn ships a trained model (see the training issue), the default model
# is a small GPT-2 with RANDOM weights made by `attn init`: its text is noise, and it says so.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
make -j"$(nproc)" build/attn >/dev/null
model=build/default-model
if [ ! -f $model/model.safetensors ]; then
    tok=()
    # the real GPT-2 vocabulary when the shared data is at hand, else 256 byte tokens
    for t in ../shared/data/gpt2/tokenizer.json; do [ -f "$t" ] && tok=(--tokenizer "$t"); done
    build/attn init -o $model --layers 4 --heads 4 --embd 256 --ctx 512 --seed 42 "${tok[@]}"
fi
build/attn generate -m $model -p "${PROMPT:-Once upon a time}" -n "${N:-48}" --seed 42
