/* The AVX512-BF16 GEMM (engine/gemm_bf16.h), native and emulated, against a
 * double-precision loop over the same bf16-rounded operands.
 *  - every (ta, tb), beta 0 / 1 / 0.5, shapes with edge tiles in M and N,
 *    odd K, K over several KC blocks, row strides past the matrix widths:
 *    |C − ref| <= (K + 2)·2^-24·(|beta·C0| + Σ|a·b|) (fp32 summation in
 *    order), C's padding untouched, NaN in C overwritten at beta = 0;
 *  - the operands are rounded: the result differs from the fp32 product by
 *    more than that bound somewhere (a kernel that skipped rounding fails);
 *  - the bits do not depend on the thread count;
 *  - HARNESS_BF16_GEMM picks the path.
 * The emulated kernel runs everywhere; the native one where the CPU has
 * AVX512-BF16 (skipped, saying so, elsewhere). The whole CPU backend at bf16
 * also runs through the emulation: ctest's backend_bf16_emulate and
 * dtype_bf16_emulate run test_backend and test_dtype with
 * HARNESS_BF16_GEMM=emulate (CMakeLists.txt). */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "gemm_bf16.h"
#include "rng.h"

typedef int (*GemmFn)(int, int, int, int, int, const float *, int, const float *, int, float, float *, int);

typedef struct { int M, N, K; } Shape;

/* Edge tiles (M % 8, N % 32), odd K, and K over 1, 2 and 3 blocks of 256 pairs. */
static const Shape SHAPES[] = {{1, 1, 1},   {8, 32, 2},   {9, 33, 3},    {7, 31, 64},   {37, 70, 129},
                               {16, 64, 512}, {24, 40, 513}, {13, 50, 1100}, {64, 96, 40}};
static const float BETAS[] = {0.0f, 1.0f, 0.5f};
#define PAD 3  /* extra columns of every matrix: strides past the widths */
#define SENTINEL 12345.0f

/* A (rows, cols) matrix with row stride cols + PAD, N(0, 1) entries, padding SENTINEL. */
static float *matrix(Rng *r, int rows, int cols) {
    float *m = malloc((size_t)rows * (cols + PAD) * sizeof *m + sizeof *m);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols + PAD; j++)
            m[(size_t)i * (cols + PAD) + j] = j < cols ? (float)rng_normal(r) : SENTINEL;
    return m;
}

/* Checks fn on one shape, transposes and beta; returns how many elements
 * differ from the unrounded (fp32) product by more than the bound. */
static int check_case(GemmFn fn, const char *name, Shape s, int ta, int tb, float beta, Rng *rg) {
    int M = s.M, N = s.N, K = s.K;
    int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    float *A = matrix(rg, ar, ac), *B = matrix(rg, br, bc), *C = matrix(rg, M, N);
    int lda = ac + PAD, ldb = bc + PAD, ldc = N + PAD;
    float *C0 = malloc((size_t)M * ldc * sizeof *C0);
    memcpy(C0, C, (size_t)M * ldc * sizeof *C0);
    if (beta == 0.0f)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = NAN;
    cr_assert_eq(fn(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc), 0, "%s: scratch", name);
    int unrounded = 0;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double c0 = beta == 0.0f ? 0.0 : (double)beta * C0[(size_t)i * ldc + j];
            double ref = c0, full = c0, mag = fabs(c0);
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                ref += (double)bf16_round(a) * bf16_round(b);
                full += (double)a * b;
                mag += fabs((double)bf16_round(a) * bf16_round(b));
            }
            double got = C[(size_t)i * ldc + j], bound = (K + 2) * 0x1p-24 * mag + 1e-30;
            cr_assert(fabs(got - ref) <= bound,
                      "%s ta=%d tb=%d beta=%g %dx%dx%d: C[%d,%d] = %.9g, bf16 reference %.9g (|diff| %.3g > %.3g)",
                      name, ta, tb, beta, M, N, K, i, j, got, ref, fabs(got - ref), bound);
            unrounded += fabs(got - full) > bound;
        }
        for (int j = N; j < ldc; j++)
            cr_assert_eq(C[(size_t)i * ldc + j], SENTINEL, "%s: C's padding [%d,%d] was written", name, i, j);
    }
    free(A), free(B), free(C), free(C0);
    return unrounded;
}

