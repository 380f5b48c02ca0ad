/* The backend interface (ARCHITECTURE.md "Engine boundaries").
 *
 * A backend owns memory and device, as ggml's backend interface does: it
 * allocates, zeroes and frees buffers, copies between host and device, holds
 * its own context (threads; streams and handles on a GPU), and implements
 * every op a training or decoding step runs. The model, loss, optimizer and
 * generation code call only this table, so a new backend implements the table
 * and nothing else changes. Conventions:
 *  - every pointer an op takes is DEVICE memory from be->alloc (on the CPU
 *    backends device memory is host memory, but callers must not rely on it);
 *    the host talks to it only through upload / download;
 *  - tensors are row-major fp32; a batch is a flat list of n tokens (rows of
 *    different lengths are concatenated, no padding);
 *  - letters: n tokens, C hidden size, H query heads, KV key/value heads, hd
 *    head size, F intermediate size, V vocabulary, M rows, B examples, D width;
 *  - every _backward ACCUMULATES (+=) into its input and parameter gradients,
 *    except where its entry says otherwise (linear_backward's dx with
 *    dx_acc = DX_SET, swiglu_backward's dgu: assigned, so that the first
 *    writer of a gradient buffer needs no zeroing pass before it);
 *    a gradient pointer documented "may be NULL" is skipped (frozen tensor);
 *  - Linear weights follow Hugging Face: W is (out, in) and y = x·Wᵀ;
 *  - ops run in issue order; results read by download are complete when it
 *    returns (download synchronises).
 * backend_ref.c is the reference: plain loops, obviously correct. Every other
 * backend is tested against it op by op (tests/test_backend.c). */
#ifndef ENGINE_BACKEND_H
#define ENGINE_BACKEND_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Functions that CUDA device code calls too (dropout masks). */
#ifdef __CUDACC__
#define BACKEND_HD __host__ __device__
#else
#define BACKEND_HD
#endif

/* Which keys a query may attend to (ALGORITHM.md §3): token i sees token j iff
 * j <= i, both are in the same row, and vis[seg[i]*nseg + seg[j]]. */
typedef struct AttnLayout {
    int n;                       /* tokens */
    int nrows;
    const int *row_start;        /* device (nrows+1) token offsets of the rows */
    const int *seg;              /* device (n) segment of each token */
    const unsigned char *vis;    /* device (nseg, nseg) segment visibility */
    int nseg;
    const int *row_start_host;   /* the same offsets on the host, for scheduling */
} AttnLayout;

/* Key/value cache of one layer for greedy decoding. */
typedef struct KVView {
    float *k, *v;      /* device (nseq, max_len, KV*hd) each */
    int max_len;
    const int *seq;    /* device (n) sequence of each token */
    const int *pos;    /* device (n) position (cache slot) of each token */
    int max_pos1;      /* host: 1 + the largest pos of the call (scratch sizing) */
} KVView;

/* Precision of the matrix products of linear layers (config key dtype;
 * ALGORITHM.md §5), the last argument of linear_forward / linear_backward.
 *  - DTYPE_FP32: fp32 operands (the reference and the default).
 *  - DTYPE_BF16: the operands of the product are rounded to bfloat16 (round
 *    to nearest, ties to even: bf16_round) before it, the products accumulate
 *    in fp32 (the reference: double) and the output is fp32. Forward: x and
 *    W; backward: dy and W for dx, dy and x for dW. The stored tensors are
 *    not changed: master weights, gradients, optimizer state, norms, softmax,
 *    attention, losses and reductions stay fp32, as under PyTorch's bf16
 *    autocast with fp32 master weights. gemm is always fp32: its users are
 *    LoRA's rank-r products, the InfoNCE similarities and the regularisers'
 *    statistics. The attention op's QK^T and PV products stay fp32 (autocast
 *    would run them in bf16): its softmax inputs keep full precision, the op
 *    is fused and its cost on a CPU without bf16 units would only grow. */
enum { DTYPE_FP32 = 0, DTYPE_BF16 = 1 };

/* How linear_backward writes dx (its last argument, dx_acc): DX_SET assigns
 * dx = dy·w, overwriting whatever dx held (NaN included: dx is not read, as
 * GEMM's beta = 0); DX_ADD accumulates dx += dy·w (beta = 1). */
enum { DX_SET = 0, DX_ADD = 1 };

/* x rounded to the nearest bfloat16 (8 exponent bits, 8 significand bits),
 * ties to even, returned as the float of the same value (the low 16 bits
 * zero): the conversion of PyTorch's x.to(torch.bfloat16) and CUDA's
 * __float2bfloat16_rn. ±inf and ±0 stay; a NaN stays a (quiet) NaN; finite
 * values past the largest bf16 round to ±inf. */
