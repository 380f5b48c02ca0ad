#!/usr/bin/env bash
# The engine's training step side by side with PyTorch on the CPU (bench/README.md, "The engine
# against PyTorch on the CPU").
#
#   bash bench/compare.sh                          # every configuration (about 10 minutes on 2 cores)
#   ROUNDS=1 STEPS=2 bash bench/compare.sh         # a quick pass
#   PRESETS=nano KINDS="ntp stp" THREADS=1 BUILD=/tmp/bd bash bench/compare.sh
#   DTYPES="fp32 bf16" PRESETS=nano bash bench/compare.sh   # the engine at bf16 too
#
# For each configuration ({nano, h256l6} x {ntp, jepa-packed, jepa-fused, stp} x {1, 2 threads}, fp32)
# it runs ROUNDS rounds of build/bench_step (WARMUP warm-up steps, then STEPS timed steps of forward,
# loss, backward, gradient clipping and the AdamW update: update=1) and bench/torch_cpu.py (the same
# model, weights, batches and optimizer in PyTorch), each in its own process, engine then PyTorch, and
# prints the median tokens/s of each and their ratio (engine / PyTorch):
#   nano ntp fp32 1 thread: engine N tok/s, pytorch M tok/s, R.RRx
# DTYPES="fp32 bf16" adds the engine at dtype=bf16 against the same PyTorch step at fp32 (the reference),
# its line naming the engine's bf16 GEMM path (avx512 or sgemm: engine/gemm_bf16.h).
# In the first round bench_step also writes its batches, its initial weights and its losses (dump=,
# weights_out=); torch_cpu.py replays them and, with CHECK=1 (default), checks its step-0 loss against
# the engine's (relative tolerance TOL, 1e-4): a mismatch is an error (exit status 1 at the end).
#
# Environment: BUILD (build directory, default build; configured Release with -DCUDA=OFF if it is not
# configured yet; only the bench_step target is built), ROUNDS (3), STEPS (3), WARMUP (1), PRESETS,
# KINDS, THREADS (the lists above), DTYPES (fp32), CHECK (1), TOL (1e-4), TOL_BF16 (1e-2: bf16 against
# PyTorch's fp32; test_dtype measured 9e-4 relative between the engine's bf16 and fp32 losses), PYTHON (an interpreter with torch; default:
# the first of python3, /usr/bin/python3 that imports it), TORCH_OMP_WAIT_POLICY (PyTorch's
# OMP_WAIT_POLICY, default PASSIVE: bench/README.md), TORCH_ARGS (extra torch_cpu.py options).
# Without PyTorch the engine's figures are printed alone, with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build} ROUNDS=${ROUNDS:-3} STEPS=${STEPS:-3} WARMUP=${WARMUP:-1}
PRESETS=${PRESETS:-nano h256l6} KINDS=${KINDS:-ntp jepa-packed jepa-fused stp} THREADS=${THREADS:-1 2}
DTYPES=${DTYPES:-fp32} CHECK=${CHECK:-1} TOL=${TOL:-1e-4} TOL_BF16=${TOL_BF16:-1e-2} TORCH_OMP_WAIT_POLICY=${TORCH_OMP_WAIT_POLICY:-PASSIVE} TORCH_ARGS=${TORCH_ARGS:-}

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCUDA=OFF >/dev/null
fi
if ! log=$(cmake --build "$BUILD" --target bench_step -j 2 2>&1); then
    echo "$log" | tail -30
    echo "compare.sh: building bench_step failed" >&2
    exit 1
fi

PY=""
for p in ${PYTHON:-python3 /usr/bin/python3}; do
    if command -v "$p" >/dev/null && "$p" -c "import torch" 2>/dev/null; then PY=$p; break; fi
done
torch_version=skipped
if [ -n "$PY" ]; then
    torch_version=$("$PY" -c "import torch; print(torch.__version__)")
else
    echo "compare.sh: PyTorch skipped: python3-torch is not installed (apt-get install python3-torch)"
fi

