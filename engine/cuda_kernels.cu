/* The CUDA backend's kernels for the elementwise, normalisation, row, loss and
 * optimizer ops of the table (semantics: backend.h; reference: backend_ref.c).
 * Letters as in backend.h. Reductions over a row run in one block with the
 * fixed-order block reductions of cuda_internal.h; sums the reference takes
 * in double (RMS, cross-entropy normaliser, row statistics, sum of squares)
 * are double here too. No atomics: results are deterministic. */
#include "cuda_internal.h"

#include <math.h>

enum { THREADS = 256 };

/* ---- RMSNorm ------------------------------------------------------------------------------------------
 * y = x·rstd·w, rstd = 1/sqrt(mean(x²) + eps) ; dx += rstd·(dy·w − x·rstd²·mean(dy·w·x)) ; dw += Σ_t dy·x·rstd */

/* One block per token t. */
__global__ void k_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w, int c, float eps) {
    __shared__ double red[32];
    size_t t = blockIdx.x;
    const float *xt = x + t * c;
    double ss = 0;
    for (int i = threadIdx.x; i < c; i += blockDim.x) ss += (double)xt[i] * xt[i];
    ss = block_sum(ss, red);
    float r = (float)(1.0 / sqrt(ss / c + eps));
    if (threadIdx.x == 0) rstd[t] = r;
    for (int i = threadIdx.x; i < c; i += blockDim.x) y[t * c + i] = xt[i] * r * w[i];
}

/* One block per token t: dx. */
__global__ void k_rmsnorm_backward_dx(float *dx, const float *dy, const float *x, const float *w, const float *rstd,
                                      int c) {
    __shared__ double red[32];
    size_t t = blockIdx.x;
    const float *xt = x + t * c, *dyt = dy + t * c;
    double dot = 0, r = rstd[t];
    for (int i = threadIdx.x; i < c; i += blockDim.x) dot += (double)dyt[i] * w[i] * xt[i];
    dot = block_sum(dot, red);
    double m = dot / c * r * r;
    for (int i = threadIdx.x; i < c; i += blockDim.x) dx[t * c + i] += (float)(r * ((double)dyt[i] * w[i] - xt[i] * m));
}

enum { RMS_CHUNK = 64 }; /* tokens per partial sum of dw */

/* Block (chunk, column block): part[chunk, i] = Σ_{t in chunk, in order} dy·x·rstd. */
__global__ void k_rmsnorm_dw_part(double *part, const float *dy, const float *x, const float *rstd, int n, int c) {
    int i = blockIdx.y * blockDim.x + threadIdx.x, t0 = blockIdx.x * RMS_CHUNK;
    if (i >= c) return;
    int t1 = t0 + RMS_CHUNK < n ? t0 + RMS_CHUNK : n;
    double s = 0;
    for (int t = t0; t < t1; t++) s += (double)dy[(size_t)t * c + i] * x[(size_t)t * c + i] * rstd[t];
    part[(size_t)blockIdx.x * c + i] = s;
}

/* dw[i] += Σ_chunks part[chunk, i], chunks in order. */
__global__ void k_rmsnorm_dw_sum(float *dw, const double *part, int nchunks, int c) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= c) return;
    double s = 0;
    for (int k = 0; k < nchunks; k++) s += part[(size_t)k * c + i];
    dw[i] += (float)s;
}

extern "C" void cuda_rmsnorm_forward(Backend *be, float *y, float *rstd, const float *x, const float *w, int n, int c,
                                     float eps) {
    if (n <= 0 || c <= 0) return;
    CU_LAUNCH(k_rmsnorm_forward, n, THREADS, 0, cuda_stream(be), y, rstd, x, w, c, eps);
    cuda_check_launch(be, "rmsnorm_forward");
}

extern "C" void cuda_rmsnorm_backward(Backend *be, float *dx, float *dw, const float *dy, const float *x, const float *w,
                                      const float *rstd, int n, int c) {
    if (n <= 0 || c <= 0) return;
    CU_LAUNCH(k_rmsnorm_backward_dx, n, THREADS, 0, cuda_stream(be), dx, dy, x, w, rstd, c);
    cuda_check_launch(be, "rmsnorm_backward");
    if (!dw) return;
    int nchunks = (n + RMS_CHUNK - 1) / RMS_CHUNK, cblocks = (c + THREADS - 1) / THREADS;
    double *part = (double *)cuda_scratch(be, (size_t)nchunks * c * sizeof(double));
    if (!part) return;
    CU_LAUNCH(k_rmsnorm_dw_part, dim3(nchunks, cblocks), THREADS, 0, cuda_stream(be), part, dy, x, rstd, n, c);
    CU_LAUNCH(k_rmsnorm_dw_sum, cblocks, THREADS, 0, cuda_stream(be), dw, part, nchunks, c);
    cuda_check_launch(be, "rmsnorm_backward (dw)");
}

