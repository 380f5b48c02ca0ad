/* bf16 GEMM on AVX512-BF16 (gemm_bf16.h). Compiled natively here and, with
 * GEMM_BF16_EMU_BUILD defined, as gemm_bf16_emu.c with the AVX-512 instructions
 * emulated in C.
 *
 * Layout (Goto-style, both operands packed once per call):
 *  - Ap: op(A) (M,K) as bf16 pairs of consecutive k, in micro-panels of MR
 *    rows: dword (ib, p, r) = bf16(op(A)[ib·MR+r, 2p]) | bf16(op(A)[.., 2p+1]) << 16;
 *  - Bp: op(B) (K,N) likewise in panels of NR columns: dword (jb, p, c) =
 *    bf16(op(B)[2p, jb·NR+c]) | bf16(op(B)[2p+1, jb·NR+c]) << 16;
 *    rows past M, columns past N and the k past an odd K are 0.
 *  - the micro-kernel keeps an MR × NR tile of C in 16 vectors of 16 floats
 *    and per pair p broadcasts A's dword of each row against B's two vectors:
 *    VDPBF16PS adds a[2p]·b[2p] + a[2p+1]·b[2p+1] to each lane.
 * Work items are (NR-column panel, MC-row block); each owns its tiles of C,
 * and every element's sum runs over k in order (beta·C first, then KC pairs
 * per block, the accumulators carried through C), so the result does not
 * depend on the thread count. */
#include "gemm_bf16.h"

#include "backend.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MR 8   /* rows of a micro-tile */
#define NR 32  /* columns of a micro-tile: two vectors of 16 floats */
#define KC 256 /* pairs of k per block: a B micro-panel of KC·NR dwords is 32 KiB */
#define MC 64  /* rows of C per work item */

/* ---- The vector instructions the kernel uses ----------------------------------------- */
#ifdef GEMM_BF16_EMU_BUILD
#define GEMM_NAME gemm_bf16_avx512_emu
#define TARGET
typedef struct { float f[16]; } V16;    /* __m512 */
typedef struct { uint32_t u[16]; } VB;  /* __m512bh: 16 pairs of bf16 */

/* VDPBF16PS reads denormals as 0 and flushes denormal results to 0. */
static inline float daz(float x) { return fabsf(x) < FLT_MIN ? copysignf(0.0f, x) : x; }
static inline float bf16_float(uint32_t h) {
    uint32_t u = (h & 0xffffu) << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return daz(x);
}
static inline V16 v_zero(void) { V16 v; for (int i = 0; i < 16; i++) v.f[i] = 0.0f; return v; }
static inline V16 v_load(const float *p) { V16 v; memcpy(v.f, p, sizeof v.f); return v; }
static inline void v_store(float *p, V16 v) { memcpy(p, v.f, sizeof v.f); }
static inline V16 v_scale(V16 v, float s) { for (int i = 0; i < 16; i++) v.f[i] *= s; return v; }
static inline VB v_loadb(const uint32_t *p) { VB v; memcpy(v.u, p, sizeof v.u); return v; }
/* _mm512_dpbf16_ps(acc, _mm512_set1_epi32(a), b), Intel's pseudo-code: per lane
 * acc += a.hi·b.hi, then acc += a.lo·b.lo, each an fp32 FMA (DAZ, FTZ, RNE). */
static inline V16 v_dp(V16 acc, uint32_t a, VB b) {
    float a0 = bf16_float(a), a1 = bf16_float(a >> 16);
    for (int i = 0; i < 16; i++) {
        float s = daz(fmaf(a1, bf16_float(b.u[i] >> 16), daz(acc.f[i])));
        acc.f[i] = daz(fmaf(a0, bf16_float(b.u[i]), s));
    }
    return acc;
}
#else
#include <immintrin.h>
#define GEMM_NAME gemm_bf16_avx512
#define TARGET __attribute__((target("avx512f,avx512bf16")))
typedef __m512 V16;
typedef __m512bh VB;
static inline TARGET V16 v_zero(void) { return _mm512_setzero_ps(); }
static inline TARGET V16 v_load(const float *p) { return _mm512_loadu_ps(p); }
static inline TARGET void v_store(float *p, V16 v) { _mm512_storeu_ps(p, v); }
static inline TARGET V16 v_scale(V16 v, float s) { return _mm512_mul_ps(v, _mm512_set1_ps(s)); }
static inline TARGET VB v_loadb(const uint32_t *p) { return (VB)_mm512_loadu_si512((const void *)p); }
static inline TARGET V16 v_dp(V16 acc, uint32_t a, VB b) {
    return _mm512_dpbf16_ps(acc, (VB)_mm512_set1_epi32((int)a), b);
}
#endif

