/* The reference backend: plain single-threaded loops written for obvious
 * correctness, not speed (no BLAS, no OpenMP). Every other backend is
 * compared with it op by op (tests/test_backend.c).
 *
 * Dot products, softmax normalisers and other reductions run in double; the
 * results are rounded to float once. "Device" memory is host memory. */
#include "backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- memory ----------------------------------------------------------------- */

static void ref_set_threads(Backend *be, int threads) { (void)be; (void)threads; }

/* 64-byte aligned, zeroed; the size is rounded up to a multiple of 64. */
static void *ref_alloc(Backend *be, size_t bytes) {
    (void)be;
    size_t sz = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, sz ? sz : 64);
    if (p) memset(p, 0, sz ? sz : 64);
    return p;
}

static void ref_free(Backend *be, void *p) { (void)be; free(p); }

static void ref_zero(Backend *be, void *p, size_t bytes) {
    (void)be;
    if (bytes) memset(p, 0, bytes);
}

static void ref_copy(Backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memcpy(dst, src, bytes);
}

static void ref_upload(Backend *be, void *dst, const void *src, size_t bytes) { ref_copy(be, dst, src, bytes); }
static void ref_download(Backend *be, void *dst, const void *src, size_t bytes) { ref_copy(be, dst, src, bytes); }

/* ---- dense algebra ------------------------------------------------------------ */

/* Σ_k a[k·sa] b[k·sb] in double */
static double dot_strided(const float *a, size_t sa, const float *b, size_t sb, int K) {
    double s = 0;
    for (int k = 0; k < K; k++) s += (double)a[k * sa] * b[k * sb];
    return s;
}

/* v as an operand of a product at precision dtype (backend.h DTYPE_*) */
static float operand(float v, int dtype) { return dtype == DTYPE_BF16 ? bf16_round(v) : v; }

/* Σ_k a[k·sa] b[k·sb] in double, each operand at precision dtype */
static double dot_dtype(const float *a, size_t sa, const float *b, size_t sb, int K, int dtype) {
    double s = 0;
    for (int k = 0; k < K; k++) s += (double)operand(a[k * sa], dtype) * operand(b[k * sb], dtype);
    return s;
}

/* C = alpha·op(A)·op(B) + beta·C ; beta = 0 does not read C (BLAS convention) */
static void ref_gemm(Backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *Bm, int ldb, float beta, float *Cm, int ldc) {
    (void)be;
    size_t ai = ta ? 1 : (size_t)lda, ak = ta ? (size_t)lda : 1; /* op(A)[i][k] = A[i·ai + k·ak] */
    size_t bj = tb ? (size_t)ldb : 1, bk = tb ? 1 : (size_t)ldb; /* op(B)[k][j] = B[k·bk + j·bj] */
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = alpha * dot_strided(A + i * ai, ak, Bm + j * bj, bk, K);
            float *c = Cm + (size_t)i * ldc + j;
            *c = beta == 0.0f ? (float)s : (float)(s + (double)beta * *c);
        }
}

/* y[t,o] = Σ_i x[t,i] w[o,i], operands at precision dtype */
static void ref_linear_forward(Backend *be, float *y, const float *x, const float *w, int n, int in, int out,
                               int dtype) {
    (void)be;
    for (int t = 0; t < n; t++)
        for (int o = 0; o < out; o++)
            y[(size_t)t * out + o] = (float)dot_dtype(x + (size_t)t * in, 1, w + (size_t)o * in, 1, in, dtype);
}

/* dx[t,i] = (DX_SET) or += (DX_ADD) Σ_o dy[t,o] w[o,i] ; dw[o,i] += Σ_t dy[t,o] x[t,i] */
static void ref_linear_backward(Backend *be, float *dx, float *dw, const float *dy, const float *x, const float *w,
                                int n, int in, int out, int dtype, int dx_acc) {
    (void)be;
    if (dx)
        for (int t = 0; t < n; t++)
            for (int i = 0; i < in; i++) {
                float g = (float)dot_dtype(dy + (size_t)t * out, 1, w + i, (size_t)in, out, dtype);
                float *d = dx + (size_t)t * in + i;
                *d = dx_acc == DX_SET ? g : *d + g;
            }
    if (dw)
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++)
                dw[(size_t)o * in + i] += (float)dot_dtype(dy + o, (size_t)out, x + i, (size_t)in, n, dtype);
}

