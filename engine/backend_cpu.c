/* CPU backend: OpenBLAS GEMMs, OpenMP loops; device memory is host memory.
 * Tested op by op against backend_ref.c (tests/test_backend.c).
 *
 * Determinism: every parallel loop writes disjoint outputs and every
 * reduction runs in a fixed order, so results do not depend on scheduling. */
#include "backend.h"
#include "gemm_bf16.h"
#include "mathx.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

extern void openblas_set_num_threads(int);

/* ---- Memory ------------------------------------------------------------------ */

static void set_threads(Backend *be, int threads) {
    (void)be;
    if (threads <= 0) threads = omp_get_num_procs();
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
}

/* Buffers carry a 64-byte header {total size, mapped}. Large ones (>= 1 MiB)
 * come from mmap: page-aligned, and zero pages the kernel maps lazily, so
 * growing an activation arena costs no memset of untouched memory. They are
 * also not inherited by fork (MADV_DONTFORK): the only forked children of a
 * process holding tensors are the DFA checker (engine/dfa_equiv.c), which
 * never touches them, and copying their page tables made each of its ~500
 * forks per evaluation cost milliseconds (2/3 of scoring a demo run). */
#define HDR 64
#define MMAP_MIN (1u << 20)

static void *cpu_alloc(Backend *be, size_t bytes) {
    (void)be;
    size_t total = (bytes + 63) / 64 * 64 + HDR;
    unsigned char *p;
    int mapped = total >= MMAP_MIN;
    if (mapped) {
        p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return NULL;
        (void)madvise(p, total, MADV_DONTFORK); /* an optimisation only: failure changes nothing */
    } else {
        if (!(p = aligned_alloc(64, total))) return NULL;
        memset(p, 0, total);
    }
    ((size_t *)p)[0] = total;
    ((size_t *)p)[1] = (size_t)mapped;
    return p + HDR;
}

static void cpu_free(Backend *be, void *q) {
    (void)be;
    if (!q) return;
    unsigned char *p = (unsigned char *)q - HDR;
    if (((size_t *)p)[1]) munmap(p, ((size_t *)p)[0]);
    else free(p);
}
static void cpu_zero(Backend *be, void *p, size_t bytes) { (void)be; if (bytes) memset(p, 0, bytes); }
static void cpu_copy(Backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes && dst != src) memmove(dst, src, bytes);
}

/* ---- GEMM -------------------------------------------------------------------- */

static void gemm(Backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc) {
    (void)be;
    if (M == 0 || N == 0) return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
                B, ldb, beta, C, ldc);
}

/* ---- Linear ----------------------------------------------------------------
 * DTYPE_BF16 (backend.h), by the path gemm_bf16_path() chose for the process:
 *  - on a CPU with AVX512-BF16, gemm_bf16_avx512 (engine/gemm_bf16.c): both
 *    operands packed as bf16 pairs, VDPBF16PS products, fp32 sums;
 *  - elsewhere, both operands are rounded to bf16 values kept in fp32
 *    (bf16_round) in scratch copies, then multiplied by sgemm. A product of
 *    two bf16 values is exact in fp32, so this is the same bf16 GEMM with fp32
 *    accumulation (the numerics of cblas_sbgemm or cublasGemmEx on
 *    CUDA_R_16BF) on fp32 units. Debian's OpenBLAS 0.3.21 exports no
 *    cblas_sbgemm (built without BUILD_BFLOAT16), and on a CPU without
 *    AVX512-BF16 there are no bf16 dot-product instructions to gain from
 *    (bench/README.md "bf16").
 * The two agree to fp32 rounding (tests/test_gemm_bf16.c), not bit for bit. */

/* dst (len) = bf16_round(src), in parallel (disjoint writes) */
static void round_bf16(float *dst, const float *src, size_t len) {
#pragma omp parallel for schedule(static) if (len >= (1u << 16))
    for (size_t i = 0; i < len; i++) dst[i] = bf16_round(src[i]);
}

/* C (M,N) = op(A)·op(B) + beta·C with bf16-rounded operands, by plain loops
 * (fp32 accumulation): the fallback when scratch cannot be allocated. */
static void gemm_bf16_loops(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                            float beta, float *C, int ldc) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0;
            for (int k = 0; k < K; k++)
                s += bf16_round(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                     bf16_round(tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
            C[(size_t)i * ldc + j] = s + (beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j]);
        }
}

/* C (M,N) = op(A)·op(B) + beta·C (row-major, op = transpose when ta/tb) with
 * the operands at precision dtype. K >= 1. */
