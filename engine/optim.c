/* AdamW (PyTorch semantics), linear schedule, clipping: bookkeeping here, the
 * arithmetic in the backend's sum_squares, scale and adamw ops. */
#include "optim.h"

#include <math.h>

int adamw_init(AdamW *o, Backend *be, size_t n, double beta1, double beta2, double eps, double weight_decay) {
    o->be = be;
    o->n = n;
    o->m = be->alloc(be, (n ? n : 1) * sizeof(float));
    o->v = be->alloc(be, (n ? n : 1) * sizeof(float));
    o->t = 0;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    return o->m && o->v ? 0 : -1;
}

void adamw_free(AdamW *o) {
    if (o->be) {
        o->be->free(o->be, o->m);
        o->be->free(o->be, o->v);
    }
    o->m = o->v = NULL;
}

double lr_linear_decay(double lr, long t, long T) { return T > 0 ? lr * (double)(T - t) / (double)T : lr; }

double grad_norm(Backend *be, const float *g, size_t n) { return sqrt(be->sum_squares(be, g, n)); }

double clip_grad_norm(Backend *be, float *g, size_t n, double max_norm) {
    double norm = grad_norm(be, g, n);
    if (max_norm > 0 && norm > max_norm) be->scale(be, g, n, (float)(max_norm / (norm + 1e-6)));
    return norm;
}

void adamw_step(AdamW *o, float *p, const float *g, double lr) {
    o->t++;
    o->be->adamw(o->be, p, g, o->m, o->v, o->n, lr, o->beta1, o->beta2, o->eps, o->weight_decay, o->t);
}
