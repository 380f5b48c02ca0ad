/* AdamW with linear decay and global-norm clipping (ALGORITHM.md §5). */
#ifndef ENGINE_OPTIM_H
#define ENGINE_OPTIM_H

#include <stddef.h>

typedef struct AdamW {
    size_t n;
    float *m, *v;     /* (n) first and second moments */
    long t;           /* updates done */
    double beta1, beta2, eps, weight_decay;
} AdamW;

int adamw_init(AdamW *o, size_t n, double beta1, double beta2, double eps, double weight_decay);
void adamw_free(AdamW *o);

/* Learning rate of update t (0-based) of T: lr * (T - t) / T, no warm-up. */
double lr_linear_decay(double lr, long t, long T);

/* Global L2 norm of g (n), in double. */
double grad_norm(const float *g, size_t n);

/* Scale g so its global norm is at most max_norm (0 = off). Returns the norm
 * before clipping. */
double clip_grad_norm(float *g, size_t n, double max_norm);

/* One AdamW update of p (n) with gradient g at learning rate lr (PyTorch
 * AdamW: decoupled decay p -= lr*wd*p, bias-corrected moments). */
void adamw_step(AdamW *o, float *p, const float *g, double lr);

#endif
