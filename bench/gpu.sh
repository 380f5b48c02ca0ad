#!/usr/bin/env bash
# What a session with a GPU runs in one call (under 10 minutes on a 16-core H100/H200 machine):
#
#   bash bench/gpu.sh [BUILD_DIR]          (from the repository root; BUILD_DIR default /tmp/bd_gpu)
#
#  1. the machine: GPU, driver, nvcc, cmake, and the libraries the build needs (pkg-config);
#  2. builds test_backend, test_cuda_model and bench_step with -DCUDA=ON for sm_90 (+ PTX). Where the
#     libraries are missing and a bundle made by `bash bench/gpu_bundle.sh` on a machine that has them
#     was carried (gpu_bundle.tar.gz in the repository root: the same binaries, built for sm_90 without
#     a GPU, and the shared libraries they need), its binaries are used instead;
#  3. test_backend (every op of the table on cuda against the reference backend, determinism) and
#     test_cuda_model (training steps and greedy decoding, cpu against cuda);
#  4. bench_step (the engine, fp32, forward + backward of NTP and JEPA steps) on cuda for the nano and
#     micro presets and the Llama-3.2-1B shape (byte vocabulary), on the CPU for nano; then
#     bench/torch_step.py (PyTorch bf16 and fp32) on the same shapes and Llama-3.2-1B itself;
#  5. the host CPU's bf16 kernel (engine/gemm_bf16.h), where the CPU has AVX512-BF16 (most H100/H200
#     hosts do: Sapphire or Emerald Rapids, AMD Zen 4; the machine row says when not): test_gemm_bf16
#     natively, bench_gemm (the linear layers' products: fp32, bf16 sgemm, bf16 kernel) and
#     bench_step nano fp32 against bf16;
#  6. one markdown table: each step's result; logs in BUILD_DIR/gpu_out.
# Optional: GPU_SANITIZE=1 also runs the CUDA attention and scatter tests under compute-sanitizer;
# GPU_USE_BUNDLE=1 uses the carried bundle even where the build's libraries exist.
# Exit status: 0 when both test programs pass.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-/tmp/bd_gpu}
LOG=$BUILD/gpu_out
mkdir -p "$LOG"
cd "$ROOT" || exit 1
ROWS=$LOG/rows.md
: >"$ROWS"
row() { echo "| $1 | $2 | $3 |" >>"$ROWS"; }
T0=$(date +%s)
NPROC=$(OMP_NUM_THREADS= nproc)
since() { echo "$(($(date +%s) - T0)) s"; }
[ -x /usr/local/cuda/bin/nvcc ] && export PATH=$PATH:/usr/local/cuda/bin

