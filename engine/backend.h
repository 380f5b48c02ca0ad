/* The backend op table (ARCHITECTURE.md "Engine boundaries").
 *
 * The model code (model.c) is written once and calls every tensor operation
 * through this table; the CPU backend (backend_cpu.c: OpenBLAS + OpenMP) is
 * the reference and always builds. Conventions:
 *  - tensors are row-major fp32; a batch is a flat list of n tokens (rows of
 *    different lengths are concatenated, no padding);
 *  - every _backward ACCUMULATES (+=) into its input and parameter gradients;
 *  - Linear weights follow Hugging Face: W is (out, in) and y = x·Wᵀ. */
#ifndef ENGINE_BACKEND_H
#define ENGINE_BACKEND_H

#include <stddef.h>

/* Which keys a query may attend to (ALGORITHM.md §3): token i sees token j iff
 * j <= i, both are in the same row, and vis[seg[i]*nseg + seg[j]]. */
typedef struct AttnLayout {
    int n;                    /* tokens */
    int nrows;
    const int *row_start;     /* (nrows+1) token offsets of the rows */
    const int *seg;           /* (n) segment of each token */
    const unsigned char *vis; /* (nseg, nseg) segment visibility */
    int nseg;
    const size_t *probs_off;  /* (nrows+1) offsets of each row's (H, T, T) probabilities */
} AttnLayout;

/* Key/value cache for greedy decoding: per sequence, (max_len, KV*hd) keys
 * and values for one layer. */
typedef struct KVView {
    float *k, *v;      /* base of layer l: (nseq, max_len, KV*hd) each */
    int max_len;
    const int *seq;    /* (n) sequence of each token */
    const int *pos;    /* (n) position (cache slot) of each token */
} KVView;

typedef struct Backend {
    const char *name;
    /* y (n,out) = x (n,in) · w (out,in)ᵀ */
    void (*linear_forward)(float *y, const float *x, const float *w, int n, int in, int out);
    /* dx (n,in) += dy·w ; dw (out,in) += dyᵀ·x. dx may be NULL. */
    void (*linear_backward)(float *dx, float *dw, const float *dy, const float *x, const float *w,
                            int n, int in, int out);
    /* y (n,c) = x / rms(x) * w ; rstd (n) saved for backward. */
    void (*rmsnorm_forward)(float *y, float *rstd, const float *x, const float *w, int n, int c, float eps);
    void (*rmsnorm_backward)(float *dx, float *dw, const float *dy, const float *x, const float *w,
                             const float *rstd, int n, int c);
    /* Rotate-half RoPE in place on nheads heads of size hd starting at column
     * col0 of each row of x (n, stride); cos/sin are (max_pos, hd/2).
     * inverse=1 applies the transpose rotation (the backward pass). */
    void (*rope)(float *x, const int *pos, const float *cos, const float *sin, int n, int stride,
                 int col0, int nheads, int hd, int inverse);
    /* Causal attention with the visibility rule. qkv (n, (H+2KV)*hd) holds
     * [q | k | v] per token (RoPE already applied); out (n, H*hd); probs as
     * laid out by L->probs_off. A query with no visible key gets out = 0.
     * Returns 0, or -1 when scratch memory could not be allocated. */
    int (*attention_forward)(float *out, float *probs, const float *qkv, const AttnLayout *L, int H,
                              int KV, int hd);
    /* dqkv (n, (H+2KV)*hd) += gradient of out w.r.t. qkv. 0 or -1 (out of memory). */
    int (*attention_backward)(float *dqkv, const float *dout, const float *probs, const float *qkv,
                               const AttnLayout *L, int H, int KV, int hd);
    /* Decoding: writes each token's k, v into the cache at (seq, pos), then
     * each token attends to slots 0..pos of its sequence. out (n, H*hd). */
    void (*attention_cached)(float *out, const float *qkv, const KVView *kv, int n, int H, int KV, int hd);
    /* a (n,f) = silu(gu[:, :f]) * gu[:, f:]  where gu (n, 2f) = [gate | up] */
    void (*swiglu_forward)(float *a, const float *gu, int n, int f);
    void (*swiglu_backward)(float *dgu, const float *da, const float *gu, int n, int f);
    /* x (n,c) = E[ids] ; dE[ids] += dx */
    void (*embedding_forward)(float *x, const int *ids, const float *E, int n, int c);
    void (*embedding_backward)(float *dE, const float *dx, const int *ids, int n, int c);
    /* y (len) += x */
    void (*add)(float *y, const float *x, size_t len);
} Backend;

/* The CPU backend (OpenBLAS + OpenMP). */
const Backend *backend_cpu(void);
/* Set the CPU thread count for OpenMP and OpenBLAS (0 = all cores). */
void backend_cpu_set_threads(int threads);

#endif
