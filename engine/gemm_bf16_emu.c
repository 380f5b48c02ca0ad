/* The AVX512-BF16 kernel of gemm_bf16.c with each AVX-512 instruction it uses
 * emulated in portable C: gemm_bf16_avx512_emu (gemm_bf16.h), which runs the
 * kernel's packing, blocking and edge tiles on any CPU (tests). */
#define GEMM_BF16_EMU_BUILD
#include "gemm_bf16.c"
