#!/usr/bin/env bash
# run_fuzz.sh SECONDS FILE... - builds each libFuzzer target tests/fuzz/fuzz_NAME.c with
# ASan+UBSan into build-fuzz/, seeds build-fuzz/corpus-NAME from a fixture directory, runs
# it for SECONDS and fails if it finds a crash or a target does not build.
#
# The library (src/core, src/format, src/tokenizer, src/chat and the server's request parsing;
# no SIMD kernels, no models) is built once into an archive, so each target links only the
# objects it uses.
# Seeds: the first "tests/fixtures/..." directory named in the target's top comment
# (e.g. "seed corpus: tests/fixtures/safetensors"), else tests/fixtures/NAME if present.
# The last run's crash inputs stay in build-fuzz/fuzz_NAME-crash-* (or -timeout-, -oom-,
# -leak-); replay one with
#   build-fuzz/fuzz_NAME build-fuzz/fuzz_NAME-crash-...
# Env: CLANG (default clang), FUZZ_JOBS (parallel compiles, default 2).
# Exits 0 with "SKIP fuzz: ..." when clang with libFuzzer is not installed.
set -u
usage() { echo "usage: $0 SECONDS tests/fuzz/fuzz_NAME.c..." >&2; exit 2; }
[ $# -ge 2 ] || usage
secs=$1; shift
case $secs in ''|*[!0-9]*) usage ;; esac

files=()
for f in "$@"; do files+=("$(realpath -m -- "$f")"); done # paths stay valid after the cd
cd "$(dirname "$0")/../.." || exit 2
CLANG=${CLANG:-clang}
OUT=build-fuzz
# plain strings (no spaces inside a flag) so xargs jobs can inherit them through the env
CFLAGS_FUZZ="-g -O1 -std=c11 -D_GNU_SOURCE -Isrc -Iinclude -fno-sanitize-recover=all -pthread"
LIBS="-lutf8proc -ljansson -lm -pthread"
mkdir -p "$OUT"

have_libfuzzer() {
    command -v "$CLANG" >/dev/null 2>&1 || return 1
    printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
        >"$OUT/probe.c"
    "$CLANG" -fsanitize=fuzzer,address,undefined -o "$OUT/probe" "$OUT/probe.c" >/dev/null 2>&1
}

# Compiles one library source to OUT/obj/...; prints the failure with its compiler output.
# "src/core/simd/F.c@avx2" (or @avx512) compiles a kernel file for that instruction set, with
# the Makefile's flags, as cpu.c expects one object of each.
compile_one() {
    local src=${1%@*} isa= flags=() obj
    [ "$src" != "$1" ] && isa=${1#*@}
    case $isa in
    avx2) flags=(-mavx2 -mfma -mf16c -DATTN_SIMD_AVX2) ;;
    avx512) flags=(-mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mavx512vnni -mavx512vbmi -mfma -mf16c
        -DATTN_SIMD_AVX512 -mamx-tile -mamx-bf16) ;; # clang 14 ignores amx.c's '#pragma GCC target'

    esac
    obj=$OUT/obj/${isa:+$isa/}${src%.c}.o
    mkdir -p "$(dirname "$obj")"
    if ! "$CLANG" $CFLAGS_FUZZ "${flags[@]}" -fsanitize=fuzzer-no-link,address,undefined -c -o "$obj" "$src" \
        >"$obj.log" 2>&1; then
        echo "FAIL fuzz: library source $src does not compile:"
        sed 's/^/      /' "$obj.log" | head -n 30
        return 1
    fi
}
export -f compile_one
export CLANG OUT CFLAGS_FUZZ

build_library() {
    local srcs=(src/core/*.c src/format/*.c src/tokenizer/*.c src/chat/*.c src/generate/sampler.c
                src/generate/stream.c src/server/api_parse.c src/server/api_reply.c src/server/request.c) existing=()
    for s in "${srcs[@]}"; do [ -f "$s" ] && existing+=("$s"); done
    if [ "$(uname -m)" = x86_64 ]; then
        for s in src/core/simd/*.c; do existing+=("$s@avx2" "$s@avx512"); done
    fi
    rm -rf "$OUT/obj" "$OUT/libattn-fuzz.a"
    printf '%s\n' "${existing[@]}" |
        xargs -P "${FUZZ_JOBS:-2}" -I{} bash -c 'compile_one "$1"' _ {} || return 1
    ar rcs "$OUT/libattn-fuzz.a" $(find "$OUT/obj" -name '*.o' | sort)
}

seed_dir() {
    local file=$1 name=$2 dir
    dir=$(head -n 15 "$file" | grep -o 'tests/fixtures/[A-Za-z0-9_./-]*' | sed 's/[.]$//' | head -n 1)
    if [ -n "$dir" ] && [ -d "$dir" ]; then echo "$dir"; return; fi
    [ -d "tests/fixtures/$name" ] && echo "tests/fixtures/$name"
}

# Builds, seeds and runs one target; prints one summary line.
run_target() {
    local file=$1 stem name bin corpus seeds log rc
    stem=$(basename "$file" .c); name=${stem#fuzz_}; bin=$OUT/$stem
    corpus=$OUT/corpus-$name; log=$OUT/$stem.log
    if [ ! -f "$file" ]; then echo "FAIL $stem: no such file $file"; return 1; fi
    if ! "$CLANG" $CFLAGS_FUZZ -fsanitize=fuzzer,address,undefined -o "$bin" "$file" \
        "$OUT/libattn-fuzz.a" $LIBS >"$log" 2>&1; then
        echo "FAIL $stem: does not build:"; sed 's/^/      /' "$log" | head -n 30; return 1
    fi
    mkdir -p "$corpus"
    seeds=$(seed_dir "$file" "$name")
    if [ -n "$seeds" ]; then
        find "$seeds" -maxdepth 2 -type f -exec cp -n {} "$corpus/" \;
    else
        echo "note $stem: no seed directory found; starting from an empty corpus"
    fi
    rm -f "$OUT/$stem"-crash-* "$OUT/$stem"-leak-* "$OUT/$stem"-timeout-* "$OUT/$stem"-oom-*
    "$bin" -max_total_time="$secs" -timeout=25 -print_final_stats=1 \
        -artifact_prefix="$OUT/$stem-" "$corpus" >"$log" 2>&1
    rc=$?
    local execs secs_run
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -n 1)
    secs_run=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' | tail -n 1)
    if [ $rc -ne 0 ]; then
        echo "FAIL $stem: crash after ${execs:-?} runs (exit $rc); log $log; input:"
        ls "$OUT/$stem"-* 2>/dev/null | grep -v '\.log$' | sed 's/^/      /'
        grep -m 1 -A 12 'ERROR:\|runtime error\|deadly signal' "$log" | sed 's/^/      /'
        return 1
    fi
    echo "ok   $stem: ${execs:-?} runs in ${secs_run:-$secs} s, corpus $(ls "$corpus" | wc -l) inputs (seeds: ${seeds:-none})"
}

if ! have_libfuzzer; then
    echo "SKIP fuzz: clang with libFuzzer not found"
    exit 0
fi
if ! build_library; then
    echo "fuzz: library build failed"
    exit 1
fi
pass=0 fail=0
for f in "${files[@]}"; do
    if run_target "$f"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
