#!/usr/bin/env bash
# Fuzzing in CI: build the libFuzzer targets of tests/fuzz (fuzz_*.c) with clang and CMake's
# FUZZ option (ASan + UBSan + coverage instrumentation), then run each on a copy of its seed
# corpus (tests/fuzz/corpus/<target>/) for a fixed time. Prints the executions per target;
# fails on any crash, leak, sanitizer report, timeout or out-of-memory input (the input is
# kept under $WORK/artifacts and its path printed).
#
#   bash .ci/fuzz.sh                 # 60 s per target
#   FUZZ_SECONDS=300 bash .ci/fuzz.sh
#   FUZZ_TARGETS="fuzz_grid" bash .ci/fuzz.sh
#
# Needs clang and the clang runtime (Debian 12: apt-get install clang libclang-rt-14-dev llvm).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${FUZZ_BUILD:-$ROOT/build-fuzz}"
WORK="${FUZZ_WORK:-$BUILD/fuzz-work}"
SECONDS_PER="${FUZZ_SECONDS:-60}"
JOBS="${JOBS:-$(nproc)}"

command -v clang >/dev/null || { echo "fuzz.sh: clang not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' |
     clang -x c -fsanitize=fuzzer - -o /tmp/fuzz_probe.$$ 2>/dev/null; then
    echo "fuzz.sh: clang cannot link -fsanitize=fuzzer: the libFuzzer runtime is missing" \
         "(Debian: apt-get install libclang-rt-14-dev)" >&2
    exit 2
fi
rm -f /tmp/fuzz_probe.$$

# -fno-sanitize-recover: a UBSan report stops the target (a finding), as ASan's do.
cmake -S "$ROOT" -B "$BUILD" -DFUZZ=ON -DCUDA=OFF -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_C_FLAGS="-fsanitize=float-cast-overflow -fno-sanitize-recover=all" >/dev/null
TARGETS="${FUZZ_TARGETS:-$(cd "$ROOT/tests/fuzz" && ls fuzz_*.c | sed 's/\.c$//' | tr '\n' ' ')}"
# shellcheck disable=SC2086
make -C "$BUILD" -j"$JOBS" $TARGETS >/dev/null

SYMBOLIZER="$(command -v llvm-symbolizer || ls /usr/lib/llvm-*/bin/llvm-symbolizer 2>/dev/null | head -1 || true)"
export ASAN_SYMBOLIZER_PATH="${SYMBOLIZER:-}"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0:print_stacktrace=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

rm -rf "$WORK"
mkdir -p "$WORK/artifacts" "$WORK/tmp"
fail=0
printf '%-18s %10s %8s %s\n' target execs exec/s result
for t in $TARGETS; do
    corpus="$WORK/corpus/$t"
    mkdir -p "$corpus"
    cp "$ROOT/tests/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
    log="$WORK/$t.log"
    rc=0
    TMPDIR="$WORK/tmp" "$BUILD/$t" -max_total_time="$SECONDS_PER" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$WORK/artifacts/$t-" "$corpus" >"$log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    if [ "$rc" -eq 0 ]; then
        res=ok
    else
        res="FAILED (exit $rc, log $log)"
        fail=1
        grep -E "ERROR:|runtime error|SUMMARY|Test unit written" "$log" | head -20 || true
    fi
    printf '%-18s %10s %8s %s\n' "$t" "${execs:-?}" "${speed:-?}" "$res"
done
exit "$fail"