/* ---- RoPE: rotate-half on nheads heads from column col0 ---------------------------------------------- */

__global__ void k_rope(float *x, const int *pos, const float *cs, const float *sn, int n, int stride, int col0,
                       int nheads, int hd, float sgn) {
    int half = hd / 2;
    GRID_STRIDE(e, (size_t)n * nheads * half) {
        size_t t = e / ((size_t)nheads * half);
        int r = (int)(e % ((size_t)nheads * half)), h = r / half, i = r % half;
        size_t tab = (size_t)pos[t] * half + i;
        float c = cs[tab], s = sgn * sn[tab];
        float *v = x + t * stride + col0 + (size_t)h * hd;
        float a = v[i], b = v[i + half];
        v[i] = a * c - b * s;
        v[i + half] = b * c + a * s;
    }
}

extern "C" void cuda_rope(Backend *be, float *x, const int *pos, const float *cs, const float *sn, int n, int stride,
                          int col0, int nheads, int hd, int inverse) {
    size_t total = (size_t)n * nheads * (hd / 2);
    if (!total) return;
    CU_LAUNCH(k_rope, cuda_blocks(total, THREADS), THREADS, 0, cuda_stream(be), x, pos, cs, sn, n, stride, col0, nheads,
              hd, inverse ? -1.0f : 1.0f);
    cuda_check_launch(be, "rope");
}

/* ---- SwiGLU: a = silu(g)·u, gu = [gate | up] ----------------------------------------------------------- */

__global__ void k_swiglu_forward(float *a, const float *gu, int n, int f) {
    GRID_STRIDE(e, (size_t)n * f) {
        size_t t = e / f, i = e % f;
        float g = gu[t * 2 * f + i], u = gu[t * 2 * f + f + i];
        a[e] = g * u / (1.0f + expf(-g));
    }
}

/* dg = da·u·σ(g)·(1 + g·(1 − σ(g))) ; du = da·g·σ(g) (assigned, backend.h) */
__global__ void k_swiglu_backward(float *dgu, const float *da, const float *gu, int n, int f) {
    GRID_STRIDE(e, (size_t)n * f) {
        size_t t = e / f, i = e % f, gi = t * 2 * f + i;
        float g = gu[gi], u = gu[gi + f], d = da[e], sg = 1.0f / (1.0f + expf(-g));
        dgu[gi] = d * u * sg * (1.0f + g * (1.0f - sg));
        dgu[gi + f] = d * g * sg;
    }
}

extern "C" void cuda_swiglu_forward(Backend *be, float *a, const float *gu, int n, int f) {
    size_t total = (size_t)n * f;
    if (!total) return;
    CU_LAUNCH(k_swiglu_forward, cuda_blocks(total, THREADS), THREADS, 0, cuda_stream(be), a, gu, n, f);
    cuda_check_launch(be, "swiglu_forward");
}

extern "C" void cuda_swiglu_backward(Backend *be, float *dgu, const float *da, const float *gu, int n, int f) {
    size_t total = (size_t)n * f;
    if (!total) return;
    CU_LAUNCH(k_swiglu_backward, cuda_blocks(total, THREADS), THREADS, 0, cuda_stream(be), dgu, da, gu, n, f);
    cuda_check_launch(be, "swiglu_backward");
}

/* ---- rows: gather, combine ------------------------------------------------------------------------------ */

/* dst (m,c) = src[rows] */
__global__ void k_gather_rows(float *dst, const float *src, const int *rows, int m, int c) {
    GRID_STRIDE(e, (size_t)m * c) {
        size_t r = e / c, j = e % c;
        dst[e] = src[(size_t)rows[r] * c + j];
    }
}