static void check_all(GemmFn fn, const char *name) {
    Rng rg = rng_stream(7, "gemm_bf16");
    int unrounded = 0;
    for (size_t s = 0; s < sizeof SHAPES / sizeof *SHAPES; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (size_t b = 0; b < sizeof BETAS / sizeof *BETAS; b++)
                    unrounded += check_case(fn, name, SHAPES[s], ta, tb, BETAS[b], &rg);
    cr_expect_gt(unrounded, 0, "%s: every result is within fp32 rounding of the unrounded product: no bf16", name);
}

Test(gemm_bf16, emulated_matches_bf16_reference) { check_all(gemm_bf16_avx512_emu, "emulated"); }

Test(gemm_bf16, native_matches_bf16_reference) {
    if (!gemm_bf16_native_ok()) cr_skip_test("this CPU has no AVX512-BF16: the native kernel is not run here");
    check_all(gemm_bf16_avx512, "native");
}

/* K = 0 scales C by beta (0: overwrites NaN); M = 0 or N = 0 writes nothing. */
Test(gemm_bf16, empty_products) {
    float A[4] = {1, 2, 3, 4}, B[4] = {1, 2, 3, 4}, C[4] = {NAN, NAN, 2, 4};
    cr_assert_eq(gemm_bf16_avx512_emu(0, 0, 2, 2, 0, A, 1, B, 2, 0.0f, C, 2), 0);
    for (int i = 0; i < 4; i++) cr_expect_eq(C[i], 0.0f, "K = 0, beta = 0: C[%d] = %g", i, C[i]);
    float D[4] = {1, 2, 3, 4};
    cr_assert_eq(gemm_bf16_avx512_emu(0, 0, 2, 2, 0, A, 1, B, 2, 0.5f, D, 2), 0);
    for (int i = 0; i < 4; i++) cr_expect_eq(D[i], 0.5f * (i + 1), "K = 0, beta = 0.5: D[%d] = %g", i, D[i]);
    cr_assert_eq(gemm_bf16_avx512_emu(0, 0, 0, 2, 2, A, 2, B, 2, 0.0f, D, 2), 0);
    cr_assert_eq(gemm_bf16_avx512_emu(0, 0, 2, 0, 2, A, 2, B, 2, 0.0f, D, 2), 0);
    for (int i = 0; i < 4; i++) cr_expect_eq(D[i], 0.5f * (i + 1), "M or N = 0 wrote D[%d]", i);
}

/* Large enough for the parallel loops (M·N·K >= 2^18): 1 and 2 threads, same bits. */
static void check_threads(GemmFn fn, const char *name) {
    int M = 70, N = 100, K = 600;
    Rng rg = rng_stream(9, "gemm_bf16_threads");
    float *A = matrix(&rg, K, M), *B = matrix(&rg, K, N), *C1 = matrix(&rg, M, N);
    size_t nc = (size_t)M * (N + PAD);
    float *C2 = malloc(nc * sizeof *C2);
    memcpy(C2, C1, nc * sizeof *C2);
    omp_set_num_threads(1);
    fn(1, 0, M, N, K, A, M + PAD, B, N + PAD, 1.0f, C1, N + PAD);
    omp_set_num_threads(2);
    fn(1, 0, M, N, K, A, M + PAD, B, N + PAD, 1.0f, C2, N + PAD);
    cr_expect(!memcmp(C1, C2, nc * sizeof *C1), "%s: 1 and 2 threads give different bits", name);
    free(A), free(B), free(C1), free(C2);
}

Test(gemm_bf16, emulated_thread_count_invariant) { check_threads(gemm_bf16_avx512_emu, "emulated"); }

Test(gemm_bf16, native_thread_count_invariant) {
    if (!gemm_bf16_native_ok()) cr_skip_test("this CPU has no AVX512-BF16: the native kernel is not run here");
    check_threads(gemm_bf16_avx512, "native");
}

/* Each Criterion test is its own process, so the path is chosen afresh. */
Test(gemm_bf16, path_sgemm) {
    setenv("HARNESS_BF16_GEMM", "sgemm", 1);
    cr_expect_eq(gemm_bf16_path(), GEMM_BF16_SGEMM);
    cr_expect_str_eq(gemm_bf16_path_name(gemm_bf16_path()), "sgemm");
}
Test(gemm_bf16, path_emulate) {
    setenv("HARNESS_BF16_GEMM", "emulate", 1);
    cr_expect_eq(gemm_bf16_path(), GEMM_BF16_EMULATE);
}
Test(gemm_bf16, path_default_follows_the_cpu) {
    unsetenv("HARNESS_BF16_GEMM");
    cr_expect_eq(gemm_bf16_path(), gemm_bf16_native_ok() ? GEMM_BF16_AVX512 : GEMM_BF16_SGEMM);
}
Test(gemm_bf16, path_avx512_falls_back_without_it) {
    setenv("HARNESS_BF16_GEMM", "avx512", 1);
    cr_expect_eq(gemm_bf16_path(), gemm_bf16_native_ok() ? GEMM_BF16_AVX512 : GEMM_BF16_SGEMM);
}