/* ---- RMSNorm ------------------------------------------------------------------ */

/* rstd = 1/sqrt(mean(x²) + eps) ; y = x·rstd·w */
static void ref_rmsnorm_forward(Backend *be, float *y, float *rstd, const float *x, const float *w, int n, int c,
                                float eps) {
    (void)be;
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * c;
        double r = 1.0 / sqrt(dot_strided(xt, 1, xt, 1, c) / c + eps);
        rstd[t] = (float)r;
        for (int i = 0; i < c; i++) y[(size_t)t * c + i] = (float)(xt[i] * r * w[i]);
    }
}

/* dx += rstd·(dy·w − x·rstd²·mean(dy·w·x)) ; dw += Σ_t dy·x·rstd */
static void ref_rmsnorm_backward(Backend *be, float *dx, float *dw, const float *dy, const float *x, const float *w,
                                 const float *rstd, int n, int c) {
    (void)be;
    for (int t = 0; t < n; t++) {
        const float *xt = x + (size_t)t * c, *dyt = dy + (size_t)t * c;
        double r = rstd[t], m = 0;
        for (int i = 0; i < c; i++) m += (double)dyt[i] * w[i] * xt[i];
        m = m / c * r * r;
        for (int i = 0; i < c; i++) dx[(size_t)t * c + i] += (float)(r * ((double)dyt[i] * w[i] - xt[i] * m));
        if (dw)
            for (int i = 0; i < c; i++) dw[i] += (float)((double)dyt[i] * xt[i] * r);
    }
}

/* ---- RoPE ---------------------------------------------------------------------- */

/* rotate-half: x'[i] = x[i]·cos − x[i+h]·sin ; x'[i+h] = x[i+h]·cos + x[i]·sin (sin → −sin when inverse) */
static void ref_rope(Backend *be, float *x, const int *pos, const float *cs, const float *sn, int n, int stride,
                     int col0, int nheads, int hd, int inverse) {
    (void)be;
    int half = hd / 2;
    for (int t = 0; t < n; t++) {
        const float *c = cs + (size_t)pos[t] * half, *s = sn + (size_t)pos[t] * half;
        for (int h = 0; h < nheads; h++) {
            float *v = x + (size_t)t * stride + col0 + (size_t)h * hd;
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half], si = inverse ? -s[i] : s[i];
                v[i] = a * c[i] - b * si;
                v[i + half] = b * c[i] + a * si;
            }
        }
    }
}

/* ---- attention ------------------------------------------------------------------
 * Saved state: the (H, T, T) probabilities of every row, rows one after another
 * (0 for hidden keys and for j > i). */

/* Σ_rows H·T² */
static size_t ref_attention_saved(Backend *be, const AttnLayout *L, int H, int KV, int hd) {
    (void)be; (void)KV; (void)hd;
    size_t s = 0;
    for (int r = 0; r < L->nrows; r++) {
        size_t T = (size_t)(L->row_start_host[r + 1] - L->row_start_host[r]);
        s += (size_t)H * T * T;
    }
    return s;
}

/* token i sees token j iff j <= i and vis[seg[i]·nseg + seg[j]] (same row by construction) */
static int visible(const AttnLayout *L, int i, int j) { return j <= i && L->vis[L->seg[i] * L->nseg + L->seg[j]]; }

/* p[j] = softmax_j(scale·q·k_j) over the visible keys j of query i (0 elsewhere);
 * keys are tokens r0.. of the row, rows of K with stride ks. Returns 0 when none is visible. */
static int softmax_visible(double *p, const float *q, const float *K, size_t ks, int r0, int i, int T,
                           const AttnLayout *L, int hd) {
    double mx = -INFINITY, z = 0, scale = 1.0 / sqrt((double)hd);
    for (int j = 0; j < T; j++) {
        p[j] = visible(L, r0 + i, r0 + j) ? scale * dot_strided(q, 1, K + j * ks, 1, hd) : -INFINITY;
        if (p[j] > mx) mx = p[j];
    }
    if (mx == -INFINITY) {
        for (int j = 0; j < T; j++) p[j] = 0;
        return 0;
    }
    for (int j = 0; j < T; j++) {
        p[j] = p[j] == -INFINITY ? 0 : exp(p[j] - mx);
        z += p[j];
    }
    for (int j = 0; j < T; j++) p[j] /= z;
    return 1;
}