static void gemm_dtype(int dtype, int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                       int ldb, float beta, float *C, int ldc) {
    enum CBLAS_TRANSPOSE oa = ta ? CblasTrans : CblasNoTrans, ob = tb ? CblasTrans : CblasNoTrans;
    if (dtype != DTYPE_BF16) {
        cblas_sgemm(CblasRowMajor, oa, ob, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    GemmBf16Path path = gemm_bf16_path();
    if (path == GEMM_BF16_AVX512 && !gemm_bf16_avx512(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc)) return;
    if (path == GEMM_BF16_EMULATE && !gemm_bf16_avx512_emu(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc)) return;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
    if (a && b) {
        round_bf16(a, A, na);
        round_bf16(b, B, nb);
        cblas_sgemm(CblasRowMajor, oa, ob, M, N, K, 1.0f, a, lda, b, ldb, beta, C, ldc);
    } else {
        gemm_bf16_loops(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    }
    free(a);
    free(b);
}

static void linear_forward(Backend *be, float *y, const float *x, const float *w, int n, int in, int out,
                           int dtype) {
    (void)be;
    if (n == 0 || out == 0) return;
    if (in == 0) { memset(y, 0, (size_t)n * out * sizeof *y); return; }
    gemm_dtype(dtype, 0, 1, n, out, in, x, in, w, in, 0.0f, y, out);
}

/* dx = or += dy·w (dx_acc: GEMM beta 0 or 1), dw += dyᵀ·x. out = 0: the
 * products are empty sums (cblas would reject lda = 0), so DX_SET zeroes dx.
 * OpenBLAS (driver/level3/level3.c) runs beta != 1 as a pass over C before
 * its kernels, which then add into C: beta = 0 here costs about what a
 * zeroing pass plus beta = 1 did (measured within ±5% per shape); the pass
 * moves into the library. cuBLAS does not read C at beta = 0. */
static void linear_backward(Backend *be, float *dx, float *dw, const float *dy, const float *x, const float *w,
                            int n, int in, int out, int dtype, int dx_acc) {
    (void)be;
    if (n == 0 || in == 0) return;
    if (out == 0) {
        if (dx && dx_acc == DX_SET) memset(dx, 0, (size_t)n * in * sizeof *dx);
        return;
    }
    if (dx) gemm_dtype(dtype, 0, 0, n, in, out, dy, out, w, in, dx_acc == DX_SET ? 0.0f : 1.0f, dx, in);
    if (dw) gemm_dtype(dtype, 1, 0, out, in, n, dy, out, x, in, 1.0f, dw, in);
}

/* ---- RMSNorm ----------------------------------------------------------------
 * y = x * rstd * w,  rstd = 1 / sqrt(mean(x^2) + eps)
 * dx = rstd * (dy*w - x * rstd^2 * mean(dy*w*x)),  dw += sum_t dy * x * rstd */

static void rmsnorm_forward(Backend *be, float *y, float *rstd, const float *x, const float *w, int n, int c,
                            float eps) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * c;
        float *yt = y + (size_t)t * c;
        float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
        for (int i = 0; i < c; i++) ss += xt[i] * xt[i];
        float r = 1.0f / sqrtf(ss / c + eps);
        rstd[t] = r;
        for (int i = 0; i < c; i++) yt[i] = xt[i] * r * w[i];
    }
}

static void rmsnorm_backward(Backend *be, float *dx, float *dw, const float *dy, const float *x, const float *w,
                             const float *rstd, int n, int c) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * c, *dyt = dy + (size_t)t * c;
        float *dxt = dx + (size_t)t * c;
        float r = rstd[t], dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int i = 0; i < c; i++) dot += dyt[i] * w[i] * xt[i];
        float m = dot / c * r * r;
        for (int i = 0; i < c; i++) dxt[i] += r * (dyt[i] * w[i] - xt[i] * m);
    }
    /* Parameter gradient: tokens summed in order (serial, deterministic). */
    if (!dw) return;
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * c, *dyt = dy + (size_t)t * c;
        float r = rstd[t];
        for (int i = 0; i < c; i++) dw[i] += dyt[i] * xt[i] * r;
    }
}

/* ---- RoPE (rotate-half, Hugging Face convention) ------------------------------
 * for i < hd/2:  x'[i] = x[i] cos - x[i+hd/2] sin ;  x'[i+hd/2] = x[i+hd/2] cos + x[i] sin */

/* Per token: its cos / sin row copied once (sin signed for the inverse), so
 * the loop over the heads' halves has no possible aliasing to test and
 * vectorises whole; lo and hi are the two halves of a head. */
static void rope(Backend *be, float *x, const int *pos, const float *cs, const float *sn, int n, int stride,
                 int col0, int nheads, int hd, int inverse) {
    (void)be;
    int half = hd / 2;
    float sgn = inverse ? -1.0f : 1.0f;
    if (half == 0) return;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < n; t++) {
        float c[half], s[half];
        const float *ct = cs + (size_t)pos[t] * half, *st = sn + (size_t)pos[t] * half;
        for (int i = 0; i < half; i++) c[i] = ct[i], s[i] = sgn * st[i];
        for (int h = 0; h < nheads; h++) {
            float *restrict lo = x + (size_t)t * stride + col0 + h * hd, *restrict hi = lo + half;
#pragma omp simd
            for (int i = 0; i < half; i++) {
                float a = lo[i], b = hi[i];
                lo[i] = a * c[i] - b * s[i];
                hi[i] = b * c[i] + a * s[i];
            }
        }
    }
}

/* ---- Attention ----------------------------------------------------------------
 * Training attention, per (row, kv head g) work item, for each query head h
 * of the group; T is the row's length, Ts = T rounded up to ATT_J:
 *   forward:  S = scale Q Kᵀ on the causal triangle, into scratch rows of Ts
 *             floats; the mask and softmax in place, row by row (P, zero
 *             above the diagonal); O = P V; P saved as (T, T) per head;
 *   backward: dP = dO Vᵀ ; dS = P ∘ (dP − rowsum(P ∘ dP)) · scale ;
 *             dQ += dS K ; dK += dSᵀ Q ; dV += Pᵀ dO.
 * The products run in two register-blocked kernels on 8-float vectors
 * (mathx.h), each visiting only the blocks the causal triangle touches:
 * att_scores (4 queries × 16 keys, keys from a transposed copy) and att_mix
 * (2 output rows × 32 columns). At T ≈ 100, hd = 32 one OpenBLAS call per
 * product cost more in packing and in the dense T × T square than these
 * kernels do in the triangle. (Recomputing P in the backward from saved
 * softmax statistics, as flash attention does, was slower here: a third
 * scores product and a second exponential cost more than the traffic of P.)
 * Every work item runs in a fixed order and writes its own outputs: results
 * do not depend on threads. */

#define ATT_J 16 /* keys per att_scores block: scratch score rows are padded to a multiple */

static inline int att_stride(int T) { return (T + ATT_J - 1) / ATT_J * ATT_J; }

/* Prefetches the first hd floats of a row. The operands of a work item are
 * strided slices of qkv, its gradient and the probabilities, first touched
 * by the item: without this, rows stalled one at a time on memory (the
 * hardware prefetchers do not reach that far ahead). */
#define ATT_AHEAD 8 /* rows of prefetch distance */
static inline void att_prefetch(const float *row, int hd) {
    for (int d = 0; d < hd; d += 16) __builtin_prefetch(row + d);
}

/* S[m][j] (rows m < nr <= 4, stride lds) = scale · Σ_d A[m][d] Bt[d][j] for
 * j < nj, a multiple of ATT_J. Bt (hd, ldb) holds at least nj columns.
 * A[m] for m >= nr are read but not stored (they may repeat a row). */
