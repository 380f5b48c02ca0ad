/* Vectorisable elementwise math for the CPU backend. */
#ifndef ENGINE_MATHX_H
#define ENGINE_MATHX_H

#include <stdint.h>
#include <string.h>

/* exp(x) in float, relative error < 2e-7 over [-87, 88] (Cephes-style:
 * x = n ln2 + r, n = round(x/ln2), |r| <= ln2/2, degree-6 polynomial for e^r, 2^n through the
 * exponent bits). Branch-free, so loops calling it auto-vectorise; the same
 * input gives the same bits on every call. Inputs below -87.3 give 0-ish
 * (exp(-87.3)), above 88.3 are clamped. */
static inline float expf_fast(float x) {
    x = x < -87.3f ? -87.3f : x > 88.3f ? 88.3f : x;
    /* n = round(x / ln2) by the 1.5 * 2^23 trick (no floorf, which does not vectorise) */
    float fn = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { uint32_t u; float f; } scale;
    scale.u = (uint32_t)((int32_t)fn + 127) << 23;
    return p * scale.f;
}

/* Eight floats as one vector value (the GCC / Clang vector extension): one
 * AVX register under -march=native on x86-64, two SSE registers otherwise.
 * Arithmetic is elementwise; a float operand is broadcast (s * v). The
 * helpers take pointers, never vectors by value, so no function's ABI
 * depends on the instruction set. Loads and stores need no alignment. */
typedef float f8 __attribute__((vector_size(32)));

/* *v = p[0..7] */
static inline void f8_load(f8 *v, const float *p) { memcpy(v, p, sizeof *v); }
/* p[0..7] = *v */
static inline void f8_store(float *p, const f8 *v) { memcpy(p, v, sizeof *v); }

#endif