static inline BACKEND_HD float bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) u |= 0x00400000u; /* NaN: keep it a NaN */
    else u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

typedef struct Backend Backend;

struct Backend {
    const char *name;
    void *ctx;         /* the backend's own state */

    /* ---- device, memory ---- */
    /* Threads for CPU work (0 = all cores). */
    void (*set_threads)(Backend *be, int threads);
    /* A zeroed device buffer of `bytes` (64-byte aligned), or NULL. */
    void *(*alloc)(Backend *be, size_t bytes);
    void (*free)(Backend *be, void *p);
    void (*zero)(Backend *be, void *p, size_t bytes);
    void (*upload)(Backend *be, void *dst, const void *host_src, size_t bytes);
    void (*download)(Backend *be, void *host_dst, const void *src, size_t bytes);
    void (*copy)(Backend *be, void *dst, const void *src, size_t bytes);

    /* ---- dense algebra ---- */
    /* Row-major C (M,N) = alpha·op(A)·op(B) + beta·C, op = transpose when ta/tb;
     * op(A) is (M,K), op(B) is (K,N); lda/ldb/ldc are row strides. As in BLAS,
     * beta = 0 does not read C (NaN there is overwritten). M or N = 0: no-op. */
    void (*gemm)(Backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *Bm, int ldb, float beta, float *Cm, int ldc);
    /* y (n,out) = x (n,in) · w (out,in)ᵀ, operands at precision dtype
     * (DTYPE_FP32 or DTYPE_BF16 above; y is fp32 either way). */
    void (*linear_forward)(Backend *be, float *y, const float *x, const float *w, int n, int in, int out,
                           int dtype);
    /* dx (n,in) = dy·w (dx_acc = DX_SET: dx is overwritten, not read) or
     * dx += dy·w (dx_acc = DX_ADD); dw (out,in) += dyᵀ·x (always accumulated);
     * operands at precision dtype. dx, dw may be NULL; x is not read (may be
     * NULL) when dw is NULL. n = 0: no-op; out = 0 under DX_SET: dx = 0 (an
     * empty sum). */
    void (*linear_backward)(Backend *be, float *dx, float *dw, const float *dy, const float *x, const float *w,
                            int n, int in, int out, int dtype, int dx_acc);

    /* ---- layers ---- */
    /* y (n,c) = x / rms(x) * w ; rstd (n) = 1/sqrt(mean(x²)+eps), saved for backward. */
    void (*rmsnorm_forward)(Backend *be, float *y, float *rstd, const float *x, const float *w, int n, int c,
                            float eps);
    /* dx (n,c) += ∂/∂x ; dw (c) += ∂/∂w (may be NULL). */
    void (*rmsnorm_backward)(Backend *be, float *dx, float *dw, const float *dy, const float *x, const float *w,
                             const float *rstd, int n, int c);
    /* Rotate-half RoPE in place on nheads heads of size hd starting at column
     * col0 of each row of x (n, stride); cos/sin are (max_pos, hd/2).
     * inverse=1 applies the transpose rotation (the backward pass). */
    void (*rope)(Backend *be, float *x, const int *pos, const float *cos, const float *sin, int n, int stride,
                 int col0, int nheads, int hd, int inverse);
    /* Floats of per-layer state attention_forward saves for its backward
     * (e.g. the (H,T,T) probabilities of every row, or a flash kernel's
     * log-sum-exp). The caller allocates it; its content is the backend's. */
    size_t (*attention_saved)(Backend *be, const AttnLayout *L, int H, int KV, int hd);
    /* Attention with the visibility rule. qkv (n, (H+2KV)*hd) holds [q | k | v]
     * per token (RoPE applied); out (n, H*hd). A query with no visible key
     * gets out = 0. Returns 0, or -1 when scratch could not be allocated. */
    int (*attention_forward)(Backend *be, float *out, float *saved, const float *qkv, const AttnLayout *L, int H,
                             int KV, int hd);
    /* dqkv (n, (H+2KV)*hd) += ∂out/∂qkv · dout. out is the forward's output.
     * Returns 0 or -1 (out of memory). */
    int (*attention_backward)(Backend *be, float *dqkv, const float *dout, const float *out, const float *saved,
                              const float *qkv, const AttnLayout *L, int H, int KV, int hd);
    /* Decoding: writes each token's k, v into the cache at (seq, pos), then
     * each token attends to slots 0..pos of its sequence. out (n, H*hd).
     * (No error return yet: a backend that needs scratch sizes it from
     * kv->max_pos1 at kvcache time.) Rows of length 0 and n = 0 are no-ops in
     * every attention op. */
    void (*attention_cached)(Backend *be, float *out, const float *qkv, const KVView *kv, int n, int H, int KV,
                             int hd);
    /* a (n,f) = silu(gu[:, :f]) * gu[:, f:]  where gu (n, 2f) = [gate | up] */
    void (*swiglu_forward)(Backend *be, float *a, const float *gu, int n, int f);
    /* dgu (n, 2f) = ∂a/∂gu · da, ASSIGNED (not accumulated: dgu's old
     * content, NaN included, is overwritten, never read); da (n, f). */
    void (*swiglu_backward)(Backend *be, float *dgu, const float *da, const float *gu, int n, int f);
    /* x (n,c) = E[ids] ; dE[ids] += dx (rows summed in token order) */
    void (*embedding_forward)(Backend *be, float *x, const int *ids, const float *E, int n, int c);
    void (*embedding_backward)(Backend *be, float *dE, const float *dx, const int *ids, int n, int c);
    /* y (len) += x */
    void (*add)(Backend *be, float *y, const float *x, size_t len);
    /* Inverted dropout with a counter-based mask: element i is kept iff
     * u(key, i) >= p, u uniform in [0,1) from a hash of (key, i); kept
     * elements are scaled by 1/(1-p); 0 <= p < 1. forward: y (len) = mask(x);
     * backward: dx (len) += mask(dy). The same key gives the same mask. */
    void (*dropout_forward)(Backend *be, float *y, const float *x, size_t len, float p, uint64_t key);
    void (*dropout_backward)(Backend *be, float *dx, const float *dy, size_t len, float p, uint64_t key);

