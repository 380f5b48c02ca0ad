/* AdamW with linear decay and global-norm clipping (ALGORITHM.md §5), on a
 * backend: parameters, gradients and moments are device memory. */
#ifndef ENGINE_OPTIM_H
#define ENGINE_OPTIM_H

#include <stddef.h>

#include "backend.h"

typedef struct AdamW {
    Backend *be;
    size_t n;
    float *m, *v;     /* device (n) first and second moments */
    long t;           /* updates done */
    double beta1, beta2, eps, weight_decay;
} AdamW;

/* Moments for n trainable values, zeroed. 0, or -1 when out of memory. */
int adamw_init(AdamW *o, Backend *be, size_t n, double beta1, double beta2, double eps, double weight_decay);
void adamw_free(AdamW *o);

/* Learning rate of update t (0-based) of T: lr * (T - t) / T, no warm-up. */
double lr_linear_decay(double lr, long t, long T);

/* Global L2 norm of g device (n), accumulated in double in a fixed order. */
double grad_norm(Backend *be, const float *g, size_t n);

/* Scale g device (n) so its global norm is at most max_norm (0 = off), by
 * max_norm / (norm + 1e-6) as PyTorch's clip_grad_norm_. Returns the norm
 * before clipping. */
double clip_grad_norm(Backend *be, float *g, size_t n, double max_norm);

/* One AdamW update of p device (n) with gradient g at learning rate lr
 * (PyTorch AdamW: decoupled decay p -= lr*wd*p, bias-corrected moments). */
void adamw_step(AdamW *o, float *p, const float *g, double lr);

#endif