/* out[d] = Σ_j p[j]·v_j[d] (rows of V with stride vs) */
static void mix_values(float *out, const double *p, const float *V, size_t vs, int T, int hd) {
    for (int d = 0; d < hd; d++) {
        double s = 0;
        for (int j = 0; j < T; j++) s += p[j] * V[j * vs + d];
        out[d] = (float)s;
    }
}

/* One row of length T at token r0, head h: P (T,T) and out. */
static void attend_row_head(float *out, float *P, double *p, const float *qkv, const AttnLayout *L, int r0, int T,
                            int h, int H, int KV, int hd) {
    size_t qs = (size_t)(H + 2 * KV) * hd, os = (size_t)H * hd;
    int g = h / (H / KV);
    const float *K = qkv + r0 * qs + (size_t)(H + g) * hd, *V = K + (size_t)KV * hd;
    for (int i = 0; i < T; i++) {
        softmax_visible(p, qkv + (r0 + i) * qs + (size_t)h * hd, K, qs, r0, i, T, L, hd);
        for (int j = 0; j < T; j++) P[(size_t)i * T + j] = (float)p[j];
        mix_values(out + (r0 + i) * os + (size_t)h * hd, p, V, qs, T, hd);
    }
}

/* out_i = Σ_j softmax_j(q_i·k_j/√hd) v_j over visible j ; saved = probabilities */
static int ref_attention_forward(Backend *be, float *out, float *saved, const float *qkv, const AttnLayout *L, int H,
                                 int KV, int hd) {
    (void)be;
    size_t off = 0;
    for (int r = 0; r < L->nrows; r++) {
        int r0 = L->row_start_host[r], T = L->row_start_host[r + 1] - r0;
        double *p = malloc((size_t)(T ? T : 1) * sizeof *p);
        if (!p) return -1;
        for (int h = 0; h < H; h++, off += (size_t)T * T)
            attend_row_head(out, saved + off, p, qkv, L, r0, T, h, H, KV, hd);
        free(p);
    }
    return 0;
}

/* Backward of one (row, head), given P (T,T):
 * dP_ij = dO_i·v_j ; dS_ij = P_ij (dP_ij − Σ_k P_ik dP_ik) / √hd ;
 * dq_i += Σ_j dS_ij k_j ; dk_j += Σ_i dS_ij q_i ; dv_j += Σ_i P_ij dO_i  (dk, dv in double) */
static void attend_row_head_backward(float *dqkv, double *dk, double *dv, double *dS, const float *dout,
                                     const float *P, const float *qkv, int r0, int T, int h, int H, int KV, int hd) {
    size_t qs = (size_t)(H + 2 * KV) * hd, os = (size_t)H * hd;
    int g = h / (H / KV);
    const float *K = qkv + r0 * qs + (size_t)(H + g) * hd, *V = K + (size_t)KV * hd;
    double scale = 1.0 / sqrt((double)hd);
    for (int i = 0; i < T; i++) {
        const float *dO = dout + (r0 + i) * os + (size_t)h * hd, *q = qkv + (r0 + i) * qs + (size_t)h * hd;
        const float *Pi = P + (size_t)i * T;
        double s = 0;
        for (int j = 0; j < T; j++) s += Pi[j] * (dS[j] = dot_strided(dO, 1, V + j * qs, 1, hd));
        for (int j = 0; j < T; j++) dS[j] = Pi[j] * (dS[j] - s) * scale;
        for (int d = 0; d < hd; d++) {
            double dq = 0;
            for (int j = 0; j < T; j++) dq += dS[j] * K[j * qs + d];
            dqkv[(r0 + i) * qs + (size_t)h * hd + d] += (float)dq;
        }
        for (int j = 0; j < T; j++)
            for (int d = 0; d < hd; d++) {
                dk[(size_t)j * hd + d] += dS[j] * q[d];
                dv[(size_t)j * hd + d] += Pi[j] * dO[d];
            }
    }
}