extern "C" void cuda_gather_rows(Backend *be, float *dst, const float *src, const int *rows, int m, int c) {
    size_t total = (size_t)m * c;
    if (!total) return;
    CU_LAUNCH(k_gather_rows, cuda_blocks(total, THREADS), THREADS, 0, cuda_stream(be), dst, src, rows, m, c);
    cuda_check_launch(be, "gather_rows");
}

extern "C" void cuda_embedding_forward(Backend *be, float *x, const int *ids, const float *E, int n, int c) {
    cuda_gather_rows(be, x, E, ids, n, c);
}

/* One block per output row i: out_i = Σ_k w[k]·src[idx[k]], k in order. */
__global__ void k_row_combine(float *out, const float *src, const int *ptr, const int *idx, const float *w, int c) {
    size_t i = blockIdx.x;
    int k0 = ptr[i], k1 = ptr[i + 1];
    for (int j = threadIdx.x; j < c; j += blockDim.x) {
        float s = 0.0f;
        for (int k = k0; k < k1; k++) s += w[k] * src[(size_t)idx[k] * c + j];
        out[i * c + j] = s;
    }
}

extern "C" void cuda_row_combine(Backend *be, float *out, const float *src, const int *ptr, const int *idx,
                                 const float *w, int m, int c) {
    if (m <= 0 || c <= 0) return;
    CU_LAUNCH(k_row_combine, m, THREADS, 0, cuda_stream(be), out, src, ptr, idx, w, c);
    cuda_check_launch(be, "row_combine");
}

/* ---- elementwise: add, dropout, scale, C = beta·C ------------------------------------------------------------ */

__global__ void k_add(float *y, const float *x, size_t len) {
    GRID_STRIDE(i, len) y[i] += x[i];
}

extern "C" void cuda_add(Backend *be, float *y, const float *x, size_t len) {
    if (!len) return;
    CU_LAUNCH(k_add, cuda_blocks(len, THREADS), THREADS, 0, cuda_stream(be), y, x, len);
    cuda_check_launch(be, "add");
}

/* y = mask(x) (accumulate = 0) or y += mask(x) (accumulate = 1); kept iff u(key, i) >= p, scaled by s = 1/(1−p). */
__global__ void k_dropout(float *y, const float *x, size_t len, float p, float s, uint64_t key, int accumulate) {
    GRID_STRIDE(i, len) {
        float v = dropout_uniform(key, i) >= p ? x[i] * s : 0.0f;
        y[i] = accumulate ? y[i] + v : v;
    }
}

static void dropout(Backend *be, float *y, const float *x, size_t len, float p, uint64_t key, int accumulate) {
    if (!len) return;
    float s = 1.0f / (1.0f - p);
    CU_LAUNCH(k_dropout, cuda_blocks(len, THREADS), THREADS, 0, cuda_stream(be), y, x, len, p, s, key, accumulate);
    cuda_check_launch(be, accumulate ? "dropout_backward" : "dropout_forward");
}

extern "C" void cuda_dropout_forward(Backend *be, float *y, const float *x, size_t len, float p, uint64_t key) {
    dropout(be, y, x, len, p, key, 0);
}

extern "C" void cuda_dropout_backward(Backend *be, float *dx, const float *dy, size_t len, float p, uint64_t key) {
    dropout(be, dx, dy, len, p, key, 1);
}

__global__ void k_scale(float *x, size_t n, float s) {
    GRID_STRIDE(i, n) x[i] *= s;
}

extern "C" void cuda_scale(Backend *be, float *x, size_t n, float s) {
    if (!n) return;
    CU_LAUNCH(k_scale, cuda_blocks(n, THREADS), THREADS, 0, cuda_stream(be), x, n, s);
    cuda_check_launch(be, "scale");
}

/* C (M,N) with row stride ldc: beta = 0 → 0 (C not read), else C *= beta. */
__global__ void k_scale_matrix(float *C, int M, int N, int ldc, float beta) {
    GRID_STRIDE(e, (size_t)M * N) {
        float *c = C + e / N * ldc + e % N;
        *c = beta == 0.0f ? 0.0f : beta * *c;
    }
}

extern "C" void cuda_scale_matrix(Backend *be, float *C, int M, int N, int ldc, float beta) {
    size_t total = (size_t)M * N;
    if (!total || beta == 1.0f) return;
    CU_LAUNCH(k_scale_matrix, cuda_blocks(total, THREADS), THREADS, 0, cuda_stream(be), C, M, N, ldc, beta);
    cuda_check_launch(be, "gemm (K = 0)");
}

