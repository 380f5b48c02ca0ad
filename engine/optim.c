/* AdamW (PyTorch semantics), linear schedule, clipping. */
#include "optim.h"

#include <math.h>
#include <stdlib.h>

int adamw_init(AdamW *o, size_t n, double beta1, double beta2, double eps, double weight_decay) {
    o->n = n;
    o->m = calloc(n, sizeof(float));
    o->v = calloc(n, sizeof(float));
    o->t = 0;
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
    return o->m && o->v ? 0 : -1;
}

void adamw_free(AdamW *o) {
    free(o->m);
    free(o->v);
    o->m = o->v = NULL;
}

double lr_linear_decay(double lr, long t, long T) { return T > 0 ? lr * (double)(T - t) / (double)T : lr; }

double grad_norm(const float *g, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return sqrt(s);
}

double clip_grad_norm(float *g, size_t n, double max_norm) {
    double norm = grad_norm(g, n);
    if (max_norm > 0 && norm > max_norm) {
        float s = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < n; i++) g[i] *= s;
    }
    return norm;
}

void adamw_step(AdamW *o, float *p, const float *g, double lr) {
    o->t++;
    float b1 = (float)o->beta1, b2 = (float)o->beta2;
    float bc1 = (float)(1.0 - pow(o->beta1, (double)o->t)), bc2 = (float)(1.0 - pow(o->beta2, (double)o->t));
    float step = (float)lr / bc1, decay = (float)(1.0 - lr * o->weight_decay), eps = (float)o->eps;
    float rbc2 = 1.0f / sqrtf(bc2);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < o->n; i++) {
        o->m[i] = b1 * o->m[i] + (1.0f - b1) * g[i];
        o->v[i] = b2 * o->v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] = p[i] * decay - step * o->m[i] / (sqrtf(o->v[i]) * rbc2 + eps);
    }
}
