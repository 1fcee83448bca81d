# cli_lib.sh - the harness the tests/test_*.sh scripts source: the attn binary of $BUILD, a temp
# folder removed on exit (with any background job in $bgpid), check counters, and two checks:
# expect (a command's exit status) and contains (text in a file). Messages show the end of
# stderr, where attn's one-line errors are.
attn=${BUILD:-build}/attn
tmp=$(mktemp -d)
bgpid=
trap '[ -n "$bgpid" ] && kill -9 "$bgpid" 2>/dev/null; rm -rf "$tmp"' EXIT
checks=0 failed=0
ok() { checks=$((checks + 1)); }
bad() { checks=$((checks + 1)); failed=$((failed + 1)); echo "FAIL: $*"; }
expect() { # description, expected exit code, command...
    local what=$1 want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else bad "$what: exit $rc, wanted $want; stderr: $(tail -c 400 "$tmp/err")"; fi
}
contains() { # description, file, text
    if grep -qF -- "$3" "$2"; then ok; else bad "$1: '$3' not in $(tail -c 400 "$2")"; fi
}
