/* A CPU emulation of the parts of the CUDA runtime, cuBLAS and the kernel
 * language that the CUDA backend uses, so that the backend's kernels can be
 * run and tested on a machine without a GPU (CMake -DCUDA_EMULATE=ON; a
 * development configuration, never a production one).
 *
 * Model: a launch runs its blocks one after another; the threads of a block
 * are cooperative fibers (ucontext) on the calling OS thread. __syncthreads,
 * __syncwarp and the warp shuffles are barriers among those fibers, so a
 * kernel that is correct on the GPU computes the same values here. The order
 * in which fibers run between two barriers is forward, reverse or shuffled
 * (environment CUDA_EMU_ORDER=fwd|rev|shuffle, default fwd): a kernel that
 * reads shared memory another thread wrote without a barrier in between
 * gives different results under the three orders. __shared__ variables are
 * static storage (one block runs at a time); the dynamic shared buffer is
 * filled with NaN bytes before each block (reads of unwritten shared memory
 * show as NaN). Launch checks: at most 1024 threads per block, grid y and z at
 * most 65535, dynamic shared memory above 48 KiB only after
 * cudaFuncSetAttribute raised the kernel's limit.
 *
 * Device memory is host memory. cuBLAS's GEMM is a column-major triple loop
 * (the documented semantics of cublasGemmEx), so the backend's row-major
 * mapping onto it is tested too. Not thread-safe: one OS thread drives it. */
#ifndef ENGINE_CUDA_EMU_H
#define ENGINE_CUDA_EMU_H

#ifndef __cplusplus
#error "cuda_emu.h is C++"
#endif

#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <vector>

/* ---- the kernel language --------------------------------------------------------- */

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

struct alignas(16) float4 {
    float x, y, z, w;
};
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

namespace emu {

enum { STACK = 1 << 16, WARP = 32 };

struct Fiber {
    ucontext_t ctx;
    dim3 tid;
    int done;
};

struct State {
    dim3 block_idx, block_dim, grid_dim;
    int cur = 0, nthreads = 0, alive = 0;
    std::vector<Fiber> fib;
    std::vector<char> stacks;
    ucontext_t sched;
    const std::function<void()> *body = nullptr;
    unsigned long bar_gen = 0;
    int bar_count = 0;
    std::vector<unsigned long> wgen;
    std::vector<int> wcount, walive;
    std::vector<uint64_t> slot;
    std::vector<unsigned char> dyn;
    std::map<const void *, size_t> smem_limit; /* kernel -> raised dynamic shared memory limit */
    int order = -1;                              /* 0 fwd, 1 rev, 2 shuffle */
    uint64_t rng = 88172645463325252ULL;
    int sticky = 0;                              /* a launch error, reported by cudaGetLastError */
};

inline State S;

inline void fail(const char *what) {
    fprintf(stderr, "cuda_emu: %s\n", what);
    abort();
}

inline void yield() { swapcontext(&S.fib[S.cur].ctx, &S.sched); }

/* Spin on a generation counter until it moves (yielding to the other fibers). */
inline void wait_gen(const unsigned long *gen, unsigned long g) {
    long spins = 0;
    while (*gen == g) {
        if (++spins > 100000000L) fail("deadlock: a barrier is never reached by every thread");
        yield();
    }
}

inline int warp_of(int t) { return t / WARP; }

/* Barrier of the block's live threads. */
inline void block_barrier() {
    unsigned long g = S.bar_gen;
    if (++S.bar_count >= S.alive) {
        S.bar_count = 0;
        S.bar_gen++;
        return;
    }
    wait_gen(&S.bar_gen, g);
}

/* Barrier of the live threads of the current thread's warp. */
inline void warp_barrier() {
    int w = warp_of(S.cur);
    unsigned long g = S.wgen[w];
    if (++S.wcount[w] >= S.walive[w]) {
        S.wcount[w] = 0;
        S.wgen[w]++;
        return;
    }
    wait_gen(&S.wgen[w], g);
}

/* A thread ended: barriers it would have completed are released. */
inline void thread_exit() {
    int w = warp_of(S.cur);
    S.fib[S.cur].done = 1;
    S.alive--;
    S.walive[w]--;
    if (S.bar_count > 0 && S.bar_count >= S.alive) S.bar_count = 0, S.bar_gen++;
    if (S.wcount[w] > 0 && S.wcount[w] >= S.walive[w]) S.wcount[w] = 0, S.wgen[w]++;
}

inline void trampoline() {
    (*S.body)();
    thread_exit();
}

inline int run_order() {
    if (S.order < 0) {
        const char *e = getenv("CUDA_EMU_ORDER");
        S.order = !e || !strcmp(e, "fwd") ? 0 : !strcmp(e, "rev") ? 1 : 2;
    }
    return S.order;
}

inline uint64_t next_rand() {
    S.rng ^= S.rng << 13, S.rng ^= S.rng >> 7, S.rng ^= S.rng << 17;
    return S.rng;
}

inline void run_block(size_t dyn_bytes) {
    int n = S.nthreads;
    if (dyn_bytes) memset(S.dyn.data(), 0xFF, dyn_bytes);
    for (int t = 0; t < n; t++) {
        Fiber &f = S.fib[t];
        f.tid = dim3(t % S.block_dim.x, t / S.block_dim.x % S.block_dim.y, t / (S.block_dim.x * S.block_dim.y));
        f.done = 0;
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = S.stacks.data() + (size_t)t * STACK;
        f.ctx.uc_stack.ss_size = STACK;
        f.ctx.uc_link = &S.sched;
        makecontext(&f.ctx, trampoline, 0);
    }
    S.alive = n;
    S.bar_count = 0;
    for (int w = 0; w * WARP < n; w++) {
        S.wcount[w] = 0;
        S.walive[w] = std::min((int)WARP, n - w * (int)WARP);
    }
    std::vector<int> ord(n);
    for (int t = 0; t < n; t++) ord[t] = run_order() == 1 ? n - 1 - t : t;
    while (S.alive > 0) {
        if (run_order() == 2)
            for (int t = n - 1; t > 0; t--) std::swap(ord[t], ord[next_rand() % (uint64_t)(t + 1)]);
        for (int k = 0; k < n; k++) {
            int t = ord[k];
            if (S.fib[t].done) continue;
            S.cur = t;
            swapcontext(&S.sched, &S.fib[t].ctx);
        }
    }
}

/* Runs body for every thread of every block. */
inline void launch(const void *kernel, dim3 grid, dim3 block, size_t dyn_bytes, const std::function<void()> &body) {
    size_t n = (size_t)block.x * block.y * block.z;
    size_t limit = 48 << 10;
    auto it = S.smem_limit.find(kernel);
    if (it != S.smem_limit.end()) limit = it->second;
    if (n == 0 || n > 1024 || grid.y > 65535 || grid.z > 65535 || grid.x == 0 || dyn_bytes > limit) {
        S.sticky = 1;
        return;
    }
    S.nthreads = (int)n;
    S.block_dim = block;
    S.grid_dim = grid;
    S.body = &body;
    if (S.fib.size() < n) {
        S.fib.resize(n);
        S.stacks.assign(n * STACK, 0);
        S.slot.resize(n);
        S.wgen.resize((n + WARP - 1) / WARP);
        S.wcount.resize((n + WARP - 1) / WARP);
        S.walive.resize((n + WARP - 1) / WARP);
    }
    if (S.dyn.size() < dyn_bytes) S.dyn.resize(dyn_bytes);
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                S.block_idx = dim3(x, y, z);
                run_block(dyn_bytes);
            }
}