/* dqkv[k/v of group g] += the double accumulators dk, dv (T, hd) */
static void add_kv_grads(float *dqkv, const double *dk, const double *dv, int r0, int T, int g, int H, int KV, int hd) {
    size_t qs = (size_t)(H + 2 * KV) * hd;
    for (int j = 0; j < T; j++)
        for (int d = 0; d < hd; d++) {
            dqkv[(r0 + j) * qs + (size_t)(H + g) * hd + d] += (float)dk[(size_t)j * hd + d];
            dqkv[(r0 + j) * qs + (size_t)(H + KV + g) * hd + d] += (float)dv[(size_t)j * hd + d];
        }
}

/* One row: every kv group, every query head of the group. */
static int attention_backward_row(float *dqkv, const float *dout, const float *P, const float *qkv, int r0, int T,
                                  int H, int KV, int hd) {
    size_t m = (size_t)(T ? T : 1) * hd;
    double *dk = malloc(m * sizeof *dk), *dv = malloc(m * sizeof *dv), *dS = malloc(m * sizeof *dS);
    int grp = H / KV, rc = dk && dv && dS ? 0 : -1;
    for (int g = 0; g < KV && !rc; g++) {
        memset(dk, 0, m * sizeof *dk);
        memset(dv, 0, m * sizeof *dv);
        for (int h = g * grp; h < (g + 1) * grp; h++)
            attend_row_head_backward(dqkv, dk, dv, dS, dout, P + (size_t)h * T * T, qkv, r0, T, h, H, KV, hd);
        add_kv_grads(dqkv, dk, dv, r0, T, g, H, KV, hd);
    }
    free(dk); free(dv); free(dS);
    return rc;
}

static int ref_attention_backward(Backend *be, float *dqkv, const float *dout, const float *out, const float *saved,
                                  const float *qkv, const AttnLayout *L, int H, int KV, int hd) {
    (void)be; (void)out;
    size_t off = 0;
    for (int r = 0; r < L->nrows; r++) {
        int r0 = L->row_start_host[r], T = L->row_start_host[r + 1] - r0;
        if (attention_backward_row(dqkv, dout, saved + off, qkv, r0, T, H, KV, hd)) return -1;
        off += (size_t)H * T * T;
    }
    return 0;
}

/* cache[seq, pos] = (k, v) of each token */
static void kv_write(const float *qkv, const KVView *kv, int n, int H, int KV, int hd) {
    size_t qs = (size_t)(H + 2 * KV) * hd, kvs = (size_t)KV * hd;
    for (int t = 0; t < n; t++) {
        size_t slot = ((size_t)kv->seq[t] * kv->max_len + kv->pos[t]) * kvs;
        memcpy(kv->k + slot, qkv + t * qs + (size_t)H * hd, kvs * sizeof(float));
        memcpy(kv->v + slot, qkv + t * qs + (size_t)(H + KV) * hd, kvs * sizeof(float));
    }
}

/* out_t = Σ_{j<=pos} softmax_j(q_t·k_j/√hd) v_j over the cached slots of the token's sequence */
static void ref_attention_cached(Backend *be, float *out, const float *qkv, const KVView *kv, int n, int H, int KV,
                                 int hd) {
    (void)be;
    size_t qs = (size_t)(H + 2 * KV) * hd, kvs = (size_t)KV * hd;
    int np_max = 1;
    kv_write(qkv, kv, n, H, KV, hd);
    for (int t = 0; t < n; t++) np_max = kv->pos[t] + 1 > np_max ? kv->pos[t] + 1 : np_max;
    double *p = malloc((size_t)np_max * sizeof *p); /* not max_pos1: the reference checks nothing it need not trust */
    if (!p) return; /* the interface has no error path here */
    for (int t = 0; t < n; t++)
        for (int h = 0; h < H; h++) {
            int g = h / (H / KV), np = kv->pos[t] + 1;
            size_t base = (size_t)kv->seq[t] * kv->max_len * kvs + (size_t)g * hd;
            const float *q = qkv + t * qs + (size_t)h * hd;
            double mx = -INFINITY, z = 0;
            for (int j = 0; j < np; j++) {
                p[j] = dot_strided(q, 1, kv->k + base + j * kvs, 1, hd) / sqrt((double)hd);
                if (p[j] > mx) mx = p[j];
            }
            for (int j = 0; j < np; j++) {
                p[j] = exp(p[j] - mx);
                z += p[j];
            }
            for (int j = 0; j < np; j++) p[j] /= z;
            mix_values(out + t * (size_t)H * hd + (size_t)h * hd, p, kv->v + base, kvs, np, hd);
        }
    free(p);
}

