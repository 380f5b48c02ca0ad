/* The CUDA backend: context, memory, GEMMs through cuBLAS, the op table.
 * fp32 throughout. Kernels: cuda_kernels.cu (elementwise, norms, rows, losses,
 * optimizer), cuda_scatter.cu (deterministic scatter-adds), cuda_attention.cu
 * (flash-style attention). Tested op by op against backend_ref.c
 * (tests/test_backend.c) and as a whole model against the CPU backend
 * (tests/test_cuda_model.c).
 *
 * One device (the first visible one), one stream: every op is enqueued on it
 * in issue order; download waits for it (backend.h). GEMMs run in fp32 with
 * CUBLAS_COMPUTE_32F and the default math mode, which does not use TF32
 * tensor cores (cuBLAS documentation, cublasSetMathMode), so results match
 * the CPU backend to fp32 rounding.
 *
 * Determinism: no kernel uses atomics; every reduction has a fixed order that
 * depends on the sizes only (not on the GPU or the scheduling), and cuBLAS
 * returns the same bits run to run on the same GPU model and toolkit (cuBLAS
 * documentation, "Results reproducibility"). So the same inputs give the same
 * bits on the same GPU model and build. */
#include "backend_cuda.h"
#include "cuda_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CudaCtx g_ctx;
static int g_state;          /* 0 not tried, 1 usable, -1 unavailable */
static char g_unavailable[320];

/* ---- errors and scratch --------------------------------------------------------------- */

int cuda_fail(Backend *be, cudaError_t e, const char *what) {
    if (e == cudaSuccess) return 0;
    CudaCtx *c = cuda_ctx(be);
    if (!c->failed) {
        snprintf(c->err, sizeof c->err, "CUDA backend: %s: %s", what, cudaGetErrorString(e));
        c->failed = 1;
    }
    return 1;
}

int cuda_check_launch(Backend *be, const char *what) { return cuda_fail(be, cudaGetLastError(), what); }

static int blas_fail(Backend *be, cublasStatus_t s, const char *what) {
    if (s == CUBLAS_STATUS_SUCCESS) return 0;
    CudaCtx *c = cuda_ctx(be);
    if (!c->failed) {
        snprintf(c->err, sizeof c->err, "CUDA backend: %s: %s", what, cublasGetStatusString(s));
        c->failed = 1;
    }
    return 1;
}

void *cuda_scratch(Backend *be, size_t bytes) {
    CudaCtx *c = cuda_ctx(be);
    if (c->scratch && bytes <= c->scratch_cap) return c->scratch;
    size_t want = bytes + bytes / 4;
    if (want < ((size_t)1 << 20)) want = (size_t)1 << 20;
    if (c->scratch) {
        cuda_fail(be, cudaStreamSynchronize(c->stream), "synchronise before growing scratch");
        cudaFree(c->scratch);
    }
    c->scratch = NULL;
    c->scratch_cap = 0;
    if (cuda_fail(be, cudaMalloc(&c->scratch, want), "allocate scratch")) {
        c->scratch = NULL;
        return NULL;
    }
    c->scratch_cap = want;
    return c->scratch;
}

void *cuda_host_staging(Backend *be, size_t bytes) {
    CudaCtx *c = cuda_ctx(be);
    if (c->host && bytes <= c->host_cap) return c->host;
    free(c->host);
    c->host_cap = 0;
    if (!(c->host = malloc(bytes ? bytes : 1))) {
        cuda_fail(be, cudaErrorMemoryAllocation, "allocate host staging");
        return NULL;
    }
    c->host_cap = bytes;
    return c->host;
}

/* ---- memory ------------------------------------------------------------------------------ */

static void cu_set_threads(Backend *be, int threads) { (void)be; (void)threads; }

/* A zeroed buffer; cudaMalloc aligns to 256 bytes. NULL when the device is out of memory. */
static void *cu_alloc(Backend *be, size_t bytes) {
    size_t sz = (bytes + 63) / 64 * 64;
    void *p = NULL;
    if (cudaMalloc(&p, sz ? sz : 64) != cudaSuccess) {
        cudaGetLastError(); /* an allocation failure is returned as NULL, not recorded */
        return NULL;
    }
    cuda_fail(be, cudaMemsetAsync(p, 0, sz ? sz : 64, cuda_stream(be)), "zero a new buffer");
    return p;
}

