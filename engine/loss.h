/* Losses (ALGORITHM.md §1): NTP cross-entropy and the JEPA metrics table.
 *
 *   L = gamma * L_NTP + lambda * d(Pred(Enc(Text)), Enc(Code))     (paper eq. 2, 3)
 *
 * Enc reads h, the final-RMSNorm output, at the batch's enc_text / enc_code
 * token indices. Every reduction is in double. */
#ifndef ENGINE_LOSS_H
#define ENGINE_LOSS_H

#include "batch.h"
#include "model.h"

/* One row of the JEPA metric table: d over B pairs of D-vectors. */
typedef struct JepaMetric {
    const char *name;
    /* d(U, Cc) for U, Cc (B, D). */
    double (*forward)(const float *U, const float *Cc, int B, int D);
    /* dU, dC (B, D) += scale * ∂d/∂U, scale * ∂d/∂Cc. */
    void (*backward)(float *dU, float *dC, const float *U, const float *Cc, int B, int D, double scale);
} JepaMetric;

/* Metric by config name (cosine, l2, mse); NULL if unknown. */
const JepaMetric *jepa_metric(const char *name);

typedef struct LossOpts {
    double gamma, lambda;
    const JepaMetric *metric;
} LossOpts;

typedef struct LossOut {
    double ntp;      /* token-mean cross-entropy over the batch's targets (nats) */
    double jepa;     /* d, or 0 when the batch carries no views */
    double total;    /* gamma*ntp + lambda*jepa */
    int ntargets;
} LossOut;

/* Reusable buffers of loss_step. Zero-initialise; free with loss_work_free. */
typedef struct LossWork {
    float *hsel, *logits, *dh, *U, *Cc, *dU, *dC;
    size_t cap_hsel, cap_logits, cap_dh, cap_U, cap_Cc, cap_dU, cap_dC;
} LossWork;

/* Token-mean NTP cross-entropy of h (n, C) at the batch's target tokens
 * through the LM head, into *loss (0 when there are no targets). With dh
 * non-NULL, dh (n, C) += scale * ∂L/∂h and the LM head gradient accumulates
 * into m->grads. Returns 0 or -1 (out of memory). */
int ntp_loss(Model *m, const Batch *b, const float *h, float *dh, double scale, LossWork *w, double *loss);

/* Forward the model on b, compute the losses and, with backward=1, ACCUMULATE
 * the gradient of out->total into m->grads. Returns 0 or -1 (out of memory). */
int loss_step(Model *m, const Batch *b, const LossOpts *o, LossWork *w, LossOut *out, int backward);

void loss_work_free(LossWork *w);

#endif
