#!/usr/bin/env bash
# run_bench.sh (`make bench`) - attn beside llama.cpp on the default model and its
# requantizations (bench_llama.py --no-1b: SmolLM2-135M in Q4_1, f32, f16, q8_0, q4_0, q4_k_m),
# where llama-cpp-python is installed (see bench/README.md for the rest and how to install
# it); else attn alone on the default model, with the memory's read bandwidth.
set -euo pipefail
cd "$(dirname "$0")/.."
py=python3
if [ -x "${ATTN_VENV:-$HOME/.cache/attn/venv}/bin/python" ]; then py=${ATTN_VENV:-$HOME/.cache/attn/venv}/bin/python; fi
if "$py" -c "import llama_cpp" 2>/dev/null; then
    exec "$py" bench/bench_llama.py --attn build/attn --no-1b "$@"
fi
echo "run_bench: llama-cpp-python is not installed: attn alone (bench/README.md says how to add llama.cpp)" >&2
exec build/attn bench -m "$(scripts/fetch-smollm2.sh)" -p 128 -n 64 --bandwidth "$@"