/* Waits for the stream first: kernels in flight may still read the buffer. */
static void cu_free(Backend *be, void *p) {
    if (!p) return;
    cuda_fail(be, cudaStreamSynchronize(cuda_stream(be)), "synchronise before free");
    cuda_fail(be, cudaFree(p), "free");
}

static void cu_zero(Backend *be, void *p, size_t bytes) {
    if (bytes) cuda_fail(be, cudaMemsetAsync(p, 0, bytes, cuda_stream(be)), "zero");
}

/* From pageable host memory the source is staged before the call returns, so
 * the caller may reuse it at once (CUDA runtime API, "API synchronization
 * behavior"). */
static void cu_upload(Backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes) cuda_fail(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cuda_stream(be)), "upload");
}

static void cu_download(Backend *be, void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    cuda_fail(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cuda_stream(be)), "download");
    cuda_fail(be, cudaStreamSynchronize(cuda_stream(be)), "download (synchronise)");
}

static void cu_copy(Backend *be, void *dst, const void *src, size_t bytes) {
    if (bytes && dst != src)
        cuda_fail(be, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_stream(be)), "copy");
}

/* ---- GEMM ---------------------------------------------------------------------------------
 * Row-major C (M,N) = alpha·op(A)·op(B) + beta·C is column-major
 * Cᵀ (N,M) = alpha·op(B)ᵀ·op(A)ᵀ + beta·Cᵀ: a row-major matrix with row
 * stride ld is its transpose in column-major with leading dimension ld. So
 * cuBLAS gets B first, then A, with the same transpose flags and strides; no
 * copies. beta = 0 does not read C (cuBLAS: "if beta == 0, C does not have to
 * be a valid input"). */

static void cu_gemm(Backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* no products: C = beta·C */
        cuda_scale_matrix(be, C, M, N, ldc, beta);
        return;
    }
    cublasStatus_t s = cublasGemmEx(cuda_ctx(be)->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                    N, M, K, &alpha, B, CUDA_R_32F, ldb, A, CUDA_R_32F, lda, &beta, C, CUDA_R_32F, ldc,
                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    blas_fail(be, s, "cublasGemmEx");
}

/* Row-major C (M,N) = op(A)·op(B) + beta·C with the operands at precision
 * dtype. DTYPE_BF16: both operands are converted to bf16 in scratch
 * (cuda_to_bf16), then cublasGemmEx on CUDA_R_16BF with CUBLAS_COMPUTE_32F
 * and an fp32 C: exact bf16 products accumulated in fp32. M, N, K >= 1. */
