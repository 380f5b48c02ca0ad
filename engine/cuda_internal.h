/* Shared by the CUDA backend's sources (backend_cuda.cu: context, memory,
 * GEMMs, the table; cuda_kernels.cu: elementwise and row ops; cuda_reg.cu: the
 * regulariser op; cuda_scatter.cu:
 * deterministic scatter-adds; cuda_attention.cu: attention). Not a public
 * header: the engine sees only backend.h.
 *
 * Every op is enqueued on the context's one stream and returns without
 * waiting; download and sum_squares wait. Errors (a failed launch, scratch
 * that could not be allocated) cannot be returned through the void ops of the
 * table: the first one is recorded in the context and reported by
 * backend_cuda_error (backend_cuda.h), and an op that fails to get scratch
 * leaves its outputs untouched. */
#ifndef ENGINE_CUDA_INTERNAL_H
#define ENGINE_CUDA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "cuda_compat.h"

typedef struct CudaCtx {
    cudaStream_t stream;
    cublasHandle_t blas;
    void *scratch;          /* device scratch of the op being enqueued (grows; see cuda_scratch) */
    size_t scratch_cap;
    void *host;             /* host staging of small per-call tables (attention tiles) */
    size_t host_cap;
    int smem_optin;         /* the largest dynamic shared memory a block may opt into, bytes */
    int failed;             /* an error is recorded */
    char err[256];          /* the first error since backend_cuda_error */
} CudaCtx;

static inline CudaCtx *cuda_ctx(Backend *be) { return (CudaCtx *)be->ctx; }
static inline cudaStream_t cuda_stream(Backend *be) { return cuda_ctx(be)->stream; }

/* Records the first error: what failed and CUDA's message for e. Returns 1 when
 * e is an error, else 0. */
int cuda_fail(Backend *be, cudaError_t e, const char *what);
/* cuda_fail for the last launch (cudaGetLastError). */
int cuda_check_launch(Backend *be, const char *what);
/* Device scratch of at least `bytes` (256-byte aligned), valid for the kernels
 * enqueued by the current op; NULL (error recorded) when it cannot be
 * allocated. Growing it waits for the work in flight (cudaFree). */
void *cuda_scratch(Backend *be, size_t bytes);
/* Host staging of at least `bytes`, valid until the next call; NULL (error recorded). */
void *cuda_host_staging(Backend *be, size_t bytes);

/* Blocks of `threads` threads for a grid-stride loop over n items (at least 1,
 * at most 65535·32: enough to fill any current GPU). */
static inline unsigned cuda_blocks(size_t n, unsigned threads) {
    size_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > 65535u * 32u) b = 65535u * 32u;
    return (unsigned)b;
}

/* Rounds x up to a multiple of 256 bytes (carving scratch into aligned parts). */
static inline size_t cuda_align(size_t x) { return (x + 255) / 256 * 256; }

/* ---- block reductions (device) ----------------------------------------------------------
 * Butterfly sums over a warp and then over the warps of a block, in an order
 * fixed by the block size alone: deterministic. Every thread of the block
 * must call them (they contain barriers) and receives the result. blockDim.x
 * is a multiple of 32, at most 1024; red is __shared__ scratch of 32 T. */

template <class T> __device__ __forceinline__ T warp_sum(T v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float nan_max(float a, float b) { return fmaxf(a, b); }
__device__ __forceinline__ double nan_max(double a, double b) { return fmax(a, b); }

template <class T> __device__ __forceinline__ T warp_max(T v) {
    for (int o = 16; o > 0; o >>= 1) v = nan_max(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

template <class T> __device__ __forceinline__ T block_sum(T v, T *red) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads(); /* red may still be read by a previous call */
    if (lane == 0) red[w] = v;
    __syncthreads();
    return warp_sum(lane < nw ? red[lane] : T(0));
}

/* Largest value (NaN ignored, as fmax does); -INFINITY for none. */
template <class T> __device__ __forceinline__ T block_max(T v, T *red) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) red[w] = v;
    __syncthreads();
    return warp_max(lane < nw ? red[lane] : T(-INFINITY));
}