static void att_scores(float *S, int lds, const float *const A[4], int nr, const float *Bt, int ldb, int hd, int nj,
                       float scale) {
    for (int j = 0; j < nj; j += ATT_J) {
        f8 acc[4][2];
        memset(acc, 0, sizeof acc);
        for (int d = 0; d < hd; d++) {
            f8 b0, b1;
            f8_load(&b0, Bt + (size_t)d * ldb + j);
            f8_load(&b1, Bt + (size_t)d * ldb + j + 8);
            for (int m = 0; m < 4; m++) {
                acc[m][0] += A[m][d] * b0;
                acc[m][1] += A[m][d] * b1;
            }
        }
        for (int m = 0; m < nr; m++) {
            acc[m][0] *= scale;
            acc[m][1] *= scale;
            f8_store(S + (size_t)m * lds + j, &acc[m][0]);
            f8_store(S + (size_t)m * lds + j + 8, &acc[m][1]);
        }
    }
}

/* S (T, Ts) = scale · A Bᵀ on the causal triangle (blocks of 4 rows up to
 * their last key, rounded up to ATT_J): A rows of lda floats, Bt = Bᵀ (hd, Ts). */
static void att_scores_causal(float *S, int Ts, const float *A, int lda, const float *Bt, int T, int hd,
                              float scale) {
    for (int i0 = 0; i0 < T; i0 += 4) {
        int nr = T - i0 < 4 ? T - i0 : 4;
        const float *Ar[4];
        for (int m = 0; m < 4; m++) Ar[m] = A + (size_t)(i0 + (m < nr ? m : nr - 1)) * lda;
        for (int m = i0 + ATT_AHEAD; m < i0 + ATT_AHEAD + 4 && m < T; m++) att_prefetch(A + (size_t)m * lda, hd);
        att_scores(S + (size_t)i0 * Ts, Ts, Ar, nr, Bt, Ts, hd, att_stride(i0 + nr), scale);
    }
}

/* Columns c0 .. c0+8·nv−1 (nv <= 4) of rows a (and a+1 when na = 2) of Y:
 * Y[r] (=, or += when accum) Σ_{k0 <= k < k1} C_r[k·ck] · X[k], X rows of
 * ldx floats readable up to column c0+8·nv; only columns < hd are written. */
static inline __attribute__((always_inline)) void att_mix_block(float *Y, int ldy, int hd, int accum, const float *C0,
                                                                const float *C1, int ck, const float *X, int ldx,
                                                                int k0, int k1, int c0, int nv, int na) {
    f8 acc[2][4];
    memset(acc, 0, sizeof acc);
    for (int k = k0; k < k1; k++) {
        float p0 = C0[(size_t)k * ck], p1 = C1[(size_t)k * ck];
        const float *x = X + (size_t)k * ldx + c0;
        for (int v = 0; v < nv; v++) {
            f8 xv;
            f8_load(&xv, x + 8 * v);
            acc[0][v] += p0 * xv;
            acc[1][v] += p1 * xv;
        }
    }
    for (int r = 0; r < na; r++)
        for (int v = 0; v < nv; v++) {
            int col = c0 + 8 * v, w = hd - col < 8 ? hd - col : 8;
            float t[8], *y = Y + (size_t)r * ldy + col;
            if (w == 8) { /* a whole vector: no round trip through memory (a stalled store forward) */
                f8 yv;
                if (accum) f8_load(&yv, y), acc[r][v] += yv;
                f8_store(y, &acc[r][v]);
                continue;
            }
            f8_store(t, &acc[r][v]);
            for (int l = 0; l < w; l++) y[l] = accum ? y[l] + t[l] : t[l];
        }
}

/* Y (T rows of ldy, hd columns) =, or += (accum), C·X (lower = 1: row a sums
 * k in [0, a], C[a·ldc + k]) or Cᵀ·X (lower = 0: row a sums k in [a, T),
 * C[k·ldc + a]). C (T rows of ldc >= T floats) is zero above its diagonal;
 * X (T rows of ldx floats) is readable to hd rounded up to 8. */
static void att_mix(float *Y, int ldy, int hd, int accum, const float *C, int ldc, int lower, const float *X, int ldx,
                    int T) {
    int ck = lower ? 1 : ldc;
    for (int k = 0; k < T && !lower; k++) att_prefetch(X + (size_t)k * ldx, hd); /* all read by the first rows */
    for (int a = 0; a < T; a += 2) {
        int na = T - a < 2 ? T - a : 2, k0 = lower ? 0 : a, k1 = lower ? a + na : T;
        const float *C0 = lower ? C + (size_t)a * ldc : C + a, *C1 = na < 2 ? C0 : lower ? C0 + ldc : C0 + 1;
        float *y = Y + (size_t)a * ldy;
        for (int m = a + ATT_AHEAD; m < a + ATT_AHEAD + 2 && m < T; m++) {
            att_prefetch(Y + (size_t)m * ldy, hd);
            if (lower) att_prefetch(X + (size_t)m * ldx, hd);
        }
        for (int c0 = 0; c0 < hd; c0 += 32) {
            int nv = (hd - c0 + 7) / 8;
            switch (nv > 4 ? 4 : nv) {
            case 1: att_mix_block(y, ldy, hd, accum, C0, C1, ck, X, ldx, k0, k1, c0, 1, na); break;
            case 2: att_mix_block(y, ldy, hd, accum, C0, C1, ck, X, ldx, k0, k1, c0, 2, na); break;
            case 3: att_mix_block(y, ldy, hd, accum, C0, C1, ck, X, ldx, k0, k1, c0, 3, na); break;
            default: att_mix_block(y, ldy, hd, accum, C0, C1, ck, X, ldx, k0, k1, c0, 4, na); break;
            }
        }
    }
}

/* Bt (hd, Ts) = Bᵀ of B (T rows of ldb, hd columns), columns T..Ts-1 zero.
 * Rows of B are first touches (strided through qkv): prefetched ahead. */