/* ---- The micro-kernel ------------------------------------------------------------------ */
enum { START_ZERO, START_C, START_BETA_C }; /* what the accumulators start from */

/* c (MR, NR; row stride ldc) = start + Σ_p pairs p of ap (kp, MR) · bp (kp, NR). */
static TARGET void micro_kernel(int kp, const uint32_t *ap, const uint32_t *bp, float *c, int ldc, int start,
                                float beta) {
    V16 acc[MR][2];
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
        if (start == START_ZERO) {
            acc[r][0] = acc[r][1] = v_zero();
        } else {
            acc[r][0] = v_load(c + (size_t)r * ldc);
            acc[r][1] = v_load(c + (size_t)r * ldc + 16);
            if (start == START_BETA_C) acc[r][0] = v_scale(acc[r][0], beta), acc[r][1] = v_scale(acc[r][1], beta);
        }
    }
    for (int p = 0; p < kp; p++) {
        VB b0 = v_loadb(bp + (size_t)p * NR), b1 = v_loadb(bp + (size_t)p * NR + 16);
        const uint32_t *a = ap + (size_t)p * MR;
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) {
            acc[r][0] = v_dp(acc[r][0], a[r], b0);
            acc[r][1] = v_dp(acc[r][1], a[r], b1);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++) {
        v_store(c + (size_t)r * ldc, acc[r][0]);
        v_store(c + (size_t)r * ldc + 16, acc[r][1]);
    }
}

/* A tile at the edge of C (mr <= MR rows, nc <= NR columns valid): through an
 * MR × NR buffer, the same sums in the same order as a full tile. */
static void edge_tile(int kp, const uint32_t *ap, const uint32_t *bp, float *C, int ldc, int mr, int nc, int start,
                      float beta) {
    float t[MR * NR] __attribute__((aligned(64)));
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) {
            float v = r < mr && j < nc && start != START_ZERO ? C[(size_t)r * ldc + j] : 0.0f;
            t[r * NR + j] = start == START_BETA_C ? v * beta : v;
        }
    micro_kernel(kp, ap, bp, t, NR, START_C, 1.0f);
    for (int r = 0; r < mr; r++) memcpy(C + (size_t)r * ldc, t + r * NR, (size_t)nc * sizeof *C);
}

/* ---- Packing ----------------------------------------------------------------------------- */
/* The bf16 bits of x rounded to nearest, ties to even (backend.h bf16_round). */
static inline uint32_t bf16_bits(float x) {
    float r = bf16_round(x);
    uint32_t u;
    memcpy(&u, &r, sizeof u);
    return u >> 16;
}

/* dst (ceil(rows/w), kp, w) from the (rows, K) matrix op(X) (X itself, or
 * stored transposed when trans): panels of w rows, each row's k interleaved
 * by pairs. Ap = pack(ta, M, K, A, MR). Bp packs op(B)ᵀ (N, K), which is B as
 * stored when tb and its transpose otherwise: pack(!tb, N, K, B, NR). */