/* for (size_t i = <this thread>; i < n; i += <all threads>) */
#define GRID_STRIDE(i, n)                                                                                          \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)(n); i += (size_t)gridDim.x * blockDim.x)

#ifdef __cplusplus
extern "C" {
#endif

/* ---- cuda_kernels.cu (the table's semantics: backend.h) ---- */
void cuda_rmsnorm_forward(Backend *be, float *y, float *rstd, const float *x, const float *w, int n, int c, float eps);
void cuda_rmsnorm_backward(Backend *be, float *dx, float *dw, const float *dy, const float *x, const float *w,
                           const float *rstd, int n, int c);
void cuda_rope(Backend *be, float *x, const int *pos, const float *cs, const float *sn, int n, int stride, int col0,
               int nheads, int hd, int inverse);
void cuda_swiglu_forward(Backend *be, float *a, const float *gu, int n, int f);
void cuda_swiglu_backward(Backend *be, float *dgu, const float *da, const float *gu, int n, int f);
void cuda_embedding_forward(Backend *be, float *x, const int *ids, const float *E, int n, int c);
void cuda_add(Backend *be, float *y, const float *x, size_t len);
void cuda_dropout_forward(Backend *be, float *y, const float *x, size_t len, float p, uint64_t key);
void cuda_dropout_backward(Backend *be, float *dx, const float *dy, size_t len, float p, uint64_t key);
void cuda_gather_rows(Backend *be, float *dst, const float *src, const int *rows, int m, int c);
void cuda_row_combine(Backend *be, float *out, const float *src, const int *ptr, const int *idx, const float *w, int m,
                      int c);
void cuda_cross_entropy(Backend *be, float *loss, float *dlogits, const float *logits, const int *tgt, int M, int V,
                        float dscale);
void cuda_row_stats(Backend *be, double *stats, const float *U, const float *Cc, int B, int D);
void cuda_row_axpby(Backend *be, float *y, const double *a, const float *x, const double *b, const float *z, int B,
                    int D);
void cuda_argmax_rows(Backend *be, int *out, const float *x, int m, int V);

/* ---- cuda_reg.cu ---- */
void cuda_epps_pulley(Backend *be, double *stat, float *dY, const float *Y, int B, int S, double dscale);
double cuda_sum_squares(Backend *be, const float *x, size_t n);
void cuda_scale(Backend *be, float *x, size_t n, float s);
void cuda_adamw(Backend *be, float *p, const float *g, float *m, float *v, size_t n, double lr, double beta1,
                double beta2, double eps, double wd, long t);
/* C (M,N) row-major with row stride ldc: beta = 0 → 0, else C *= beta (a GEMM with K = 0). */
void cuda_scale_matrix(Backend *be, float *C, int M, int N, int ldc, float beta);
/* dst (n) = src (n) rounded to bfloat16 (__float2bfloat16_rn: nearest, ties
 * to even; the values of backend.h bf16_round) (cuda_bf16.cu). */
void cuda_to_bf16(Backend *be, __nv_bfloat16 *dst, const float *src, size_t n);

/* ---- cuda_scatter.cu ---- */
void cuda_embedding_backward(Backend *be, float *dE, const float *dx, const int *ids, int n, int c);
void cuda_scatter_add_rows(Backend *be, float *dst, const float *src, const int *rows, int m, int c);
void cuda_row_combine_backward(Backend *be, float *dsrc, const float *dout, const int *ptr, const int *idx,
                               const float *w, int m, int c);

/* ---- cuda_attention.cu ---- */
size_t cuda_attention_saved(Backend *be, const AttnLayout *L, int H, int KV, int hd);
int cuda_attention_forward(Backend *be, float *out, float *saved, const float *qkv, const AttnLayout *L, int H, int KV,
                           int hd);
int cuda_attention_backward(Backend *be, float *dqkv, const float *dout, const float *out, const float *saved,
                            const float *qkv, const AttnLayout *L, int H, int KV, int hd);
void cuda_attention_cached(Backend *be, float *out, const float *qkv, const KVView *kv, int n, int H, int KV, int hd);

#ifdef __cplusplus
}
#endif

#endif