/* ---- SwiGLU ---------------------------------------------------------------------- */

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* a = silu(g)·u = g·σ(g)·u */
static void ref_swiglu_forward(Backend *be, float *a, const float *gu, int n, int f) {
    (void)be;
    for (int t = 0; t < n; t++) {
        const float *g = gu + (size_t)t * 2 * f, *u = g + f;
        for (int i = 0; i < f; i++) a[(size_t)t * f + i] = (float)(g[i] * sigmoid(g[i]) * u[i]);
    }
}

/* dg = da·u·σ(g)·(1 + g·(1 − σ(g))) ; du = da·g·σ(g) (assigned, backend.h) */
static void ref_swiglu_backward(Backend *be, float *dgu, const float *da, const float *gu, int n, int f) {
    (void)be;
    for (int t = 0; t < n; t++) {
        const float *g = gu + (size_t)t * 2 * f, *u = g + f, *dat = da + (size_t)t * f;
        float *dg = dgu + (size_t)t * 2 * f, *du = dg + f;
        for (int i = 0; i < f; i++) {
            double s = sigmoid(g[i]);
            dg[i] = (float)((double)dat[i] * u[i] * s * (1.0 + g[i] * (1.0 - s)));
            du[i] = (float)((double)dat[i] * g[i] * s);
        }
    }
}

/* ---- embedding, add, dropout ------------------------------------------------------- */

/* x[t] = E[ids[t]] */
static void ref_embedding_forward(Backend *be, float *x, const int *ids, const float *E, int n, int c) {
    (void)be;
    for (int t = 0; t < n; t++) memcpy(x + (size_t)t * c, E + (size_t)ids[t] * c, (size_t)c * sizeof(float));
}

/* dE[ids[t]] += dx[t], t in order */
static void ref_embedding_backward(Backend *be, float *dE, const float *dx, const int *ids, int n, int c) {
    (void)be;
    for (int t = 0; t < n; t++)
        for (int i = 0; i < c; i++) dE[(size_t)ids[t] * c + i] += dx[(size_t)t * c + i];
}

/* y += x */
static void ref_add(Backend *be, float *y, const float *x, size_t len) {
    (void)be;
    for (size_t i = 0; i < len; i++) y[i] += x[i];
}

/* mask(x)_i = u(key, i) >= p ? x_i / (1 − p) : 0 */
static float dropout_one(float x, size_t i, float p, uint64_t key) {
    return dropout_uniform(key, i) >= p ? x * (1.0f / (1.0f - p)) : 0.0f;
}

/* y = mask(x) */
static void ref_dropout_forward(Backend *be, float *y, const float *x, size_t len, float p, uint64_t key) {
    (void)be;
    for (size_t i = 0; i < len; i++) y[i] = dropout_one(x[i], i, p, key);
}

/* dx += mask(dy) */
static void ref_dropout_backward(Backend *be, float *dx, const float *dy, size_t len, float p, uint64_t key) {
    (void)be;
    for (size_t i = 0; i < len; i++) dx[i] += dropout_one(dy[i], i, p, key);
}

/* ---- rows -------------------------------------------------------------------------- */

/* dst[r] = src[rows[r]] */
/* out_i = Σ_k w[k] src[idx[k]] over k in [ptr[i], ptr[i+1]) */
static void ref_row_combine(Backend *be, float *out, const float *src, const int *ptr, const int *idx, const float *w,
                            int m, int c) {
    (void)be;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < c; j++) {
            double s = 0;
            for (int k = ptr[i]; k < ptr[i + 1]; k++) s += (double)w[k] * src[(size_t)idx[k] * c + j];
            out[(size_t)i * c + j] = (float)s;
        }
}