    /* ---- rows: readout and losses ---- */
    /* dst (m,c) = src[rows] (rows index src (·,c)) */
    void (*gather_rows)(Backend *be, float *dst, const float *src, const int *rows, int m, int c);
    /* dst[rows] += src (m,c), in row order (repeated rows add up) */
    void (*scatter_add_rows)(Backend *be, float *dst, const float *src, const int *rows, int m, int c);
    /* Weighted row combinations in CSR form, the readouts of views (last
     * token, mean pooling) and of STP's trajectory displacements:
     * out (m,c): out_i = Σ_{k = ptr[i]}^{ptr[i+1]−1} w[k] · src[idx[k]]
     * (ptr (m+1), idx and w (ptr[m]); sums in k order). */
    void (*row_combine)(Backend *be, float *out, const float *src, const int *ptr, const int *idx, const float *w,
                        int m, int c);
    /* dsrc[idx[k]] += w[k] · dout_i, in (i, k) order (rows of dsrc repeat). */
    void (*row_combine_backward)(Backend *be, float *dsrc, const float *dout, const int *ptr, const int *idx,
                                 const float *w, int m, int c);
    /* Cross-entropy of each row of logits (M,V) against tgt (M), 0 <= tgt < V
     * (the caller selects the rows that have a target):
     * loss (M) = logsumexp(row) − row[tgt] (accumulated in double). With
     * dlogits non-NULL: dlogits (M,V) = dscale · (softmax(row) − onehot(tgt));
     * dlogits may alias logits. */
    void (*cross_entropy)(Backend *be, float *loss, float *dlogits, const float *logits, const int *tgt, int M, int V,
                          float dscale);
    /* Per row b of U, Cc (B,D), accumulated in double: stats (B,4) =
     * [u·c, u·u, c·c, |u−c|²]. The JEPA metrics are built from it. */
    void (*row_stats)(Backend *be, double *stats, const float *U, const float *Cc, int B, int D);
    /* y_b (B,D) += a_b·x_b + b_b·z_b per row, coefficients a, b (B) in double. */
    void (*row_axpby)(Backend *be, float *y, const double *a, const float *x, const double *b, const float *z, int B,
                      int D);
    /* out (m) = index of the largest value of each row of x (m,V); first on
     * ties (NaN compares false, so a NaN never wins over an earlier value) */
    void (*argmax_rows)(Backend *be, int *out, const float *x, int m, int V);

    /* ---- optimizer ---- */
    /* Σ x² over x (n), in double, in a fixed order (returned to the host). */
    double (*sum_squares)(Backend *be, const float *x, size_t n);
    /* x (n) *= s */
    void (*scale)(Backend *be, float *x, size_t n, float s);
    /* One AdamW update (PyTorch semantics: decoupled decay p -= lr·wd·p,
     * bias-corrected moments) of p (n) with gradient g, moments m, v, at
     * update number t (1-based). */
    void (*adamw)(Backend *be, float *p, const float *g, float *m, float *v, size_t n, double lr, double beta1,
                  double beta2, double eps, double wd, long t);