static void att_transpose(float *Bt, const float *B, int ldb, int T, int Ts, int hd) {
    for (int j = 0; j < T; j++) {
        const float *b = B + (size_t)j * ldb;
        if (j + 2 * ATT_AHEAD < T) att_prefetch(b + 2 * ATT_AHEAD * (size_t)ldb, hd);
        for (int d = 0; d < hd; d++) Bt[(size_t)d * Ts + j] = b[d];
    }
    for (int d = 0; d < hd; d++)
        for (int j = T; j < Ts; j++) Bt[(size_t)d * Ts + j] = 0.0f;
}

/* X for att_mix: B itself (stride ldb) when hd is a multiple of 8, else a
 * copy into pad (T, hd rounded up to 8) with zero columns after hd. */
static const float *att_rows(float *pad, const float *B, int ldb, int T, int hd, int *ldx) {
    int hp = (hd + 7) / 8 * 8;
    if (hp == hd) return *ldx = ldb, B;
    for (int j = 0; j < T; j++) {
        memcpy(pad + (size_t)j * hp, B + (size_t)j * ldb, (size_t)hd * sizeof *pad);
        memset(pad + (size_t)j * hp + hd, 0, (size_t)(hp - hd) * sizeof *pad);
    }
    return *ldx = hp, pad;
}

/* The visibility of a row (AttnLayout) as runs of equal segment: run q
 * covers tokens [start[q], start[q+1]) of segment rseg[q]. */
typedef struct AttRuns {
    int *start, *rseg, n;
    const unsigned char *vis;
    int nseg;
    const int *seg; /* the row's (T) segments */
} AttRuns;

static void att_runs(AttRuns *R, int *start, int *rseg, const AttnLayout *L, int r0, int T) {
    R->start = start, R->rseg = rseg, R->n = 0, R->vis = L->vis, R->nseg = L->nseg, R->seg = L->seg + r0;
    for (int j = 0; j < T; j++)
        if (j == 0 || R->seg[j] != R->seg[j - 1]) start[R->n] = j, rseg[R->n++] = R->seg[j];
    start[R->n] = T;
}

/* Scores of query i's hidden keys (j <= i) to −inf. */
static void att_mask(float *p, int i, const AttRuns *R) {
    const unsigned char *v = R->vis + (size_t)R->seg[i] * R->nseg;
    for (int q = 0; q < R->n && R->start[q] <= i; q++) {
        if (v[R->rseg[q]]) continue;
        int end = R->start[q + 1] <= i ? R->start[q + 1] : i + 1;
        for (int j = R->start[q]; j < end; j++) p[j] = -INFINITY;
    }
}

/* Row i of P (Ts floats) in place from its scores in [0, i], masked
 * (att_mask): softmax over [0, i] (−inf gives 0), 0 in (i, Ts). No visible
 * key: the row is all 0 (and so is the query's output). */
static void att_softmax(float *p, int i, int Ts) {
    float mx = -INFINITY, sum = 0.0f;
    /* OpenMP's max reduction starts its private copies at -FLT_MAX, not -inf (clang's
     * libomp does so): a row of -inf then has mx = -FLT_MAX, every p 0 and sum 0, hence
     * the test of sum below rather than of mx alone. */
#pragma omp simd reduction(max : mx)
    for (int j = 0; j <= i; j++) mx = p[j] > mx ? p[j] : mx;
    if (mx == -INFINITY) {
        memset(p, 0, (size_t)Ts * sizeof *p);
        return;
    }
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j <= i; j++) {
        p[j] = p[j] == -INFINITY ? 0.0f : expf_fast(p[j] - mx);
        sum += p[j];
    }
    if (!(sum > 0.0f)) { /* no visible key */
        memset(p, 0, (size_t)Ts * sizeof *p);
        return;
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int j = 0; j <= i; j++) p[j] *= inv;
    for (int j = i + 1; j < Ts; j++) p[j] = 0.0f;
}

/* Saved state: the (H, T, T) probabilities of every row, row after row
 * (zero above the diagonal; tests/test_layers.c reads them). */
static size_t attention_saved(Backend *be, const AttnLayout *L, int H, int KV, int hd) {
    (void)be; (void)KV; (void)hd;
    size_t s = 0;
    for (int r = 0; r < L->nrows; r++) {
        int T = L->row_start_host[r + 1] - L->row_start_host[r];
        s += (size_t)H * T * T;
    }
    return s;
}

/* Offsets of each row's probabilities in the saved state; NULL on OOM. */
static size_t *probs_offsets(const AttnLayout *L, int H) {
    size_t *off = malloc((size_t)(L->nrows + 1) * sizeof *off);
    if (!off) return NULL;
    off[0] = 0;
    for (int r = 0; r < L->nrows; r++) {
        int T = L->row_start_host[r + 1] - L->row_start_host[r];
        off[r + 1] = off[r] + (size_t)H * T * T;
    }
    return off;
}

/* Scratch of one work item: run tables (2T+1 ints, padded to 64 bytes),
 * ntr transposed heads (hd, Ts), nbuf (T, Ts) buffers and npad padded
 * copies (T, hd rounded up to 8). att_scratch: NULL on OOM; att_floats:
 * its floats. */