/* dsrc[idx[k]] += w[k] dout_i */
static void ref_row_combine_backward(Backend *be, float *dsrc, const float *dout, const int *ptr, const int *idx,
                                     const float *w, int m, int c) {
    (void)be;
    for (int i = 0; i < m; i++)
        for (int k = ptr[i]; k < ptr[i + 1]; k++)
            for (int j = 0; j < c; j++) dsrc[(size_t)idx[k] * c + j] += w[k] * dout[(size_t)i * c + j];
}

static void ref_gather_rows(Backend *be, float *dst, const float *src, const int *rows, int m, int c) {
    (void)be;
    for (int r = 0; r < m; r++) memcpy(dst + (size_t)r * c, src + (size_t)rows[r] * c, (size_t)c * sizeof(float));
}

/* dst[rows[r]] += src[r], r in order */
static void ref_scatter_add_rows(Backend *be, float *dst, const float *src, const int *rows, int m, int c) {
    (void)be;
    for (int r = 0; r < m; r++)
        for (int i = 0; i < c; i++) dst[(size_t)rows[r] * c + i] += src[(size_t)r * c + i];
}

/* loss = log Σ_v e^{l_v} − l_tgt ; dlogits = dscale·(softmax(l) − onehot(tgt)) (aliasing-safe: each
 * element is read before it is written, the loss before any write) */
static void ce_row(float *loss, float *dl, const float *l, int tgt, int V, float dscale) {
    double mx = -INFINITY, z = 0;
    for (int v = 0; v < V; v++) mx = l[v] > mx ? l[v] : mx;
    for (int v = 0; v < V; v++) z += exp(l[v] - mx);
    *loss = (float)(log(z) + mx - l[tgt]);
    if (dl)
        for (int v = 0; v < V; v++) dl[v] = (float)(dscale * (exp(l[v] - mx) / z - (v == tgt)));
}

static void ref_cross_entropy(Backend *be, float *loss, float *dlogits, const float *logits, const int *tgt, int M,
                              int V, float dscale) {
    (void)be;
    for (int r = 0; r < M; r++)
        ce_row(loss + r, dlogits ? dlogits + (size_t)r * V : NULL, logits + (size_t)r * V, tgt[r], V, dscale);
}

/* stats[b] = [u·c, u·u, c·c, |u − c|²] in double */
static void ref_row_stats(Backend *be, double *stats, const float *U, const float *Cc, int B, int D) {
    (void)be;
    for (int b = 0; b < B; b++) {
        const float *u = U + (size_t)b * D, *c = Cc + (size_t)b * D;
        double uc = 0, uu = 0, cc = 0, dd = 0;
        for (int i = 0; i < D; i++) {
            double x = u[i], y = c[i];
            uc += x * y; uu += x * x; cc += y * y; dd += (x - y) * (x - y);
        }
        double *s = stats + (size_t)b * 4;
        s[0] = uc; s[1] = uu; s[2] = cc; s[3] = dd;
    }
}

/* y_b += a_b·x_b + b_b·z_b (the increment computed in double) */
static void ref_row_axpby(Backend *be, float *y, const double *a, const float *x, const double *b, const float *z,
                          int B, int D) {
    (void)be;
    for (int r = 0; r < B; r++)
        for (int i = 0; i < D; i++) {
            size_t k = (size_t)r * D + i;
            y[k] += (float)(a[r] * x[k] + b[r] * z[k]);
        }
}

/* out[r] = argmax_v x[r,v], the first on ties */
static void ref_argmax_rows(Backend *be, int *out, const float *x, int m, int V) {
    (void)be;
    for (int r = 0; r < m; r++) {
        const float *row = x + (size_t)r * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (row[v] > row[best]) best = v;
        out[r] = best;
    }
}

/* ---- optimizer ------------------------------------------------------------------------ */

