#!/usr/bin/env bash
# Runs every test program in BUILD/tests and prints one summary line that CI reads:
# "tests: N passed, N failed, N skipped". Each program gets a time limit.
set -u
build=${1:-build}
pass=0 fail=0 skip=0 failed=()
for t in "$build"/tests/test_* tests/test_*.sh; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    out=$(BUILD="$build" timeout "${ATTN_TEST_TIMEOUT:-600}" "$t" 2>&1); rc=$?
    case $rc in
        0) pass=$((pass+1)); echo "ok    $name   $(tail -n1 <<<"$out")" ;;
        77) skip=$((skip+1)); echo "skip  $name   $(grep -m1 SKIP <<<"$out")" ;;
        *) fail=$((fail+1)); failed+=("$name"); echo "FAIL  $name (exit $rc)"; sed 's/^/      /' <<<"$out" | tail -n 40 ;;
    esac
done
echo "tests: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