static size_t att_ints(int T) { return (2 * (size_t)T + 1 + 15) / 16 * 16; }
static float *att_floats(void *scratch, int T) { return (float *)((int *)scratch + att_ints(T)); }
static void *att_scratch(int T, int hd, int ntr, int nbuf, int npad) {
    size_t Ts = (size_t)att_stride(T), hp = (size_t)(hd + 7) / 8 * 8;
    size_t floats = ntr * (size_t)hd * Ts + nbuf * (size_t)T * Ts + npad * (size_t)T * hp;
    size_t bytes = att_ints(T) * sizeof(int) + floats * sizeof(float);
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

/* One forward work item: query heads of kv head g on the row of T tokens at
 * r0; P the row's saved probabilities (H, T, T). */
static void att_forward_item(float *out, float *P, const float *qkv, const AttnLayout *L, int r0, int T, int g,
                             int H, int KV, int hd, void *scratch) {
    int qkvs = (H + 2 * KV) * hd, os = H * hd, grp = H / KV, Ts = att_stride(T), ldv;
    AttRuns R;
    att_runs(&R, scratch, (int *)scratch + T + 1, L, r0, T);
    float *Kt = att_floats(scratch, T), *S = Kt + (size_t)hd * Ts, *pad = S + (size_t)T * Ts;
    float scale = 1.0f / sqrtf((float)hd);
    const float *K = qkv + (size_t)r0 * qkvs + (H + g) * hd;
    att_transpose(Kt, K, qkvs, T, Ts, hd);
    const float *V = att_rows(pad, K + KV * hd, qkvs, T, hd, &ldv);
    for (int h = g * grp; h < (g + 1) * grp; h++) {
        float *Ph = P + (size_t)h * T * T;
        att_scores_causal(S, Ts, qkv + (size_t)r0 * qkvs + h * hd, qkvs, Kt, T, hd, scale);
        for (int i = 0; i < T; i++) {
            att_mask(S + (size_t)i * Ts, i, &R);
            att_softmax(S + (size_t)i * Ts, i, Ts);
            memcpy(Ph + (size_t)i * T, S + (size_t)i * Ts, (size_t)T * sizeof *Ph);
        }
        att_mix(out + (size_t)r0 * os + h * hd, os, hd, 0, S, Ts, 1, V, ldv, T);
    }
}

static int attention_forward(Backend *be, float *out, float *probs, const float *qkv, const AttnLayout *L, int H,
                             int KV, int hd) {
    (void)be;
    int failed = 0;
    size_t *off = probs_offsets(L, H);
    if (!off) return -1;
#pragma omp parallel for schedule(dynamic, 1)
    for (int w = 0; w < L->nrows * KV; w++) {
        int r = w / KV, g = w % KV, r0 = L->row_start_host[r], T = L->row_start_host[r + 1] - r0;
        if (T == 0) continue;
        void *scratch = att_scratch(T, hd, 1, 1, 1);
        if (!scratch) {
#pragma omp atomic write
            failed = 1;
            continue;
        }
        att_forward_item(out, probs + off[r], qkv, L, r0, T, g, H, KV, hd, scratch);
        free(scratch);
    }
    free(off);
    return failed ? -1 : 0;
}

/* dS (T, Ts) in place from dP: row i, j <= i: P_ij (dP_ij − Σ_k P_ik dP_ik) ·
 * scale; 0 above the diagonal. P (T, T). */
static void att_dscores(float *dS, const float *P, int T, int Ts, float scale) {
    for (int i = 0; i < T; i++) {
        const float *Pi = P + (size_t)i * T;
        float *d = dS + (size_t)i * Ts, s = 0.0f;
        if (i + ATT_AHEAD < T) att_prefetch(Pi + ATT_AHEAD * (size_t)T, i + ATT_AHEAD + 1);
#pragma omp simd reduction(+ : s)
        for (int j = 0; j <= i; j++) s += Pi[j] * d[j];
#pragma omp simd
        for (int j = 0; j <= i; j++) d[j] = Pi[j] * (d[j] - s) * scale;
        for (int j = i + 1; j < Ts; j++) d[j] = 0.0f;
    }
}

/* One backward work item (row of T tokens at r0, kv head g, its query
 * heads; P the row's saved probabilities): dP by att_scores against Vᵀ, dS,
 * then the three products by att_mix. */
static void att_backward_item(float *dqkv, const float *dout, const float *P, const float *qkv, int r0, int T, int g,
                              int H, int KV, int hd, void *scratch) {
    int qkvs = (H + 2 * KV) * hd, os = H * hd, grp = H / KV, Ts = att_stride(T), ldk, ldq, ldo;
    size_t hp = (size_t)(hd + 7) / 8 * 8;
    float *Vt = att_floats(scratch, T), *dS = Vt + (size_t)hd * Ts, *padk = dS + (size_t)T * Ts;
    float *padq = padk + (size_t)T * hp, *pado = padq + (size_t)T * hp, scale = 1.0f / sqrtf((float)hd);
    const float *K = qkv + (size_t)r0 * qkvs + (H + g) * hd;
    float *dK = dqkv + (size_t)r0 * qkvs + (H + g) * hd, *dV = dK + KV * hd;
    att_transpose(Vt, K + KV * hd, qkvs, T, Ts, hd);
    const float *Kx = att_rows(padk, K, qkvs, T, hd, &ldk);
    for (int h = g * grp; h < (g + 1) * grp; h++) {
        const float *Ph = P + (size_t)h * T * T, *dO = dout + (size_t)r0 * os + h * hd;
        const float *Q = qkv + (size_t)r0 * qkvs + h * hd;
        att_scores_causal(dS, Ts, dO, os, Vt, T, hd, 1.0f);
        att_dscores(dS, Ph, T, Ts, scale);
        const float *Qx = att_rows(padq, Q, qkvs, T, hd, &ldq), *dOx = att_rows(pado, dO, os, T, hd, &ldo);
        att_mix(dqkv + (size_t)r0 * qkvs + h * hd, qkvs, hd, 1, dS, Ts, 1, Kx, ldk, T);
        att_mix(dK, qkvs, hd, 1, dS, Ts, 0, Qx, ldq, T);
        att_mix(dV, qkvs, hd, 1, Ph, T, 0, dOx, ldo, T);
    }
}

/* The dK/dV of a (row, kv head) are written by its own work item only. */
static int attention_backward(Backend *be, float *dqkv, const float *dout, const float *out, const float *probs,
                              const float *qkv, const AttnLayout *L, int H, int KV, int hd) {
    (void)be; (void)out;
    int failed = 0;
    size_t *off = probs_offsets(L, H);
    if (!off) return -1;
#pragma omp parallel for schedule(dynamic, 1)
    for (int w = 0; w < L->nrows * KV; w++) {
        int r = w / KV, g = w % KV, r0 = L->row_start_host[r], T = L->row_start_host[r + 1] - r0;
        if (T == 0) continue;
        void *scratch = att_scratch(T, hd, 1, 1, 3);
        if (!scratch) {
#pragma omp atomic write
            failed = 1;
            continue;
        }
        att_backward_item(dqkv, dout, probs + off[r], qkv, r0, T, g, H, KV, hd, scratch);
        free(scratch);
    }
    free(off);
    return failed ? -1 : 0;
}

/* Scores p (nh, nkeys) of heads h0..h0+nh-1 of one token: p[h][j] =
 * scale·(q_h·k_j), keys rows of K with stride ks (kv head g at column g*hd).
 * The dot product is summed in one fixed order for every head_dim: eight
 * lane sums over d ≡ i (mod 8) for d < hd8 = hd rounded down to 8, each a
 * running sum of rounded products from 0; the leftover d >= hd8 fused
 * (fmaf) into lane 0 in order; then 0 + lane 0 + ... + lane 7 in lane order.
 * This is the order of GCC's vectorised `omp simd reduction` loop with
 * 8-float vectors (AVX2), which this backend's cached attention used before,
 * so decoding outputs stay bit for bit the same. Contraction into FMA is off
 * here, as it was in that loop: the products are rounded. */
#if defined(__clang__)
#define NO_FP_CONTRACT_FN
#define NO_FP_CONTRACT_BODY _Pragma("clang fp contract(off)")
#else
#define NO_FP_CONTRACT_FN __attribute__((optimize("fp-contract=off")))
#define NO_FP_CONTRACT_BODY
#endif
NO_FP_CONTRACT_FN static void cached_scores(float *p, const float *q, const float *K, int ks, int nkeys, int h0, int nh,
                                            int grp, int hd, float scale) {
    NO_FP_CONTRACT_BODY
    int hd8 = hd / 8 * 8;
    for (int j = 0; j < nkeys; j++) {
        const float *kj = K + (size_t)j * ks;
        for (int h = 0; h < nh; h++) {
            const float *qh = q + (size_t)(h0 + h) * hd, *kh = kj + (size_t)((h0 + h) / grp) * hd;
            float lane[8] = {0}, s = 0.0f;
            for (int d = 0; d < hd8; d += 8)
                for (int i = 0; i < 8; i++) lane[i] = lane[i] + qh[d + i] * kh[d + i];
            for (int d = hd8; d < hd; d++) lane[0] = fmaf(qh[d], kh[d], lane[0]);
            for (int i = 0; i < 8; i++) s = s + lane[i];
            p[(size_t)h * nkeys + j] = s * scale;
        }
    }
}

/* out_h (hd) = Σ_j p_j v_j over nkeys rows of V (stride ks) with p (nkeys),
 * accumulated per element in slot order from 0 (p_j = 0 skipped), 32
 * elements at a time in registers. */
static void cached_mix(float *out, const float *p, const float *V, int ks, int nkeys, int hd) {
    int d0 = 0;
    for (; d0 + 32 <= hd; d0 += 32) {
        float acc[32] = {0};
        for (int j = 0; j < nkeys; j++) {
            float pj = p[j];
            if (pj == 0.0f) continue;
            const float *vj = V + (size_t)j * ks + d0;
            for (int d = 0; d < 32; d++) acc[d] += pj * vj[d];
        }
        memcpy(out + d0, acc, sizeof acc);
    }
    for (int d = d0; d < hd; d++) out[d] = 0.0f;
    for (int j = 0; j < nkeys && d0 < hd; j++) {
        float pj = p[j];
        if (pj == 0.0f) continue;
        const float *vj = V + (size_t)j * ks;
        for (int d = d0; d < hd; d++) out[d] += pj * vj[d];
    }
}

/* Decoding attention, heads h0..h0+nh-1 of one token over its sequence's
 * nkeys cached slots: p_j = softmax_j(scale q_h·k_j), out_h = Σ_j p_j v_j.
 * K, V point at slot 0 of the sequence (rows of ks floats, kv head g at
 * column g*hd); q and out at the token's head 0; p (nh, nkeys) is scratch.
 * Per head: scores (cached_scores), the max, the exponentials summed in slot
 * order, each p_j scaled by 1/sum, then cached_mix. A head whose scores are
 * all -inf (or NaN) gets out = 0. */
static void attend_cached_heads(float *out, float *p, const float *q, const float *K, const float *V, int ks,
                                int nkeys, int h0, int nh, int grp, int hd, float scale) {
    cached_scores(p, q, K, ks, nkeys, h0, nh, grp, hd, scale);
    for (int h = 0; h < nh; h++) {
        float *ph = p + (size_t)h * nkeys, mx = -INFINITY, sum = 0.0f;
        for (int j = 0; j < nkeys; j++)
            if (ph[j] > mx) mx = ph[j];
        if (mx == -INFINITY) { /* no finite score: zero output */
            memset(ph, 0, (size_t)nkeys * sizeof *ph);
        } else {
            for (int j = 0; j < nkeys; j++) {
                float e = ph[j] == -INFINITY ? 0.0f : expf_fast(ph[j] - mx);
                ph[j] = e;
                sum += e;
            }
            float inv = 1.0f / sum;
            for (int j = 0; j < nkeys; j++) ph[j] *= inv;
        }
        cached_mix(out + (size_t)(h0 + h) * hd, ph, V + (size_t)((h0 + h) / grp) * hd, ks, nkeys, hd);
    }
}

/* Scores kept per work item: a token's heads are split into blocks of at
 * most this many floats of scores (64 KiB of stack), at least one head. */
#define CACHED_SCORES 16384

static void attention_cached(Backend *be, float *out, const float *qkv, const KVView *kv, int n, int H, int KV,
                             int hd) {
    (void)be;
    int qkvs = (H + 2 * KV) * hd, kvs = KV * hd, grp = H / KV;
    int hb = CACHED_SCORES / (kv->max_pos1 > 0 ? kv->max_pos1 : 1);
    hb = hb < 1 ? 1 : hb > H ? H : hb;
    int nblk = (H + hb - 1) / hb;
    float scale = 1.0f / sqrtf((float)hd);
    for (int t = 0; t < n; t++) {
        size_t slot = ((size_t)kv->seq[t] * kv->max_len + kv->pos[t]) * kvs;
        memcpy(kv->k + slot, qkv + (size_t)t * qkvs + H * hd, (size_t)kvs * sizeof(float));
        memcpy(kv->v + slot, qkv + (size_t)t * qkvs + (H + KV) * hd, (size_t)kvs * sizeof(float));
    }
#pragma omp parallel for schedule(dynamic, 1)
    for (int w = 0; w < n * nblk; w++) {
        int t = w / nblk, h0 = (w % nblk) * hb, nh = H - h0 < hb ? H - h0 : hb, np = kv->pos[t] + 1;
        float p[(size_t)nh * np];
        size_t base = (size_t)kv->seq[t] * kv->max_len * kvs;
        attend_cached_heads(out + (size_t)t * H * hd, p, qkv + (size_t)t * qkvs, kv->k + base, kv->v + base, kvs, np,
                            h0, nh, grp, hd, scale);
    }
}

/* ---- SwiGLU ------------------------------------------------------------------
 * a = silu(g) * u ; dg = da * u * sig(g) * (1 + g (1 - sig(g))) ; du = da * silu(g) */

static void swiglu_forward(Backend *be, float *a, const float *gu, int n, int f) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < n; t++) {
        const float *g = gu + (size_t)t * 2 * f, *u = g + f;
        float *at = a + (size_t)t * f;
        /* Two passes: as one loop, GCC's if-converted clamp + divide runs 7x slower. */
#pragma omp simd
        for (int i = 0; i < f; i++) at[i] = expf_fast(-g[i]);
#pragma omp simd
        for (int i = 0; i < f; i++) at[i] = g[i] * u[i] / (1.0f + at[i]);
    }
}

