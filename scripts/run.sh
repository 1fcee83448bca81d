#!/usr/bin/env bash
# run.sh - the README's main job: install what is missing, build, and generate text from the
# default model: models/shakespeare-char, a character-level GPT trained by attn itself on Tiny
# Shakespeare (see models/shakespeare-char/README.md for how). PROMPT, N, SEED override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
make -j"$(nproc)" build/attn >/dev/null
model=models/shakespeare-char
if [ ! -f $model/model.safetensors ]; then
    # no trained model in this checkout: fall back to random weights, which print noise
    model=build/default-model
    [ -f $model/model.safetensors ] || build/attn init -o $model --layers 4 --heads 4 --embd 256 --ctx 512 --seed 42
fi
build/attn generate -m $model -p "${PROMPT:-ROMEO:}" -n "${N:-240}" --temp 0.8 --top-k 0 --top-p 0.95 \
    --min-p 0 --seed "${SEED:-42}"
