/* Losses (ALGORITHM.md §1): NTP cross-entropy and the JEPA metrics table.
 *
 *   L = gamma * L_NTP + lambda * d(Pred(Enc(Text)), Enc(Code))     (paper eq. 2, 3)
 *       [+ jepa_reg_weight * R(Pred(Enc(Text)), Enc(Code))]         (jepa_reg.h)
 *
 * Enc reads h, the final-RMSNorm output, at the batch's enc_text / enc_code
 * token indices. Every tensor operation runs on the model's backend; a JEPA
 * metric is a row of a table built from two backend ops (row_stats and
 * row_axpby), so adding a metric touches this table and its test only.
 * Every reduction is in double. */
#ifndef ENGINE_LOSS_H
#define ENGINE_LOSS_H

#include "batch.h"
#include "config.h"
#include "jepa_reg.h"
#include "rng.h"
#include "stp.h"
#include "model.h"

typedef struct LossWork LossWork;

/* One row of the JEPA metric table: d over B pairs (p_b, t_b) of D-vectors,
 * p the predictor side (Pred(Enc(Text)) under direction=text2code), t the
 * target side. `apply` computes d into *d and, with dP, dT non-NULL (device
 * (B, D)), adds scale · ∂d/∂P and scale · ∂d/∂T. Returns 0 or -1 (out of
 * memory). The pairwise metrics share one implementation built on the
 * per-row statistics st (B,4) = [p·t, p·p, t·t, |p−t|²] (backend row_stats),
 * whose gradient has the form ∂d/∂p_b = ap_b p_b + bp_b t_b,
 * ∂d/∂t_b = at_b t_b + bt_b p_b (backend row_axpby); InfoNCE uses the batch
 * similarity matrix (gemm, cross_entropy). */
typedef struct JepaMetric {
    const char *name;
    double (*forward)(const double *st, int B, int D);       /* pairwise metrics; NULL for InfoNCE */
    void (*coeffs)(const double *st, int B, int D, double scale, double *ap, double *bp, double *at, double *bt);
    int (*apply)(Backend *be, const struct JepaMetric *mt, const float *P, const float *T, float *dP, float *dT, int B,
                 int D, double scale, double tau, LossWork *w, double *d);
} JepaMetric;

/* Metric by config name (cosine, l2, mse, infonce); NULL if unknown. */
const JepaMetric *jepa_metric(const char *name);

typedef struct LossOpts {
    double gamma, lambda;
    const JepaMetric *metric;
    double tau;            /* InfoNCE temperature */
    int pooling_mean;      /* pooling=mean: Enc = mean over the view's content tokens */
    int code2text;         /* direction=code2text: the Code view is the predictor side */
    int predictor_linear;  /* predictor=linear: Pred = Enc · Wᵀ with the model's jepa_predictor.weight */
    int stp, stp_weight, stp_e2e; /* loss=stp (stp.h): the term is computed on the NTP pass itself */
    Rng *stp_rng;          /* span draws (the run's "stp" stream); NULL: fixed spans (tests) */
    JepaReg reg;           /* anti-collapse regulariser on the JEPA term's two sets (jepa_reg.h); kind NONE:
                              off. reg.rng: the run's "sigreg" stream (NULL: fixed directions, tests) */
} LossOpts;

/* The loss options of a run config (metric NULL unless loss=jepa; reg off
 * unless loss=jepa, with reg.rng NULL: the caller sets the run's stream). */
LossOpts loss_opts(const Config *c);

typedef struct LossOut {
    double ntp;      /* token-mean cross-entropy over the batch's targets (nats) */
    double jepa;     /* d, or 0 when the batch carries no views */
    double total;    /* gamma*ntp + lambda*jepa + reg.weight*reg */
    int ntargets;
    double reg;      /* R of the regulariser (jepa_reg.h), 0 when off or the batch carries no views */
} LossOut;

/* Reusable device buffers of loss_step (on the backend of the model they were
 * first used with). Zero-initialise; free with loss_work_free. */
#define LOSS_WORK_SLOTS 24
struct LossWork {
    Backend *be;
    void *slot[LOSS_WORK_SLOTS]; /* device buffers, see loss.c's WB_* */
    size_t cap[LOSS_WORK_SLOTS];
    float *host_loss;      /* host (M) per-row losses */
    int *host_rows, *host_tgt;
    double *host_stats, *host_coef;
    size_t host_cap;
    int *host_csr;         /* CSR of the readouts: ptr (2B+2), idx (≤ 2n) */
    float *host_w;
    size_t host_csr_cap;
    StpWork stp;
    JepaRegWork reg;
};

/* mt->apply: d of P, T device (B, D) into *d; with dP, dT non-NULL they +=
 * scale · ∂d/∂P, scale · ∂d/∂T. tau: InfoNCE's temperature (ignored by the
 * pairwise metrics). Returns 0 or -1 (out of memory). */
int jepa_metric_apply(Backend *be, const JepaMetric *mt, const float *P, const float *T, float *dP, float *dT, int B,
                      int D, double scale, double tau, LossWork *w, double *d);

/* Token-mean NTP cross-entropy of h (n, C) at the batch's target tokens
 * through the LM head, into *loss (0 when there are no targets). With dh
 * non-NULL, dh (n, C) += scale * ∂L/∂h and the LM head gradient accumulates
 * into m->grads. Afterwards w->host_rows[0..b->ntargets) are the target
 * tokens' batch indices (ascending) and w->host_loss[0..b->ntargets) their
 * cross-entropies in nats (choice scoring reads them). Returns 0 or -1 (out
 * of memory). */
int ntp_loss(Model *m, const Batch *b, const float *h, float *dh, double scale, LossWork *w, double *loss);

/* Forward the model on b, compute the losses and, with backward=1, ACCUMULATE
 * the gradient of out->total into m->grads. Returns 0 or -1 (out of memory,
 * or o->reg needs a backend op m->be lacks: jepa_reg.h). */
int loss_step(Model *m, const Batch *b, const LossOpts *o, LossWork *w, LossOut *out, int backward);

/* Greedy next tokens: for m rows of h device (·, C) picked by rows (host,
 * m), the LM head's argmax into tok (host, m). Returns 0 or -1. */
int lm_head_argmax(Model *md, const float *h, const int *rows, int m, int *tok, LossWork *w);

void loss_work_free(LossWork *w);

#endif