preset_args() {
    case $1 in
        nano) echo "model=nano" ;;
        h256l6) echo "model=nano hidden_size=256 num_hidden_layers=6 num_attention_heads=8 num_key_value_heads=8 intermediate_size=640" ;;
        *) echo "compare.sh: unknown preset $1 (nano, h256l6)" >&2; return 1 ;;
    esac
}
kind_args() {
    case $1 in
        ntp) echo "only=ntp" ;;
        jepa-packed) echo "only=jepa jepa_pass=packed" ;;
        jepa-fused) echo "only=jepa jepa_pass=fused" ;;
        stp) echo "only=stp" ;;
        *) echo "compare.sh: unknown kind $1 (ntp, jepa-packed, jepa-fused, stp)" >&2; return 1 ;;
    esac
}
median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END {print NR ? (NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2) : 0}'; }

cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "$(date -u +%Y-%m-%d), $cpu, $(nproc) cores; torch $torch_version (${PY:-none}), OMP_WAIT_POLICY=$TORCH_OMP_WAIT_POLICY for PyTorch"
echo "per configuration: $ROUNDS rounds of (engine, PyTorch), each $WARMUP warm-up + $STEPS timed steps with the AdamW update; median tokens/s, ratio engine / PyTorch"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
for preset in $PRESETS; do
    pa=$(preset_args "$preset")
    for kind in $KINDS; do
        ka=$(kind_args "$kind")
        for dt in $DTYPES; do
        case $dt in fp32) tol=$TOL ;; bf16) tol=$TOL_BF16 ;; *) echo "compare.sh: unknown dtype $dt (fp32, bf16)" >&2; exit 1 ;; esac
        for t in $THREADS; do
            dir=$work/$preset-$kind-$dt-$t
            mkdir -p "$dir"
            eng="" tor="" checkline="" path=""
            for r in $(seq 1 "$ROUNDS"); do
                extra=""
                [ "$r" = 1 ] && extra="dump=$dir/dump.json weights_out=$dir/w"
                # shellcheck disable=SC2086
                out=$(OMP_WAIT_POLICY=passive "$BUILD/bench_step" $pa $ka dtype=$dt threads=$t steps=$STEPS \
                      warmup=$WARMUP update=1 profile=0 $extra) ||
                    { echo "compare.sh: bench_step failed: $pa $ka dtype=$dt threads=$t" >&2; exit 1; }
                eng="$eng $(echo "$out" | sed -n 's/^## .* step.*ms, \([0-9.]*\) tokens\/s.*/\1/p')"
                path=$(echo "$out" | sed -n 's/.*, dtype bf16 on \([a-z0-9]*\),.*/ (engine bf16 GEMMs: \1; PyTorch fp32)/p')
                [ -n "$PY" ] || continue
                chk=""
                [ "$r" = 1 ] && [ "$CHECK" = 1 ] && chk="--check --tol $tol"
                rc=0
                # shellcheck disable=SC2086
                tout=$(OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t \
                       OMP_WAIT_POLICY=$TORCH_OMP_WAIT_POLICY "$PY" bench/torch_cpu.py --dump "$dir/dump.json" \
                       --weights "$dir/w" --threads "$t" $chk $TORCH_ARGS 2>&1) || rc=$?
                if [ "$rc" != 0 ]; then
                    echo "$tout" | tail -5
                    [ "$rc" = 3 ] || { echo "compare.sh: torch_cpu.py failed (exit $rc)" >&2; exit 1; }
                    fail=1
                fi
                tor="$tor $(echo "$tout" | sed -n 's/^tokens\/s: \([0-9.]*\).*/\1/p')"
                [ "$r" = 1 ] && checkline=$(echo "$tout" | grep "^step-0 loss" || true)
            done
            th=$([ "$t" = 1 ] && echo "1 thread" || echo "$t threads")
            e=$(echo "$eng" | median)
            if [ -n "$PY" ]; then
                p=$(echo "$tor" | median)
                printf "%s %s %s %s: engine %.0f tok/s, pytorch %.0f tok/s, %.2fx%s\n" "$preset" "$kind" "$dt" "$th" "$e" \
                    "$p" "$(awk -v a="$e" -v b="$p" 'BEGIN {print (b > 0 ? a / b : 0)}')" "$path"
                [ -z "$checkline" ] || echo "    $checkline"
            else
                printf "%s %s %s %s: engine %.0f tok/s, pytorch skipped%s\n" "$preset" "$kind" "$dt" "$th" "$e" "$path"
            fi
        done
        done
    done
done
if [ "$fail" = 1 ]; then
    echo "compare.sh: the step-0 losses of the engine and PyTorch differ by more than the tolerance (TOL, TOL_BF16)" >&2
    exit 1
fi
