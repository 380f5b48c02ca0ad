/* The fp32 -> bf16 conversion of the CUDA backend's bf16 GEMMs (backend.h
 * DTYPE_BF16; the GEMM itself is in backend_cuda.cu). */
#include "cuda_internal.h"

#define THREADS 256

/* dst (n) = bf16(src), round to nearest even; grid-stride */
__global__ void k_to_bf16(__nv_bfloat16 *dst, const float *src, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

extern "C" void cuda_to_bf16(Backend *be, __nv_bfloat16 *dst, const float *src, size_t n) {
    if (!n) return;
    CU_LAUNCH(k_to_bf16, cuda_blocks(n, THREADS), THREADS, 0, cuda_stream(be), dst, src, n);
    cuda_check_launch(be, "bf16 conversion");
}
