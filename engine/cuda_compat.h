/* What the CUDA backend's sources include instead of the CUDA headers: the
 * real runtime and cuBLAS under nvcc, the CPU emulation (cuda_emu.h) when
 * built with CUDA_EMU. Two spellings that differ between them are macros:
 *   CU_LAUNCH(kernel, grid, block, shared bytes, stream, args...)
 *       kernel<<<grid, block, shared bytes, stream>>>(args...); a template
 *       kernel is launched through a function pointer (commas in macros);
 *   CU_DYN_SHARED(type, name)
 *       the block's dynamic shared memory as `type *name` (16-byte aligned). */
#ifndef ENGINE_CUDA_COMPAT_H
#define ENGINE_CUDA_COMPAT_H

#ifdef CUDA_EMU
#include "cuda_emu.h"
#else
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#define CU_LAUNCH(kernel, grid, block, smem, stream, ...) (kernel)<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#define CU_DYN_SHARED(type, name)                                                                                  \
    extern __shared__ float4 cu_dyn_shared_[];                                                                      \
    type *name = (type *)cu_dyn_shared_
#endif

#endif
