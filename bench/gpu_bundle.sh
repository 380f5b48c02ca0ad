#!/usr/bin/env bash
# Builds the CUDA test and benchmark programs on a machine WITHOUT a GPU (nvcc compiles for sm_90 all the
# same) into gpu_bundle.tar.gz at the repository root, for a GPU machine that lacks the build's libraries
# (OpenBLAS, Criterion, ...): bench/gpu.sh uses the bundle there when it cannot build.
#
#   bash bench/gpu_bundle.sh [BUILD_DIR]       (default /tmp/bd_bundle)
#
# The bundle holds bin/ (test_backend, test_cuda_model, bench_step, test_gemm_bf16, bench_gemm; built with -DNATIVE=OFF, so any x86-64
# CPU runs them) and lib/ (every shared library they load here except the C and C++ runtimes and CUDA's
# own: the GPU machine's CUDA toolkit provides libcudart and libcublas of the same major version). Name
# gpu_bundle.tar.gz in the device call's carry list; the script adds it to .git/info/exclude (a carried
# path must be ignored by git; GPU_BUNDLE_NO_EXCLUDE=1 leaves that file alone).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-/tmp/bd_bundle}
[ -x /usr/local/cuda/bin/nvcc ] && export PATH=$PATH:/usr/local/cuda/bin
cmake -S "$ROOT" -B "$BUILD" -DCUDA=ON -DNATIVE=OFF -DWERROR=ON -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_ARCHITECTURES="90-real;90-virtual" >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target test_backend test_cuda_model bench_step test_gemm_bf16 bench_gemm
STAGE=$(mktemp -d)
mkdir -p "$STAGE/bin" "$STAGE/lib"
for b in test_backend test_cuda_model bench_step test_gemm_bf16 bench_gemm; do cp "$BUILD/$b" "$STAGE/bin/"; done
# Shared libraries to carry: all that the loader resolves here, but glibc's, the C++ runtime and CUDA's.
for b in "$STAGE"/bin/*; do ldd "$b"; done | awk '/=> \// {print $1, $3}' | sort -u | while read -r name path; do
    case "$name" in
    libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | ld-linux* | libstdc++.so* | libgcc_s.so* | \
        libcuda.so* | libcudart.so* | libcublas*.so* | libnvidia*) continue ;;
    esac
    cp -L "$path" "$STAGE/lib/$name"
done
echo "built $(date -u +%Y-%m-%dT%H:%MZ) on $(uname -n) from $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')," \
    "nvcc $(nvcc --version | grep -o 'release [0-9.]*')" >"$STAGE/BUILD_INFO"
tar -czf "$ROOT/gpu_bundle.tar.gz" -C "$STAGE" .
rm -rf "$STAGE"
EXCL=
[ "${GPU_BUNDLE_NO_EXCLUDE:-0}" = 1 ] || EXCL=$(git -C "$ROOT" rev-parse --git-path info/exclude 2>/dev/null || true)
if [ -n "$EXCL" ]; then
    case "$EXCL" in /*) ;; *) EXCL="$ROOT/$EXCL" ;; esac
    grep -qx '/gpu_bundle.tar.gz' "$EXCL" 2>/dev/null || echo '/gpu_bundle.tar.gz' >>"$EXCL"
fi
echo "gpu_bundle.tar.gz: $(du -h "$ROOT/gpu_bundle.tar.gz" | cut -f1) (carry it; ignored through ${EXCL:-nothing: GPU_BUNDLE_NO_EXCLUDE=1})"