/* dgu = ∂a/∂gu · da, assigned (backend.h) */
static void swiglu_backward(Backend *be, float *dgu, const float *da, const float *gu, int n, int f) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < n; t++) {
        const float *g = gu + (size_t)t * 2 * f, *u = g + f, *dat = da + (size_t)t * f;
        float *dg = dgu + (size_t)t * 2 * f, *du = dg + f;
#pragma omp simd
        for (int i = 0; i < f; i++) {
            float sg = 1.0f / (1.0f + expf_fast(-g[i]));
            dg[i] = dat[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
            du[i] = dat[i] * g[i] * sg;
        }
    }
}

/* ---- Embedding ------------------------------------------------------------------ */

static void embedding_forward(Backend *be, float *x, const int *ids, const float *E, int n, int c) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < n; t++) memcpy(x + (size_t)t * c, E + (size_t)ids[t] * c, (size_t)c * sizeof(float));
}

static void embedding_backward(Backend *be, float *dE, const float *dx, const int *ids, int n, int c) {
    (void)be;
    /* Serial over tokens: rows of dE repeat, and the order of the sum is fixed. */
    for (int t = 0; t < n; t++) {
        float *row = dE + (size_t)ids[t] * c;
        const float *g = dx + (size_t)t * c;
        for (int i = 0; i < c; i++) row[i] += g[i];
    }
}