    /* ---- regularisers ---- */
    /* The Epps–Pulley statistic of each column of Y (B,S) against N(0, 1)
     * (SIGReg, engine/jepa_reg.h; LeJEPA, Balestriero & LeCun, arXiv
     * 2511.08544, Algorithm 1), on the quadrature of ep_quadrature below:
     *   stat_s (S, double) = B · Σ_k ω_k [(c_sk − φ_k)² + s_sk²],
     *   c_sk = (1/B) Σ_b cos(t_k Y[b,s]),  s_sk = (1/B) Σ_b sin(t_k Y[b,s]),
     * cos, sin and every sum in double. With dY non-NULL, dY (B,S) is
     * OVERWRITTEN (as cross_entropy's dlogits) with dscale · ∂stat_s/∂Y[b,s]
     *   = dscale · 2 Σ_k ω_k t_k (s_sk cos(t_k Y[b,s]) − (c_sk − φ_k) sin(t_k Y[b,s])).
     * dY must not alias Y. B = 0 gives stat = 0 (no samples, no statistic);
     * S = 0: no-op. */
    void (*epps_pulley)(Backend *be, double *stat, float *dY, const float *Y, int B, int S, double dscale);
};

/* ---- regulariser constants shared by every backend ---- */

/* Nodes of the Epps–Pulley quadrature: LeJEPA's Algorithm 1 integrates on 17
 * equally spaced points t ∈ [−5, 5] with the trapezoid rule and the weight
 * w(t) = φ(t) = exp(−t²/2), the characteristic function of N(0, 1). The
 * integrand |φ̂(t) − φ(t)|² w(t) is even in t for real samples (φ̂(−t) is the
 * conjugate of φ̂(t)), so the engine evaluates the EP_NODES nodes t ≥ 0 and
 * folds the weights: the same sum, term by term. */
#define EP_NODES 9
#define EP_TMAX 5.0

/* t (EP_NODES) = k · EP_TMAX / (EP_NODES − 1); phi = exp(−t²/2); omega = the
 * folded trapezoid weight times phi: h at t = 0 (the middle node of the
 * 17), 2h inside, h at t = 5 (two end nodes of weight h/2), h = 0.625. */
static inline void ep_quadrature(double *t, double *omega, double *phi) {
    double h = EP_TMAX / (EP_NODES - 1);
    for (int k = 0; k < EP_NODES; k++) {
        t[k] = k * h;
        phi[k] = exp(-0.5 * t[k] * t[k]);
        omega[k] = (k == 0 || k == EP_NODES - 1 ? h : 2.0 * h) * phi[k];
    }
}

/* The backends built into this binary, the reference first. *n receives the
 * count. Each is a process-wide instance. */
Backend **backend_all(int *n);
/* Backend by name ("ref", "cpu", "cuda"); NULL when not built or not usable. */
Backend *backend_by_name(const char *name);
/* Why backend_by_name(name) is NULL, for error messages: "not built into
 * this binary ...", "no CUDA device found (...)", or "no such backend ...";
 * NULL when the backend is available. */
const char *backend_unavailable(const char *name);

/* The reference backend: plain loops, single thread (backend_ref.c). */
Backend *backend_ref(void);
/* The CPU backend: OpenBLAS + OpenMP (backend_cpu.c). */
Backend *backend_cpu(void);
/* The CUDA backend (backend_cuda.cu, built with -DCUDA=ON): fp32 on the
 * first GPU, one stream, cuBLAS GEMMs; NULL when no device is usable at run
 * time. Declared in every build; defined only when HAVE_CUDA. */
Backend *backend_cuda(void);

/* The counter hash behind dropout masks: uniform in [0,1) (24 bits) from
 * (key, i), i < 2^32 per call. Two rounds of the lowbias32 integer mixer
 * (Wellons), 32-bit arithmetic only, so CPU loops vectorise with AVX2 and a
 * GPU computes the same bits. Shared by every backend so masks agree. */
static inline BACKEND_HD uint32_t dropout_mix32(uint32_t z) {
    z ^= z >> 16;
    z *= 0x7feb352dU;
    z ^= z >> 15;
    z *= 0x846ca68bU;
    z ^= z >> 16;
    return z;
}

static inline BACKEND_HD float dropout_uniform(uint64_t key, uint64_t i) {
    uint32_t z = dropout_mix32((uint32_t)i ^ (uint32_t)key);
    z = dropout_mix32(z + (uint32_t)(key >> 32));
    return (float)(z >> 8) * (1.0f / 16777216.0f);
}

#ifdef __cplusplus
}
#endif

#endif
