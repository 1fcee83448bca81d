#!/usr/bin/env bash
# python-env.sh - prints the path of a Python that has the reference packages of
# tools/requirements.txt (torch, transformers, ...). Uses python3 if it already has them,
# else creates a venv in ${ATTN_VENV:-~/.cache/attn/venv} and installs them from PyPI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if python3 -c "import torch, transformers, safetensors, numpy" 2>/dev/null; then
    command -v python3
    exit 0
fi
venv=${ATTN_VENV:-$HOME/.cache/attn/venv}
if ! "$venv/bin/python" -c "import torch, transformers, safetensors, numpy" 2>/dev/null; then
    echo "python-env: installing the reference packages into $venv (several GB, once)" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --upgrade pip >&2
    "$venv/bin/pip" install -q -r "$root/tools/requirements.txt" >&2
fi
echo "$venv/bin/python"