/* ---- cross-entropy: one block per row ---------------------------------------------------------------------
 * loss = log Σ_v e^{l_v − max} + max − l_tgt, the sum in double ; dl = dscale·(softmax − onehot(tgt)).
 * Every read of the row (the target's logit included) comes before the first
 * write, with barriers in between: dl may alias the logits. A target outside
 * [0, V) gives a NaN loss and no onehot term (never an out-of-bounds read). */
__global__ void k_cross_entropy(float *loss, float *dl, const float *logits, const int *tgt, int V, float dscale) {
    __shared__ double red[32];
    __shared__ float fred[32];
    __shared__ float s_ly;
    size_t r = blockIdx.x;
    const float *l = logits + r * V;
    int y = tgt[r];
    if (threadIdx.x == 0) s_ly = y >= 0 && y < V ? l[y] : NAN;
    float mx = -INFINITY;
    for (int v = threadIdx.x; v < V; v += blockDim.x) mx = fmaxf(mx, l[v]);
    mx = block_max(mx, fred);
    double z = 0;
    for (int v = threadIdx.x; v < V; v += blockDim.x) z += expf(l[v] - mx);
    z = block_sum(z, red); /* its barriers: every read above is done, and s_ly is visible */
    if (threadIdx.x == 0) loss[r] = (float)(log(z) + mx - s_ly);
    if (!dl) return;
    float *d = dl + r * V, c = (float)(dscale / z);
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float e = expf(l[v] - mx) * c;
        d[v] = v == y ? e - dscale : e;
    }
}

extern "C" void cuda_cross_entropy(Backend *be, float *loss, float *dlogits, const float *logits, const int *tgt, int M,
                                   int V, float dscale) {
    if (M <= 0 || V <= 0) return;
    CU_LAUNCH(k_cross_entropy, M, THREADS, 0, cuda_stream(be), loss, dlogits, logits, tgt, V, dscale);
    cuda_check_launch(be, "cross_entropy");
}

/* ---- row statistics, row_axpby ------------------------------------------------------------------------------ */

/* One block per row b: [u·c, u·u, c·c, |u − c|²] in double. */
__global__ void k_row_stats(double *st, const float *U, const float *Cc, int D) {
    __shared__ double red[32];
    size_t b = blockIdx.x;
    const float *u = U + b * D, *c = Cc + b * D;
    double uc = 0, uu = 0, cc = 0, dd = 0;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        double x = u[i], y = c[i];
        uc += x * y, uu += x * x, cc += y * y, dd += (x - y) * (x - y);
    }
    uc = block_sum(uc, red);
    uu = block_sum(uu, red);
    cc = block_sum(cc, red);
    dd = block_sum(dd, red);
    if (threadIdx.x == 0) st[4 * b] = uc, st[4 * b + 1] = uu, st[4 * b + 2] = cc, st[4 * b + 3] = dd;
}

extern "C" void cuda_row_stats(Backend *be, double *stats, const float *U, const float *Cc, int B, int D) {
    if (B <= 0) return;
    CU_LAUNCH(k_row_stats, B, THREADS, 0, cuda_stream(be), stats, U, Cc, D);
    cuda_check_launch(be, "row_stats");
}

/* y_b += a_b·x_b + b_b·z_b, the increment in double */
__global__ void k_row_axpby(float *y, const double *a, const float *x, const double *bc, const float *z, int B, int D) {
    GRID_STRIDE(e, (size_t)B * D) {
        size_t b = e / D;
        y[e] += (float)(a[b] * x[e] + bc[b] * z[e]);
    }
}

extern "C" void cuda_row_axpby(Backend *be, float *y, const double *a, const float *x, const double *b, const float *z,
                               int B, int D) {
    size_t total = (size_t)B * D;
    if (!total) return;
    CU_LAUNCH(k_row_axpby, cuda_blocks(total, THREADS), THREADS, 0, cuda_stream(be), y, a, x, b, z, B, D);
    cuda_check_launch(be, "row_axpby");
}

/* ---- argmax: one block per row ----------------------------------------------------------------------------------
 * The sequential rule (best = 0; best = v when x[v] > x[best]) picks the first
 * index of the largest non-NaN value, or 0 when x[0] is NaN. Candidates
 * (value, index) combine by larger value, then smaller index; -1 = none. */

