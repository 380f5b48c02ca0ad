/* Rotary position embedding tables, as Hugging Face's Llama computes them
 * (modeling_rope_utils.py: _compute_default_rope_parameters and, for
 * rope_scaling type "llama3", _compute_llama3_parameters), in double
 * precision, stored as float.
 *
 *   inv_freq_i = theta^(-2i/hd)                          i = 0 .. hd/2-1
 *   llama3: wavelen = 2π / inv_freq_i, with L = original_max_position_embeddings
 *     wavelen < L / high_freq_factor  → inv_freq_i unchanged  (high frequencies)
 *     wavelen > L / low_freq_factor   → inv_freq_i / factor   (low frequencies)
 *     otherwise s = (L / wavelen − low_freq_factor) / (high_freq_factor − low_freq_factor),
 *               inv_freq_i = (1 − s) · inv_freq_i / factor + s · inv_freq_i
 *   cos[p][i] = cos(p · inv_freq_i), sin[p][i] = sin(p · inv_freq_i)
 * (rotate-half layout: element i of a head pairs with element i + hd/2). */
#ifndef ENGINE_ROPE_H
#define ENGINE_ROPE_H

#include <stddef.h>

#include "model.h"

/* Values of ModelConfig.rope_scaling. */
enum { ROPE_SCALING_NONE = 0, ROPE_SCALING_LLAMA3 = 1 };

/* Check rope_theta and the rope scaling fields of mc: theta > 0 and finite;
 * llama3: factor > 0, 0 < low_freq_factor < high_freq_factor, all finite,
 * original_max_position_embeddings > 0. Returns 0 or -1 with err naming the
 * key ("rope_scaling.factor", ...). */
int rope_check(const ModelConfig *mc, char *err, size_t errn);

/* inv_freq (head_dim/2 doubles) for mc->rope_theta and mc's rope scaling.
 * head_dim: even, > 0. Returns 0 or -1 with err (bad head_dim, rope_check). */
int rope_inv_freq(const ModelConfig *mc, int head_dim, double *inv_freq, char *err, size_t errn);

/* Fill cos and sin, each (mc->max_pos, head_dim/2) row-major floats, for
 * positions 0 .. max_pos-1. Without scaling the values are bit-identical to
 * the formula model_init used: (float)cos((double)p * pow(theta, -2.0*i/hd)).
 * Returns 0 or -1 with err (as rope_inv_freq; max_pos <= 0; out of memory). */
int rope_tables(const ModelConfig *mc, int head_dim, float *cos_out, float *sin_out, char *err, size_t errn);

#endif