# ---- 1. the machine ------------------------------------------------------------------------------
echo "## machine"
GPU=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
row "GPU" "${GPU:-none found (nvidia-smi)}" "$NPROC CPU cores"
CPU_MODEL=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
CPU_BF16=$(grep -m1 -o -w 'avx512_bf16' /proc/cpuinfo)
row "CPU" "$CPU_MODEL" "${CPU_BF16:-no avx512_bf16}"
NVCC=$(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' | head -1)
row "nvcc" "${NVCC:-not found}" "cmake $(cmake --version 2>/dev/null | head -1 | grep -o '[0-9][0-9.]*')"
MISSING=""
for p in openblas libcjson gsl libcrypto lapacke libpcre2-8 sqlite3 criterion; do
    pkg-config --exists "$p" 2>/dev/null || MISSING="$MISSING $p"
done
ldconfig -p 2>/dev/null | grep -q 'libcsv\.so' || MISSING="$MISSING libcsv"
ldconfig -p 2>/dev/null | grep -q 'libfa\.so' || MISSING="$MISSING libfa"
command -v pkg-config >/dev/null || MISSING="pkg-config $MISSING"
if [ -n "$MISSING" ]; then row "build libraries" "missing:$MISSING" ""; else row "build libraries" "all found" ""; fi
cat "$ROWS"

# ---- 2. build, or the carried bundle ------------------------------------------------------------------
BIN=$BUILD
if [ -z "$MISSING" ] && [ "${GPU_USE_BUNDLE:-0}" != 1 ]; then
    echo "## build (CUDA=ON, sm_90)"
    if cmake -S "$ROOT" -B "$BUILD" -DCUDA=ON -DWERROR=ON -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CUDA_ARCHITECTURES="90-real;90-virtual" >"$LOG/cmake.log" 2>&1 &&
        cmake --build "$BUILD" -j "$NPROC" --target test_backend test_cuda_model bench_step \
            test_gemm_bf16 bench_gemm >"$LOG/build.log" 2>&1; then
        row "build" "ok" "$(since)"
    else
        row "build" "FAILED (see $LOG/cmake.log, build.log)" "$(since)"
        tail -30 "$LOG/build.log" "$LOG/cmake.log" 2>/dev/null
    fi
elif [ -f "$ROOT/gpu_bundle.tar.gz" ]; then
    rm -rf /tmp/gpu_bundle && mkdir -p /tmp/gpu_bundle && tar -xzf "$ROOT/gpu_bundle.tar.gz" -C /tmp/gpu_bundle
    BIN=/tmp/gpu_bundle/bin
    export LD_LIBRARY_PATH=/tmp/gpu_bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    row "build" "carried bundle ($(cat /tmp/gpu_bundle/BUILD_INFO 2>/dev/null | head -1))" "$(since)"
else
    row "build" "not possible: libraries missing and no gpu_bundle.tar.gz (run bash bench/gpu_bundle.sh where they exist, carry it)" ""
fi

# ---- 3. tests ------------------------------------------------------------------------------------
STATUS=0
run_test() { # name
    if [ ! -x "$BIN/$1" ]; then row "$1" "not built" ""; STATUS=1; return; fi
    local t=$(date +%s)
    timeout 300 "$BIN/$1" --jobs 1 --verbose >"$LOG/$1.log" 2>&1
    local rc=$? syn skipped verdict
    syn=$(grep -a 'Synthesis' "$LOG/$1.log" | tail -1 | sed 's/.*Synthesis: //; s/ *| */, /g; s/, *$//')
    skipped=$(grep -ac '^\[SKIP\].*cuda: skipped' "$LOG/$1.log")
    [ $rc -eq 0 ] || STATUS=1
    verdict=$([ $rc -eq 0 ] && echo PASS || echo "FAIL (rc $rc)")
    [ "$skipped" -gt 0 ] && verdict="$verdict, $skipped CUDA tests SKIPPED"
    row "$1" "$verdict: ${syn:-no summary}" "$(($(date +%s) - t)) s"
    grep -a -E '\[FAIL\]|Assertion Failed|skipped|cuda:' "$LOG/$1.log" | grep -av '^\[----\]   $' | head -15
}
echo "## tests"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
run_test test_backend
run_test test_cuda_model
if [ "${GPU_SANITIZE:-0}" = 1 ] && command -v compute-sanitizer >/dev/null && [ -x "$BIN/test_backend" ]; then
    t=$(date +%s)
    timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 "$BIN/test_backend" --jobs 1 \
        --filter 'backend/+(attention|attention_cached|embedding|gather_scatter_rows|row_combine|deterministic)' \
        >"$LOG/sanitizer.log" 2>&1
    row "compute-sanitizer memcheck (attention, scatters)" "rc $? ($(grep -a 'ERROR SUMMARY' "$LOG/sanitizer.log" | tail -1))" "$(($(date +%s) - t)) s"
fi

# ---- 4. benchmarks -------------------------------------------------------------------------------
# engine: bench_step prints "## NTP step: X ms, Y tokens/s (Z tokens per step)"; MFU against fp32 67 TFLOP/s
# (H100/H200 SXM, no tensor cores), FLOPs per token as bench/torch_step.py counts them.
mfu() { # C L H KV F V tokens_per_s tokens_per_step batch gpu(0|1)
    python3 - "$@" <<'EOF'
import sys
C, L, H, KV, F, V, tps, tstep, B, gpu = (float(x) for x in sys.argv[1:])
hd, seq = C / H, tstep / B
params = L * (C * H * hd + 2 * C * KV * hd + H * hd * C + 3 * C * F + 2 * C) + C + V * C
fl = (6 * params + 6 * L * seq * C) * tps
print(f"{fl / 1e12:.2f} TFLOP/s" + (f", MFU {100 * fl / 67e12:.1f}% of fp32 (67 TFLOP/s)" if gpu else ""))
EOF
}
bench_engine() { # label shape(C L H KV F) keys...
    local label=$1 shape=$2 gpu=0
    shift 2
    case "$label" in cuda*) gpu=1 ;; esac
    if [ ! -x "$BIN/bench_step" ]; then row "engine fp32 $label" "not built" ""; return; fi
    local t=$(date +%s) out
    timeout 240 "$BIN/bench_step" "$@" >"$LOG/bench_$label.log" 2>&1
    for kind in NTP JEPA; do
        out=$(grep -a "^## $kind step" "$LOG/bench_$label.log" | head -1)
        if [ -z "$out" ]; then row "engine fp32 $label $kind step" "failed: $(tail -1 "$LOG/bench_$label.log")" ""; continue; fi
        local ms tps tstep
        ms=$(echo "$out" | sed 's/.*step: \([0-9.]*\) ms.*/\1/')
        tps=$(echo "$out" | sed 's/.*ms, \([0-9.]*\) tokens\/s.*/\1/')
        tstep=$(echo "$out" | sed 's/.*(\([0-9.]*\) tokens per step).*/\1/')
        row "engine fp32 $label $kind step" "$ms ms, $tps tokens/s" "$(mfu $shape 278 "$tps" "$tstep" 32 "$gpu")"
    done
}
echo "## benchmarks"
bench_engine "cuda nano" "128 3 4 4 320" device=cuda model=nano
bench_engine "cuda micro" "192 6 6 2 512" device=cuda model=micro
bench_engine "cuda llama1b-shape" "2048 16 32 8 8192" device=cuda model=nano hidden_size=2048 num_hidden_layers=16 \
    num_attention_heads=32 num_key_value_heads=8 intermediate_size=8192