inline const dim3 &tid() { return S.fib[S.cur].tid; }

template <class T> inline T shfl(T v, int src_lane, int width) {
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    int lane = S.cur % WARP, base = S.cur - lane;
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    S.slot[S.cur] = bits;
    warp_barrier();
    T r = v;
    int seg = lane / width * width;
    if (src_lane >= seg && src_lane < seg + width && base + src_lane < S.nthreads) memcpy(&r, &S.slot[base + src_lane], sizeof r);
    warp_barrier();
    return r;
}

} // namespace emu

#define threadIdx (emu::tid())
#define blockIdx (emu::S.block_idx)
#define blockDim (emu::S.block_dim)
#define gridDim (emu::S.grid_dim)

inline void __syncthreads() { emu::block_barrier(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { (void)mask; emu::warp_barrier(); }
template <class T> inline T __shfl_xor_sync(unsigned mask, T v, int m, int width = 32) {
    (void)mask;
    return emu::shfl(v, (emu::S.cur % 32) ^ m, width);
}
template <class T> inline T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32) {
    (void)mask;
    return emu::shfl(v, (emu::S.cur % 32) + (int)d, width);
}
template <class T> inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    (void)mask;
    return emu::shfl(v, (emu::S.cur % 32) / width * width + src % width, width);
}

/* The kernel launch: CU_LAUNCH(kernel, grid, block, shared bytes, stream, args...). */
#define CU_LAUNCH(kernel, grid, block, smem, stream, ...)                                                           \
    ((void)(stream), emu::launch((const void *)(kernel), (grid), (block), (smem), [=]() { (kernel)(__VA_ARGS__); }))
#define CU_DYN_SHARED(type, name) type *name = (type *)emu::S.dyn.data()

/* ---- the runtime API ------------------------------------------------------------------ */