__device__ __forceinline__ void argmax_combine(float *bv, int *bi, float v, int i) {
    if (i < 0) return;
    if (*bi < 0 || v > *bv || (v == *bv && i < *bi)) *bv = v, *bi = i;
}

__global__ void k_argmax_rows(int *out, const float *X, int V) {
    __shared__ float sv[32];
    __shared__ int si[32];
    size_t r = blockIdx.x;
    const float *x = X + r * V;
    if (isnan(x[0])) { /* uniform over the block: no barrier is skipped by some threads only */
        if (threadIdx.x == 0) out[r] = 0;
        return;
    }
    float bv = 0.0f;
    int bi = -1;
    for (int v = threadIdx.x; v < V; v += blockDim.x)
        if (!isnan(x[v]) && (bi < 0 || x[v] > bv)) bv = x[v], bi = v;
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        argmax_combine(&bv, &bi, ov, oi);
    }
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    if (lane == 0) sv[w] = bv, si[w] = bi;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int k = 1; k < (int)(blockDim.x >> 5); k++) argmax_combine(&bv, &bi, sv[k], si[k]);
        out[r] = bi;
    }
}

extern "C" void cuda_argmax_rows(Backend *be, int *out, const float *x, int m, int V) {
    if (m <= 0 || V <= 0) return;
    CU_LAUNCH(k_argmax_rows, m, THREADS, 0, cuda_stream(be), out, x, V);
    cuda_check_launch(be, "argmax_rows");
}

/* ---- optimizer: sum of squares, AdamW ------------------------------------------------------------------------------
 * Σ x² in double, in two stages whose shapes depend on n only: block b sums
 * the elements b·256 + k·(nb·256) + thread; one block sums the nb partials. */

__global__ void k_sumsq_part(double *part, const float *x, size_t n) {
    __shared__ double red[32];
    double s = 0;
    GRID_STRIDE(i, n) s += (double)x[i] * x[i];
    s = block_sum(s, red);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

__global__ void k_sumsq_total(double *out, const double *part, int nb) {
    __shared__ double red[32];
    double s = 0;
    for (int i = threadIdx.x; i < nb; i += blockDim.x) s += part[i];
    s = block_sum(s, red);
    if (threadIdx.x == 0) *out = s;
}

extern "C" double cuda_sum_squares(Backend *be, const float *x, size_t n) {
    if (!n) return 0.0;
    size_t nb = (n + 8 * THREADS - 1) / (8 * THREADS);
    if (nb > 1024) nb = 1024;
    double *part = (double *)cuda_scratch(be, (nb + 1) * sizeof(double)), total = NAN;
    if (!part) return NAN;
    CU_LAUNCH(k_sumsq_part, (unsigned)nb, THREADS, 0, cuda_stream(be), part, x, n);
    CU_LAUNCH(k_sumsq_total, 1, THREADS, 0, cuda_stream(be), part + nb, part, (int)nb);
    if (cuda_check_launch(be, "sum_squares")) return NAN;
    be->download(be, &total, part + nb, sizeof total);
    return total;
}

/* m = β1·m + (1−β1)·g ; v = β2·v + (1−β2)·g² ; p = p·decay − step·m / (sqrt(v)·rbc2 + eps) (the CPU backend's floats) */
__global__ void k_adamw(float *p, const float *g, float *m, float *v, size_t n, float b1, float b2, float step,
                        float decay, float eps, float rbc2) {
    GRID_STRIDE(i, n) {
        float gi = g[i], mi = b1 * m[i] + (1.0f - b1) * gi, vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step * mi / (sqrtf(vi) * rbc2 + eps);
    }
}

extern "C" void cuda_adamw(Backend *be, float *p, const float *g, float *m, float *v, size_t n, double lr, double beta1,
                           double beta2, double eps, double wd, long t) {
    if (!n) return;
    float bc1 = (float)(1.0 - pow(beta1, (double)t)), bc2 = (float)(1.0 - pow(beta2, (double)t));
    float step = (float)lr / bc1, decay = (float)(1.0 - lr * wd), rbc2 = 1.0f / sqrtf(bc2);
    CU_LAUNCH(k_adamw, cuda_blocks(n, THREADS), THREADS, 0, cuda_stream(be), p, g, m, v, n, (float)beta1, (float)beta2,
              step, decay, (float)eps, rbc2);
    cuda_check_launch(be, "adamw");
}