static void add(Backend *be, float *y, const float *x, size_t len) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < len; i++) y[i] += x[i];
}

/* ---- Dropout (counter-based mask, see backend.h) ---------------------------------- */

static void dropout_forward(Backend *be, float *y, const float *x, size_t len, float p, uint64_t key) {
    (void)be;
    float s = 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < len; i++) y[i] = dropout_uniform(key, i) >= p ? x[i] * s : 0.0f;
}

static void dropout_backward(Backend *be, float *dx, const float *dy, size_t len, float p, uint64_t key) {
    (void)be;
    float s = 1.0f / (1.0f - p);
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < len; i++) dx[i] += dropout_uniform(key, i) >= p ? dy[i] * s : 0.0f; /* branch-free */
}

/* ---- Rows ------------------------------------------------------------------------- */

static void gather_rows(Backend *be, float *dst, const float *src, const int *rows, int m, int c) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < m; i++) memcpy(dst + (size_t)i * c, src + (size_t)rows[i] * c, (size_t)c * sizeof(float));
}

static void scatter_add_rows(Backend *be, float *dst, const float *src, const int *rows, int m, int c) {
    (void)be;
    for (int i = 0; i < m; i++) { /* serial: rows may repeat, the order of the sum is fixed */
        float *d = dst + (size_t)rows[i] * c;
        const float *s = src + (size_t)i * c;
        for (int j = 0; j < c; j++) d[j] += s[j];
    }
}

static void row_combine(Backend *be, float *out, const float *src, const int *ptr, const int *idx, const float *w,
                        int m, int c) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < m; i++) {
        float *o = out + (size_t)i * c;
        memset(o, 0, (size_t)c * sizeof(float));
        for (int k = ptr[i]; k < ptr[i + 1]; k++) {
            const float *r = src + (size_t)idx[k] * c;
            float wk = w[k];
            for (int j = 0; j < c; j++) o[j] += wk * r[j];
        }
    }
}

static void row_combine_backward(Backend *be, float *dsrc, const float *dout, const int *ptr, const int *idx,
                                 const float *w, int m, int c) {
    (void)be;
    for (int i = 0; i < m; i++) /* serial: rows of dsrc repeat, the order of the sum is fixed */
        for (int k = ptr[i]; k < ptr[i + 1]; k++) {
            float *d = dsrc + (size_t)idx[k] * c, wk = w[k];
            const float *g = dout + (size_t)i * c;
            for (int j = 0; j < c; j++) d[j] += wk * g[j];
        }
}

/* loss = log Σ e^(l − max) + max − l[y]; dlogits = dscale (softmax − onehot) */
static void cross_entropy(Backend *be, float *loss, float *dl, const float *logits, const int *tgt, int M, int V,
                          float dscale) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < M; i++) {
        const float *lg = logits + (size_t)i * V;
        float *d = dl ? dl + (size_t)i * V : NULL;
        int y = tgt[i];
        float mx = lg[0];
        for (int v = 1; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
        float ly = lg[y];
        double z = 0;
        if (d) {
            for (int v = 0; v < V; v++) d[v] = expf_fast(lg[v] - mx);
            for (int v = 0; v < V; v++) z += d[v];
            float c = (float)(dscale / z);
            for (int v = 0; v < V; v++) d[v] *= c;
            d[y] -= dscale;
        } else {
            for (int v = 0; v < V; v++) z += expf_fast(lg[v] - mx);
        }
        loss[i] = (float)(log(z) + mx - ly);
    }
}