typedef int cudaError_t;
typedef struct EmuStream *cudaStream_t;
enum { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorInvalidConfiguration = 9, cudaErrorNoDevice = 100 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
enum { cudaStreamNonBlocking = 1 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
enum cudaDeviceAttr { cudaDevAttrMaxSharedMemoryPerBlockOptin, cudaDevAttrMultiProcessorCount };

inline cudaError_t cudaGetDeviceCount(int *n) {
    const char *e = getenv("CUDA_EMU_DEVICES"); /* "0": behave as a machine without a GPU */
    *n = e ? atoi(e) : 1;
    return *n ? cudaSuccess : cudaErrorNoDevice;
}
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int) {
    *v = a == cudaDevAttrMaxSharedMemoryPerBlockOptin ? 227 << 10 : 132;
    return cudaSuccess;
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned) {
    *s = (cudaStream_t)&emu::S;
    return cudaSuccess;
}
inline cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
inline cudaError_t cudaMalloc(void **p, size_t bytes) {
    *p = aligned_alloc(256, (bytes + 255) / 256 * 256);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
inline cudaError_t cudaFree(void *p) {
    free(p);
    return cudaSuccess;
}
inline cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t) {
    memset(p, v, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t bytes, cudaMemcpyKind, cudaStream_t) {
    memcpy(d, s, bytes);
    return cudaSuccess;
}
inline cudaError_t cudaGetLastError(void) {
    cudaError_t e = emu::S.sticky ? cudaErrorInvalidConfiguration : cudaSuccess;
    emu::S.sticky = 0;
    return e;
}
inline const char *cudaGetErrorString(cudaError_t e) {
    return e == cudaSuccess ? "no error" : e == cudaErrorMemoryAllocation ? "out of memory"
                                       : e == cudaErrorNoDevice          ? "no CUDA-capable device is detected"
                                                                         : "invalid configuration argument";
}
template <class K> inline cudaError_t cudaFuncSetAttribute(K kernel, cudaFuncAttribute, int v) {
    emu::S.smem_limit[(const void *)kernel] = (size_t)v;
    return cudaSuccess;
}

/* ---- bfloat16 (cuda_bf16.h) ------------------------------------------------------------- */

/* The bits of a bfloat16: the high half of the fp32 of the same value. */
struct __nv_bfloat16 {
    uint16_t x;
};
/* Round to nearest, ties to even (backend.h bf16_round computes the same bits). */
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) u |= 0x00400000u;
    else u += 0x7fffu + ((u >> 16) & 1u);
    __nv_bfloat16 b;
    b.x = (uint16_t)(u >> 16);
    return b;
}
inline float __bfloat162float(__nv_bfloat16 b) {
    uint32_t u = (uint32_t)b.x << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

/* ---- cuBLAS: cublasGemmEx in fp32, column-major ----------------------------------------- */

typedef struct EmuBlas *cublasHandle_t;
typedef int cublasStatus_t;
typedef enum { CUBLAS_OP_N, CUBLAS_OP_T } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH, CUBLAS_PEDANTIC_MATH } cublasMath_t;
typedef enum { CUDA_R_32F, CUDA_R_16BF } cudaDataType;
typedef enum { CUBLAS_COMPUTE_32F } cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;
enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_INVALID_VALUE = 7 };

inline cublasStatus_t cublasCreate(cublasHandle_t *h) {
    *h = (cublasHandle_t)&emu::S;
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) { return CUBLAS_STATUS_SUCCESS; }
inline cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }
inline const char *cublasGetStatusString(cublasStatus_t s) { return s ? "CUBLAS_STATUS_INVALID_VALUE" : "CUBLAS_STATUS_SUCCESS"; }

/* Element i of a GEMM input of type t (CUDA_R_32F or CUDA_R_16BF) as a float. */
inline float emu_gemm_in(const void *p, cudaDataType t, size_t i) {
    return t == CUDA_R_16BF ? __bfloat162float(((const __nv_bfloat16 *)p)[i]) : ((const float *)p)[i];
}

/* C (m,n) = alpha·op(A)·op(B) + beta·C, column-major, op(A) (m,k), op(B) (k,n); beta = 0 does not read C.
 * A and B are CUDA_R_32F or CUDA_R_16BF (the same type), C CUDA_R_32F; products accumulate in fp32. */
inline cublasStatus_t cublasGemmEx(cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                   const void *alpha, const void *A, cudaDataType at, int lda, const void *B,
                                   cudaDataType bt, int ldb, const void *beta, void *C, cudaDataType ct, int ldc,
                                   cublasComputeType_t, cublasGemmAlgo_t) {
    if (m < 0 || n < 0 || k < 0 || lda < (ta == CUBLAS_OP_N ? m : k) || ldb < (tb == CUBLAS_OP_N ? k : n) || ldc < m ||
        lda < 1 || ldb < 1 || ldc < 1 || at != bt || ct != CUDA_R_32F)
        return CUBLAS_STATUS_INVALID_VALUE;
    float *c = (float *)C, al = *(const float *)alpha, be = *(const float *)beta;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            float s = 0;
            for (int p = 0; p < k; p++) {
                float x = emu_gemm_in(A, at, ta == CUBLAS_OP_N ? i + (size_t)p * lda : p + (size_t)i * lda);
                float y = emu_gemm_in(B, bt, tb == CUBLAS_OP_N ? p + (size_t)j * ldb : j + (size_t)p * ldb);
                s += x * y;
            }
            float *cij = c + i + (size_t)j * ldc;
            *cij = be == 0.0f ? al * s : al * s + be * *cij;
        }
    return CUBLAS_STATUS_SUCCESS;
}

#endif
