/* RoPE tables: see rope.h. */
#include "rope.h"

#include <math.h>
#include <stdlib.h>

#include "errmsg.h"

static const double PI = 3.14159265358979323846; /* Python's math.pi */

int rope_check(const ModelConfig *mc, char *err, size_t errn) {
    if (!(mc->rope_theta > 0) || !isfinite(mc->rope_theta))
        return errf(err, errn, "rope_theta must be positive and finite (got %g)", (double)mc->rope_theta);
    if (mc->rope_scaling == ROPE_SCALING_NONE) return 0;
    if (mc->rope_scaling != ROPE_SCALING_LLAMA3)
        return errf(err, errn, "rope_scaling: unknown kind %d (none or llama3)", mc->rope_scaling);
    double f = mc->rope_factor, lo = mc->rope_low_freq_factor, hi = mc->rope_high_freq_factor;
    if (!(f > 0) || !isfinite(f)) return errf(err, errn, "rope_scaling.factor must be positive (got %g)", f);
    if (!(lo > 0) || !isfinite(lo))
        return errf(err, errn, "rope_scaling.low_freq_factor must be positive (got %g)", lo);
    if (!(hi > lo) || !isfinite(hi))
        return errf(err, errn, "rope_scaling.high_freq_factor (%g) must be greater than low_freq_factor (%g)", hi, lo);
    if (mc->rope_original_max_pos <= 0)
        return errf(err, errn, "rope_scaling.original_max_position_embeddings must be positive (got %d)",
                    mc->rope_original_max_pos);
    return 0;
}

/* HF's _compute_llama3_parameters, applied in place to inv (half entries). */
static void llama3_scale(const ModelConfig *mc, int half, double *inv) {
    double L = mc->rope_original_max_pos, f = mc->rope_factor;
    double lo = mc->rope_low_freq_factor, hi = mc->rope_high_freq_factor;
    double low_wavelen = L / lo, high_wavelen = L / hi;
    for (int i = 0; i < half; i++) {
        double wavelen = 2 * PI / inv[i];
        if (wavelen < high_wavelen) continue;
        if (wavelen > low_wavelen) {
            inv[i] = inv[i] / f;
        } else {
            double s = (L / wavelen - lo) / (hi - lo);
            inv[i] = (1 - s) * inv[i] / f + s * inv[i];
        }
    }
}

int rope_inv_freq(const ModelConfig *mc, int head_dim, double *inv_freq, char *err, size_t errn) {
    if (head_dim <= 0 || head_dim % 2)
        return errf(err, errn, "head_dim must be positive and even for RoPE (got %d)", head_dim);
    if (rope_check(mc, err, errn)) return -1;
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) inv_freq[i] = pow((double)mc->rope_theta, -2.0 * i / head_dim);
    if (mc->rope_scaling == ROPE_SCALING_LLAMA3) llama3_scale(mc, half, inv_freq);
    return 0;
}

int rope_tables(const ModelConfig *mc, int head_dim, float *cos_out, float *sin_out, char *err, size_t errn) {
    if (mc->max_pos <= 0) return errf(err, errn, "max_position_embeddings must be positive (got %d)", mc->max_pos);
    if (head_dim <= 0 || head_dim % 2)
        return errf(err, errn, "head_dim must be positive and even for RoPE (got %d)", head_dim);
    int half = head_dim / 2;
    double *inv = malloc((size_t)half * sizeof *inv);
    if (!inv) return errf(err, errn, "out of memory for the RoPE tables");
    if (rope_inv_freq(mc, head_dim, inv, err, errn)) { free(inv); return -1; }
    for (int p = 0; p < mc->max_pos; p++)
        for (int i = 0; i < half; i++) {
            double a = (double)p * inv[i];
            cos_out[(size_t)p * half + i] = (float)cos(a);
            sin_out[(size_t)p * half + i] = (float)sin(a);
        }
    free(inv);
    return 0;
}