static void row_stats(Backend *be, double *st, const float *U, const float *Cc, int B, int D) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const float *u = U + (size_t)b * D, *c = Cc + (size_t)b * D;
        double uc = 0, uu = 0, cc = 0, dd = 0;
        for (int i = 0; i < D; i++) {
            double t = (double)u[i] - c[i];
            uc += (double)u[i] * c[i];
            uu += (double)u[i] * u[i];
            cc += (double)c[i] * c[i];
            dd += t * t;
        }
        st[4 * b] = uc, st[4 * b + 1] = uu, st[4 * b + 2] = cc, st[4 * b + 3] = dd;
    }
}

static void row_axpby(Backend *be, float *y, const double *a, const float *x, const double *bc, const float *z, int B,
                      int D) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++)
        for (int i = 0; i < D; i++) {
            size_t k = (size_t)b * D + i;
            y[k] += (float)(a[b] * x[k] + bc[b] * z[k]);
        }
}

static void argmax_rows(Backend *be, int *out, const float *x, int m, int V) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < m; i++) {
        const float *r = x + (size_t)i * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (r[v] > r[best]) best = v;
        out[i] = best;
    }
}

/* ---- Optimizer -------------------------------------------------------------------- */

static double sum_squares(Backend *be, const float *x, size_t n) {
    (void)be;
    double s = 0; /* serial: a fixed order */
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

static void scale(Backend *be, float *x, size_t n, float s) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

static void adamw(Backend *be, float *p, const float *g, float *m, float *v, size_t n, double lr, double beta1,
                  double beta2, double eps, double wd, long t) {
    (void)be;
    float b1 = (float)beta1, b2 = (float)beta2;
    float bc1 = (float)(1.0 - pow(beta1, (double)t)), bc2 = (float)(1.0 - pow(beta2, (double)t));
    float step = (float)lr / bc1, decay = (float)(1.0 - lr * wd), e = (float)eps;
    float rbc2 = 1.0f / sqrtf(bc2);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] = p[i] * decay - step * m[i] / (sqrtf(v[i]) * rbc2 + e);
    }
}

/* ---- Regularisers ----------------------------------------------------------------- */

#define EP_BLOCK 16 /* columns per task: rows are read once per block */

/* cos(t_k y), sin(t_k y) for the EP_NODES nodes t_k = k·h: one cos and one
 * sin, then the rotation by h·y (angle addition; error ~k·eps in double). */
static inline void ep_trig(double y, double h, double *c, double *s) {
    double c1 = cos(h * y), s1 = sin(h * y);
    c[0] = 1.0, s[0] = 0.0;
    for (int k = 1; k < EP_NODES; k++) {
        c[k] = c[k - 1] * c1 - s[k - 1] * s1;
        s[k] = s[k - 1] * c1 + c[k - 1] * s1;
    }
}

/* Epps–Pulley statistic per column (backend.h): blocks of columns in
 * parallel, rows in order inside a block (the reference's summation order);
 * the trigonometric values by ep_trig. */
static void epps_pulley(Backend *be, double *stat, float *dY, const float *Y, int B, int S, double dscale) {
    (void)be;
    double t[EP_NODES], om[EP_NODES], phi[EP_NODES], h = EP_TMAX / (EP_NODES - 1);
    ep_quadrature(t, om, phi);
    int nblk = (S + EP_BLOCK - 1) / EP_BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        int s0 = blk * EP_BLOCK, ns = S - s0 < EP_BLOCK ? S - s0 : EP_BLOCK;
        double c[EP_BLOCK][EP_NODES] = {{0}}, sn[EP_BLOCK][EP_NODES] = {{0}}, cy[EP_NODES], sy[EP_NODES];
        for (int b = 0; b < B; b++)
            for (int j = 0; j < ns; j++) {
                ep_trig(Y[(size_t)b * S + s0 + j], h, cy, sy);
                for (int k = 0; k < EP_NODES; k++) c[j][k] += cy[k], sn[j][k] += sy[k];
            }
        for (int j = 0; j < ns; j++) {
            double e = 0;
            for (int k = 0; k < EP_NODES && B > 0; k++) {
                c[j][k] /= B, sn[j][k] /= B;
                e += om[k] * ((c[j][k] - phi[k]) * (c[j][k] - phi[k]) + sn[j][k] * sn[j][k]);
            }
            stat[s0 + j] = B * e;
        }
        for (int b = 0; dY && b < B; b++)
            for (int j = 0; j < ns; j++) {
                double g = 0;
                ep_trig(Y[(size_t)b * S + s0 + j], h, cy, sy);
                for (int k = 0; k < EP_NODES; k++) g += om[k] * t[k] * (sn[j][k] * cy[k] - (c[j][k] - phi[k]) * sy[k]);
                dY[(size_t)b * S + s0 + j] = (float)(dscale * 2.0 * g);
            }
    }
}

static Backend CPU = {
    .name = "cpu",
    .set_threads = set_threads, .alloc = cpu_alloc, .free = cpu_free, .zero = cpu_zero,
    .upload = cpu_copy, .download = cpu_copy, .copy = cpu_copy,
    .gemm = gemm, .linear_forward = linear_forward, .linear_backward = linear_backward,
    .rmsnorm_forward = rmsnorm_forward, .rmsnorm_backward = rmsnorm_backward, .rope = rope,
    .attention_saved = attention_saved, .attention_forward = attention_forward,
    .attention_backward = attention_backward, .attention_cached = attention_cached,
    .swiglu_forward = swiglu_forward, .swiglu_backward = swiglu_backward,
    .embedding_forward = embedding_forward, .embedding_backward = embedding_backward, .add = add,
    .dropout_forward = dropout_forward, .dropout_backward = dropout_backward,
    .gather_rows = gather_rows, .scatter_add_rows = scatter_add_rows, .row_combine = row_combine,
    .row_combine_backward = row_combine_backward, .cross_entropy = cross_entropy,
    .row_stats = row_stats, .row_axpby = row_axpby, .argmax_rows = argmax_rows,
    .sum_squares = sum_squares, .scale = scale, .adamw = adamw,
    .epps_pulley = epps_pulley,
};

Backend *backend_cpu(void) { return &CPU; }
