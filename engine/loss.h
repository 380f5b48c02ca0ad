/* Losses (ALGORITHM.md §1): NTP cross-entropy and the JEPA metrics table.
 *
 *   L = gamma * L_NTP + lambda * d(Pred(Enc(Text)), Enc(Code))     (paper eq. 2, 3)
 *
 * Enc reads h, the final-RMSNorm output, at the batch's enc_text / enc_code
 * token indices. Every tensor operation runs on the model's backend; a JEPA
 * metric is a row of a table built from two backend ops (row_stats and
 * row_axpby), so adding a metric touches this table and its test only.
 * Every reduction is in double. */
#ifndef ENGINE_LOSS_H
#define ENGINE_LOSS_H

#include "batch.h"
#include "model.h"

/* One row of the JEPA metric table: d over B pairs (u_b, c_b) of D-vectors,
 * from the per-row statistics st (B,4) = [u·c, u·u, c·c, |u−c|²]
 * (backend row_stats). Its gradient has the form
 *   ∂d/∂u_b = au_b u_b + bu_b c_b,   ∂d/∂c_b = ac_b c_b + bc_b u_b,
 * so `coeffs` returns those four (B) coefficients times scale. */
typedef struct JepaMetric {
    const char *name;
    double (*forward)(const double *st, int B, int D);
    void (*coeffs)(const double *st, int B, int D, double scale, double *au, double *bu, double *ac, double *bc);
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

/* Reusable device buffers of loss_step (on the backend of the model they were
 * first used with). Zero-initialise; free with loss_work_free. */
typedef struct LossWork {
    Backend *be;
    float *hsel, *logits, *dh, *U, *Cc, *dU, *dC, *rowloss;
    int *rows, *tgt, *enc;
    double *stats, *coef;
    size_t cap[13];
    float *host_loss;      /* host (M) per-row losses */
    int *host_rows, *host_tgt;
    double *host_stats, *host_coef;
    size_t host_cap;
} LossWork;

/* d of U, Cc device (B, D) into *d; with dU, dC non-NULL (device (B, D)),
 * they += scale · ∂d/∂U, scale · ∂d/∂Cc. Returns 0 or -1 (out of memory). */
int jepa_metric_apply(Backend *be, const JepaMetric *mt, const float *U, const float *Cc, float *dU, float *dC, int B,
                      int D, double scale, LossWork *w, double *d);

/* Token-mean NTP cross-entropy of h (n, C) at the batch's target tokens
 * through the LM head, into *loss (0 when there are no targets). With dh
 * non-NULL, dh (n, C) += scale * ∂L/∂h and the LM head gradient accumulates
 * into m->grads. Returns 0 or -1 (out of memory). */
int ntp_loss(Model *m, const Batch *b, const float *h, float *dh, double scale, LossWork *w, double *loss);

/* Forward the model on b, compute the losses and, with backward=1, ACCUMULATE
 * the gradient of out->total into m->grads. Returns 0 or -1 (out of memory). */
int loss_step(Model *m, const Batch *b, const LossOpts *o, LossWork *w, LossOut *out, int backward);

/* Greedy next tokens: for m rows of h device (·, C) picked by rows (host,
 * m), the LM head's argmax into tok (host, m). Returns 0 or -1. */
int lm_head_argmax(Model *md, const float *h, const int *rows, int m, int *tok, LossWork *w);

void loss_work_free(LossWork *w);

#endif
