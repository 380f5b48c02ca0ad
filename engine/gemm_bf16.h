/* bf16 GEMM with fp32 accumulation on CPUs with AVX512-BF16 (VDPBF16PS), the
 * CPU backend's fast path for dtype=bf16 (backend.h DTYPE_BF16; issue "CPU
 * speed", item 2). The numerics are backend.h's DTYPE_BF16: both operands
 * rounded to bf16 (bf16_round: nearest, ties to even), products exact in
 * fp32, sums in fp32.
 *
 * Built twice from gemm_bf16.c: natively (AVX-512 intrinsics, run only where
 * gemm_bf16_native_ok()) and as gemm_bf16_emu.c, where each of the few AVX-512
 * instructions the kernel uses is a portable C function following Intel's
 * pseudo-code (VDPBF16PS: two FMAs per lane, odd element first, denormal
 * inputs read as 0, denormal results flushed to 0). The emulation runs the
 * kernel's packing, blocking, edges and strides on any CPU, so a machine
 * without AVX512-BF16 tests the same code (tests/test_gemm_bf16.c). */
#ifndef ENGINE_GEMM_BF16_H
#define ENGINE_GEMM_BF16_H

#ifdef __cplusplus
extern "C" {
#endif

/* Row-major C (M,N) = op(A)·op(B) + beta·C with bf16-rounded operands, fp32
 * accumulation; op = transpose when ta/tb, op(A) is (M,K), op(B) is (K,N),
 * lda/ldb/ldc are row strides. beta = 0 does not read C (NaN there is
 * overwritten), as in BLAS. M, N or K = 0 leaves C alone except that K = 0
 * scales it by beta. The sum over k runs in a fixed order (blocks of
 * GEMM_BF16_KC pairs of k, each added to C), so the bits do not depend on the
 * thread count. Returns 0, or -1 when its packing scratch cannot be allocated
 * (C untouched; the caller falls back). Call only where gemm_bf16_native_ok(). */
int gemm_bf16_avx512(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                     float beta, float *C, int ldc);

/* The same kernel with every AVX-512 instruction emulated in C
 * (gemm_bf16_emu.c): runs on any CPU, ~50× slower; for tests. */
int gemm_bf16_avx512_emu(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                         float beta, float *C, int ldc);

/* 1 when this CPU has AVX512-F and AVX512-BF16 and the OS saves their
 * registers (libgcc's cpu model, which checks XCR0), else 0. */
int gemm_bf16_native_ok(void);

/* How the CPU backend computes a DTYPE_BF16 linear layer, chosen once per
 * process (gemm_bf16_path):
 *  - GEMM_BF16_SGEMM: round copies of both operands to bf16, then OpenBLAS
 *    sgemm (fp32 units; the path of every CPU without AVX512-BF16);
 *  - GEMM_BF16_AVX512: gemm_bf16_avx512 (the default where the CPU has it);
 *  - GEMM_BF16_EMULATE: gemm_bf16_avx512_emu (tests only).
 * The environment variable HARNESS_BF16_GEMM = sgemm | avx512 | emulate
 * overrides the default (avx512 on a CPU without it: sgemm), for benchmarks
 * and tests; the paths agree to fp32 rounding, not bit for bit. */
typedef enum { GEMM_BF16_SGEMM = 0, GEMM_BF16_AVX512 = 1, GEMM_BF16_EMULATE = 2 } GemmBf16Path;
GemmBf16Path gemm_bf16_path(void);
/* "sgemm", "avx512" or "emulate". */
const char *gemm_bf16_path_name(GemmBf16Path p);

#ifdef __cplusplus
}
#endif

#endif