static void gemm_dtype(Backend *be, int dtype, int ta, int tb, int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc) {
    if (dtype != DTYPE_BF16) {
        cu_gemm(be, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb;
    size_t offb = cuda_align(na * sizeof(__nv_bfloat16));
    unsigned char *s = (unsigned char *)cuda_scratch(be, offb + nb * sizeof(__nv_bfloat16));
    if (!s) return; /* error recorded; C untouched */
    __nv_bfloat16 *a = (__nv_bfloat16 *)s, *b = (__nv_bfloat16 *)(s + offb);
    cuda_to_bf16(be, a, A, na);
    cuda_to_bf16(be, b, B, nb);
    float alpha = 1.0f;
    cublasStatus_t st = cublasGemmEx(cuda_ctx(be)->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     N, M, K, &alpha, b, CUDA_R_16BF, ldb, a, CUDA_R_16BF, lda, &beta, C, CUDA_R_32F,
                                     ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    blas_fail(be, st, "cublasGemmEx (bf16)");
}

/* y (n,out) = x (n,in) · w (out,in)ᵀ */
static void cu_linear_forward(Backend *be, float *y, const float *x, const float *w, int n, int in, int out,
                              int dtype) {
    if (n <= 0 || out <= 0) return;
    if (in <= 0) { cu_gemm(be, 0, 1, n, out, in, 1.0f, x, in, w, in, 0.0f, y, out); return; } /* y = 0 */
    gemm_dtype(be, dtype, 0, 1, n, out, in, x, in, w, in, 0.0f, y, out);
}

/* dx (n,in) = (DX_SET: cuBLAS beta 0, dx not read) or += (DX_ADD: beta 1)
 * dy (n,out) · w ; dw (out,in) += dyᵀ · x. out = 0 under DX_SET: dx = 0. */
static void cu_linear_backward(Backend *be, float *dx, float *dw, const float *dy, const float *x, const float *w, int n,
                               int in, int out, int dtype, int dx_acc) {
    if (n <= 0 || in <= 0) return;
    float beta = dx_acc == DX_SET ? 0.0f : 1.0f;
    if (out <= 0) { /* empty sums: DX_SET zeroes dx */
        if (dx) cuda_scale_matrix(be, dx, n, in, in, beta);
        return;
    }
    if (dx) gemm_dtype(be, dtype, 0, 0, n, in, out, dy, out, w, in, beta, dx, in);
    if (dw) gemm_dtype(be, dtype, 1, 0, out, in, n, dy, out, x, in, 1.0f, dw, in);
}

/* ---- the table ------------------------------------------------------------------------------ */

static Backend CUDA_BE = {
    "cuda", &g_ctx,
    cu_set_threads, cu_alloc, cu_free, cu_zero, cu_upload, cu_download, cu_copy,
    cu_gemm, cu_linear_forward, cu_linear_backward,
    cuda_rmsnorm_forward, cuda_rmsnorm_backward, cuda_rope,
    cuda_attention_saved, cuda_attention_forward, cuda_attention_backward, cuda_attention_cached,
    cuda_swiglu_forward, cuda_swiglu_backward, cuda_embedding_forward, cuda_embedding_backward, cuda_add,
    cuda_dropout_forward, cuda_dropout_backward,
    cuda_gather_rows, cuda_scatter_add_rows, cuda_row_combine, cuda_row_combine_backward,
    cuda_cross_entropy, cuda_row_stats, cuda_row_axpby, cuda_argmax_rows,
    cuda_sum_squares, cuda_scale, cuda_adamw,
    cuda_epps_pulley,
};

/* Device 0, its stream and cuBLAS handle. 0, or -1 with g_unavailable set. */
static int cuda_init(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n <= 0) {
        snprintf(g_unavailable, sizeof g_unavailable, "no CUDA device found (%s)",
                 e != cudaSuccess ? cudaGetErrorString(e) : "cudaGetDeviceCount reports 0 devices");
        cudaGetLastError();
        return -1;
    }
    const char *step = "cudaSetDevice";
    if ((e = cudaSetDevice(0)) != cudaSuccess) goto fail;
    step = "cudaStreamCreate";
    if ((e = cudaStreamCreateWithFlags(&g_ctx.stream, cudaStreamNonBlocking)) != cudaSuccess) goto fail;
    step = "cudaDeviceGetAttribute";
    if ((e = cudaDeviceGetAttribute(&g_ctx.smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0)) != cudaSuccess)
        goto fail;
    if (cublasCreate(&g_ctx.blas) != CUBLAS_STATUS_SUCCESS || cublasSetStream(g_ctx.blas, g_ctx.stream) ||
        cublasSetMathMode(g_ctx.blas, CUBLAS_DEFAULT_MATH)) {
        snprintf(g_unavailable, sizeof g_unavailable, "CUDA device found, but cuBLAS failed to initialise");
        return -1;
    }
    return 0;
fail:
    snprintf(g_unavailable, sizeof g_unavailable, "CUDA device found, but %s failed: %s", step, cudaGetErrorString(e));
    cudaGetLastError();
    return -1;
}

Backend *backend_cuda(void) {
    if (!g_state) g_state = cuda_init() ? -1 : 1;
    return g_state > 0 ? &CUDA_BE : NULL;
}

const char *backend_cuda_unavailable(void) { return backend_cuda() ? NULL : g_unavailable; }

int backend_cuda_error(char *err, size_t errn) {
    if (g_state <= 0) return 0;
    cuda_fail(&CUDA_BE, cudaStreamSynchronize(g_ctx.stream), "stream"); /* surfaces errors of kernels in flight */
    cuda_check_launch(&CUDA_BE, "last launch");
    if (!g_ctx.failed) return 0;
    snprintf(err, errn, "%s", g_ctx.err);
    g_ctx.failed = 0;
    return -1;
}