/* Σ x² in double, in index order */
static double ref_sum_squares(Backend *be, const float *x, size_t n) {
    (void)be;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

/* x *= s */
static void ref_scale(Backend *be, float *x, size_t n, float s) {
    (void)be;
    for (size_t i = 0; i < n; i++) x[i] *= s;
}

/* m = β1·m + (1−β1)·g ; v = β2·v + (1−β2)·g² ;
 * p = p·(1 − lr·wd) − lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps), bc = 1 − β^t (float, as optim.c) */
static void ref_adamw(Backend *be, float *p, const float *g, float *m, float *v, size_t n, double lr, double beta1,
                      double beta2, double eps, double wd, long t) {
    (void)be;
    float b1 = (float)beta1, b2 = (float)beta2;
    float bc1 = (float)(1.0 - pow(beta1, (double)t)), bc2 = (float)(1.0 - pow(beta2, (double)t));
    float step = (float)lr / bc1, decay = (float)(1.0 - lr * wd), e = (float)eps, rbc2 = 1.0f / sqrtf(bc2);
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] = p[i] * decay - step * m[i] / (sqrtf(v[i]) * rbc2 + e);
    }
}

/* ---- regularisers ---------------------------------------------------------------- */

/* Epps–Pulley statistic per column (backend.h), plain loops in double. */
static void ref_epps_pulley(Backend *be, double *stat, float *dY, const float *Y, int B, int S, double dscale) {
    (void)be;
    double t[EP_NODES], om[EP_NODES], phi[EP_NODES];
    ep_quadrature(t, om, phi);
    for (int s = 0; s < S; s++) {
        double c[EP_NODES] = {0}, sn[EP_NODES] = {0}, e = 0;
        for (int b = 0; b < B; b++)
            for (int k = 0; k < EP_NODES; k++) {
                double y = Y[(size_t)b * S + s];
                c[k] += cos(t[k] * y);
                sn[k] += sin(t[k] * y);
            }
        for (int k = 0; k < EP_NODES && B > 0; k++) {
            c[k] /= B, sn[k] /= B;
            e += om[k] * ((c[k] - phi[k]) * (c[k] - phi[k]) + sn[k] * sn[k]);
        }
        stat[s] = B * e;
        for (int b = 0; dY && b < B; b++) {
            double y = Y[(size_t)b * S + s], g = 0;
            for (int k = 0; k < EP_NODES; k++)
                g += om[k] * t[k] * (sn[k] * cos(t[k] * y) - (c[k] - phi[k]) * sin(t[k] * y));
            dY[(size_t)b * S + s] = (float)(dscale * 2.0 * g);
        }
    }
}

static Backend REF = {
    .name = "ref",
    .ctx = NULL,
    .set_threads = ref_set_threads,
    .alloc = ref_alloc,
    .free = ref_free,
    .zero = ref_zero,
    .upload = ref_upload,
    .download = ref_download,
    .copy = ref_copy,
    .gemm = ref_gemm,
    .linear_forward = ref_linear_forward,
    .linear_backward = ref_linear_backward,
    .rmsnorm_forward = ref_rmsnorm_forward,
    .rmsnorm_backward = ref_rmsnorm_backward,
    .rope = ref_rope,
    .attention_saved = ref_attention_saved,
    .attention_forward = ref_attention_forward,
    .attention_backward = ref_attention_backward,
    .attention_cached = ref_attention_cached,
    .swiglu_forward = ref_swiglu_forward,
    .swiglu_backward = ref_swiglu_backward,
    .embedding_forward = ref_embedding_forward,
    .embedding_backward = ref_embedding_backward,
    .add = ref_add,
    .dropout_forward = ref_dropout_forward,
    .dropout_backward = ref_dropout_backward,
    .gather_rows = ref_gather_rows,
    .scatter_add_rows = ref_scatter_add_rows,
    .row_combine = ref_row_combine,
    .row_combine_backward = ref_row_combine_backward,
    .cross_entropy = ref_cross_entropy,
    .row_stats = ref_row_stats,
    .row_axpby = ref_row_axpby,
    .argmax_rows = ref_argmax_rows,
    .sum_squares = ref_sum_squares,
    .scale = ref_scale,
    .adamw = ref_adamw,
    .epps_pulley = ref_epps_pulley,
};

Backend *backend_ref(void) { return &REF; }