bench_engine "cpu nano $NPROC threads" "128 3 4 4 320" device=cpu model=nano threads="$NPROC"
for dt in bf16 fp32; do
    timeout 300 python3 bench/torch_step.py --dtype $dt >"$LOG/torch_$dt.log" 2>&1
    grep -a '^| torch' "$LOG/torch_$dt.log" | while IFS='|' read -r _ what shape params bs step tps tfl mfu_ _; do
        row "$(echo $what $shape) ($(echo $bs))" "$(echo $step), $(echo $tps) tokens/s" "$(echo $tfl) TFLOP/s, MFU $(echo $mfu_)"
    done
    grep -aq '^| torch' "$LOG/torch_$dt.log" || row "torch $dt" "$(tail -1 "$LOG/torch_$dt.log")" ""
done

# ---- 5. the host CPU's bf16 kernel --------------------------------------------------------------------
echo "## CPU bf16"
if [ -n "$CPU_BF16" ]; then
    run_test test_gemm_bf16
    for shape in "nano" "h256l6"; do
        keys="model=nano"
        [ "$shape" = h256l6 ] && keys="model=nano hidden_size=256 num_hidden_layers=6 num_attention_heads=8 num_key_value_heads=8 intermediate_size=640"
        for t in 1 "$NPROC"; do
            # shellcheck disable=SC2086
            timeout 120 "$BIN/bench_gemm" $keys threads=$t >"$LOG/bench_gemm_${shape}_$t.log" 2>&1
            row "cpu GEMMs $shape, $t threads" "$(grep -a '^per training step' "$LOG/bench_gemm_${shape}_$t.log" | cut -d: -f2-)" ""
        done
    done
    for dt in fp32 bf16; do
        timeout 120 "$BIN/bench_step" model=nano threads=1 profile=0 dtype=$dt >"$LOG/bench_step_cpu_$dt.log" 2>&1
        for kind in NTP JEPA; do
            row "cpu nano 1 thread $dt $kind step" "$(grep -a "^## $kind step" "$LOG/bench_step_cpu_$dt.log" | head -1 | sed 's/^## //')" \
                "$(grep -a -o 'dtype [a-z0-9 ]*,' "$LOG/bench_step_cpu_$dt.log" | head -1)"
        done
    done
else
    row "cpu bf16 kernel" "not run: this CPU has no avx512_bf16" ""
fi

# ---- 6. the table --------------------------------------------------------------------------------
echo
echo "## bench/gpu.sh ($(since) in all; logs in $LOG)"
echo
echo "| step | result | detail |"
echo "|---|---|---|"
cat "$ROWS"
exit $STATUS