static void pack(int trans, int rows, int K, const float *X, int ldx, int w, uint32_t *dst, int kp) {
    int np = (rows + w - 1) / w;
#pragma omp parallel for schedule(static) if ((size_t)rows * K >= (1u << 15))
    for (int ib = 0; ib < np; ib++) {
        uint32_t *d = dst + (size_t)ib * kp * w;
        for (int p = 0; p < kp; p++)
            for (int r = 0; r < w; r++) {
                int i = ib * w + r, k = 2 * p;
                uint32_t lo = 0, hi = 0;
                if (i < rows) {
                    lo = bf16_bits(trans ? X[(size_t)k * ldx + i] : X[(size_t)i * ldx + k]);
                    if (k + 1 < K) hi = bf16_bits(trans ? X[(size_t)(k + 1) * ldx + i] : X[(size_t)i * ldx + k + 1]);
                }
                d[(size_t)p * w + r] = lo | hi << 16;
            }
    }
}

/* ---- The driver ------------------------------------------------------------------------- */
static void scale_c(int M, int N, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
}

int GEMM_NAME(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc) {
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0) { scale_c(M, N, beta, C, ldc); return 0; }
    int kp = (K + 1) / 2, nmb = (M + MR - 1) / MR, njb = (N + NR - 1) / NR, nic = (M + MC - 1) / MC;
    size_t abytes = ((size_t)nmb * kp * MR * 4 + 63) / 64 * 64, bbytes = ((size_t)njb * kp * NR * 4 + 63) / 64 * 64;
    uint32_t *ap = aligned_alloc(64, abytes), *bp = aligned_alloc(64, bbytes);
    if (!ap || !bp) { free(ap); free(bp); return -1; }
    pack(ta, M, K, A, lda, MR, ap, kp);
    pack(!tb, N, K, B, ldb, NR, bp, kp);
    int first = beta == 0.0f ? START_ZERO : beta == 1.0f ? START_C : START_BETA_C;
#pragma omp parallel for schedule(static) if ((size_t)M * N * K >= (1u << 18))
    for (int item = 0; item < njb * nic; item++) {
        int jb = item % njb, ic = item / njb, nc = N - jb * NR < NR ? N - jb * NR : NR;
        for (int p0 = 0; p0 < kp; p0 += KC) {
            int kb = kp - p0 < KC ? kp - p0 : KC, start = p0 == 0 ? first : START_C;
            const uint32_t *b = bp + ((size_t)jb * kp + p0) * NR;
            for (int ib = ic * MC / MR; ib < nmb && ib < (ic + 1) * MC / MR; ib++) {
                const uint32_t *a = ap + ((size_t)ib * kp + p0) * MR;
                float *c = C + (size_t)ib * MR * ldc + (size_t)jb * NR;
                int mr = M - ib * MR < MR ? M - ib * MR : MR;
                if (mr == MR && nc == NR) micro_kernel(kb, a, b, c, ldc, start, beta);
                else edge_tile(kb, a, b, c, ldc, mr, nc, start, beta);
            }
        }
    }
    free(ap);
    free(bp);
    return 0;
}

/* ---- Which path (once per build: not in the emulated copy) --------------------------------- */
#ifndef GEMM_BF16_EMU_BUILD

int gemm_bf16_native_ok(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
}

GemmBf16Path gemm_bf16_path(void) {
    static int cached = -1;
    int p = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (p >= 0) return (GemmBf16Path)p;
    const char *e = getenv("HARNESS_BF16_GEMM");
    int native = gemm_bf16_native_ok();
    p = native ? GEMM_BF16_AVX512 : GEMM_BF16_SGEMM;
    if (e && *e) {
        if (!strcmp(e, "sgemm")) p = GEMM_BF16_SGEMM;
        else if (!strcmp(e, "emulate")) p = GEMM_BF16_EMULATE;
        else if (strcmp(e, "avx512"))
            fprintf(stderr, "warning: HARNESS_BF16_GEMM=%s is not sgemm, avx512 or emulate; using %s\n", e,
                    gemm_bf16_path_name((GemmBf16Path)p));
    }
    __atomic_store_n(&cached, p, __ATOMIC_RELAXED);
    return (GemmBf16Path)p;
}

const char *gemm_bf16_path_name(GemmBf16Path p) {
    return p == GEMM_BF16_AVX512 ? "avx512" : p == GEMM_BF16_EMULATE ? "emulate" : "sgemm";
}
#endif
