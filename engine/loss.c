/* NTP cross-entropy and the JEPA metric table, on the model's backend. */
#include "loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Device buffer slot i of w holding at least `bytes`. */
enum { WB_HSEL, WB_LOGITS, WB_DH, WB_U, WB_C, WB_DU, WB_DC, WB_ROWLOSS, WB_ROWS, WB_TGT, WB_ENC, WB_STATS, WB_COEF };

static void *dev(LossWork *w, Backend *be, int i, void **p, size_t bytes) {
    if (w->be && w->be != be) loss_work_free(w); /* buffers belong to one backend */
    w->be = be;
    if (bytes <= w->cap[i] && *p) return *p;
    be->free(be, *p);
    *p = be->alloc(be, bytes ? bytes : 64);
    w->cap[i] = *p ? bytes : 0;
    return *p;
}
#define DEV(w, be, i, field, bytes) ((__typeof__(w->field))dev(w, be, i, (void **)&w->field, bytes))

/* Host scratch of loss_step: n ints for rows and targets, n floats, 8n doubles. */
static int host_reserve(LossWork *w, size_t n) {
    if (n <= w->host_cap) return 0;
    free(w->host_loss); free(w->host_rows); free(w->host_tgt); free(w->host_stats); free(w->host_coef);
    w->host_loss = malloc(n * sizeof(float));
    w->host_rows = malloc(n * sizeof(int));
    w->host_tgt = malloc(n * sizeof(int));
    w->host_stats = malloc(4 * n * sizeof(double));
    w->host_coef = malloc(4 * n * sizeof(double));
    w->host_cap = n;
    if (w->host_loss && w->host_rows && w->host_tgt && w->host_stats && w->host_coef) return 0;
    w->host_cap = 0;
    return -1;
}

/* ---- JEPA metrics: d and the coefficients of its gradient -------------------------- */

#define NORM_EPS 1e-8

/* d = 1 − mean_b cos(u_b, c_b), norms floored at NORM_EPS */
static double cosine_forward(const double *st, int B, int D) {
    (void)D;
    double s = 0;
    for (int b = 0; b < B; b++)
        s += st[4 * b] / (fmax(sqrt(st[4 * b + 1]), NORM_EPS) * fmax(sqrt(st[4 * b + 2]), NORM_EPS));
    return 1.0 - s / B;
}

/* ∂cos/∂u = c/(|u||c|) − cos·u/|u|²  (and symmetrically for c) */
static void cosine_coeffs(const double *st, int B, int D, double scale, double *au, double *bu, double *ac,
                          double *bc) {
    (void)D;
    for (int b = 0; b < B; b++) {
        double nu = fmax(sqrt(st[4 * b + 1]), NORM_EPS), nc = fmax(sqrt(st[4 * b + 2]), NORM_EPS);
        double cs = st[4 * b] / (nu * nc), g = -scale / B;
        au[b] = -g * cs / (nu * nu);
        bu[b] = g / (nu * nc);
        ac[b] = -g * cs / (nc * nc);
        bc[b] = g / (nu * nc);
    }
}

/* d = mean_b |u_b − c_b|₂ */
static double l2_forward(const double *st, int B, int D) {
    (void)D;
    double s = 0;
    for (int b = 0; b < B; b++) s += sqrt(st[4 * b + 3]);
    return s / B;
}

/* ∂|u−c|/∂u = (u−c)/|u−c| ; subgradient 0 at u = c */
static void l2_coeffs(const double *st, int B, int D, double scale, double *au, double *bu, double *ac, double *bc) {
    (void)D;
    for (int b = 0; b < B; b++) {
        double r = sqrt(st[4 * b + 3]), g = r < NORM_EPS ? 0.0 : scale / B / r;
        au[b] = g, bu[b] = -g, ac[b] = g, bc[b] = -g;
    }
}

/* d = mean over B·D elements of (u − c)² */
static double mse_forward(const double *st, int B, int D) {
    double s = 0;
    for (int b = 0; b < B; b++) s += st[4 * b + 3];
    return s / ((double)B * D);
}

static void mse_coeffs(const double *st, int B, int D, double scale, double *au, double *bu, double *ac, double *bc) {
    (void)st;
    double g = 2.0 * scale / ((double)B * D);
    for (int b = 0; b < B; b++) au[b] = g, bu[b] = -g, ac[b] = g, bc[b] = -g;
}

static const JepaMetric METRICS[] = {
    {"cosine", cosine_forward, cosine_coeffs},
    {"l2", l2_forward, l2_coeffs},
    {"mse", mse_forward, mse_coeffs},
};

const JepaMetric *jepa_metric(const char *name) {
    for (size_t i = 0; i < sizeof METRICS / sizeof METRICS[0]; i++)
        if (!strcmp(METRICS[i].name, name)) return &METRICS[i];
    return NULL;
}

int jepa_metric_apply(Backend *be, const JepaMetric *mt, const float *U, const float *Cc, float *dU, float *dC, int B,
                      int D, double scale, LossWork *w, double *d) {
    double *st = DEV(w, be, WB_STATS, stats, (size_t)4 * B * sizeof(double));
    double *cf = DEV(w, be, WB_COEF, coef, (size_t)4 * B * sizeof(double));
    if (!st || !cf || host_reserve(w, (size_t)B)) return -1;
    be->row_stats(be, st, U, Cc, B, D);
    be->download(be, w->host_stats, st, (size_t)4 * B * sizeof(double));
    *d = mt->forward(w->host_stats, B, D);
    if (dU && dC) {
        double *h = w->host_coef;
        mt->coeffs(w->host_stats, B, D, scale, h, h + B, h + 2 * B, h + 3 * B);
        be->upload(be, cf, h, (size_t)4 * B * sizeof(double));
        be->row_axpby(be, dU, cf, U, cf + B, Cc, B, D);
        be->row_axpby(be, dC, cf + 2 * B, Cc, cf + 3 * B, U, B, D);
    }
    return 0;
}

/* ---- NTP ----------------------------------------------------------------------- */

/* Rows of the LM head processed at once: at most ~16M logits in memory. */
static int ntp_chunk(int V) {
    int c = (int)((16u << 20) / (unsigned)V);
    return c < 1 ? 1 : c;
}

/* Cross-entropy of rows[0..M) of h through the LM head, in chunks; with dh,
 * dh[rows] += scale/M_total · ∂/∂h and the LM head gradient accumulates. */
int ntp_loss(Model *m, const Batch *b, const float *h, float *dh, double scale, LossWork *w, double *loss) {
    Backend *be = m->be;
    int C = m->cfg.dim, V = m->cfg.vocab_size, M = b->ntargets;
    *loss = 0.0;
    if (M == 0) return 0;
    if (host_reserve(w, (size_t)M)) return -1;
    int r = 0;
    for (int t = 0; t < b->n; t++)
        if (b->tgt[t] >= 0) w->host_rows[r] = t, w->host_tgt[r++] = b->tgt[t];
    int K = ntp_chunk(V) < M ? ntp_chunk(V) : M;
    float *hsel = DEV(w, be, WB_HSEL, hsel, (size_t)K * C * sizeof(float));
    float *lg = DEV(w, be, WB_LOGITS, logits, (size_t)K * V * sizeof(float));
    float *rl = DEV(w, be, WB_ROWLOSS, rowloss, (size_t)M * sizeof(float));
    int *rows = DEV(w, be, WB_ROWS, rows, (size_t)M * sizeof(int)), *tg = DEV(w, be, WB_TGT, tgt, (size_t)M * sizeof(int));
    if (!hsel || !lg || !rl || !rows || !tg) return -1;
    be->upload(be, rows, w->host_rows, (size_t)M * sizeof(int));
    be->upload(be, tg, w->host_tgt, (size_t)M * sizeof(int));
    const float *W = model_param(m, m->tid_lm_head);
    float *dW = model_grad(m, m->tid_lm_head);
    for (int i0 = 0; i0 < M; i0 += K) {
        int k = M - i0 < K ? M - i0 : K;
        be->gather_rows(be, hsel, h, rows + i0, k, C);
        be->linear_forward(be, lg, hsel, W, k, C, V);
        be->cross_entropy(be, rl + i0, dh ? lg : NULL, lg, tg + i0, k, V, (float)(scale / M));
        if (!dh) continue;
        /* dW += dlogitsᵀ · hsel ; dhsel = dlogits · W ; dh[rows] += dhsel */
        if (dW) be->linear_backward(be, NULL, dW, lg, hsel, W, k, C, V);
        be->zero(be, hsel, (size_t)k * C * sizeof(float));
        be->linear_backward(be, hsel, NULL, lg, NULL, W, k, C, V);
        be->scatter_add_rows(be, dh, hsel, rows + i0, k, C);
    }
    be->download(be, w->host_loss, rl, (size_t)M * sizeof(float));
    double total = 0;
    for (int i = 0; i < M; i++) total += w->host_loss[i];
    *loss = total / M;
    return 0;
}

int lm_head_argmax(Model *md, const float *h, const int *rows, int m, int *tok, LossWork *w) {
    Backend *be = md->be;
    int C = md->cfg.dim, V = md->cfg.vocab_size;
    if (m <= 0) return 0;
    float *hsel = DEV(w, be, WB_HSEL, hsel, (size_t)m * C * sizeof(float));
    float *lg = DEV(w, be, WB_LOGITS, logits, (size_t)m * V * sizeof(float));
    int *dr = DEV(w, be, WB_ROWS, rows, (size_t)m * sizeof(int)), *dt = DEV(w, be, WB_TGT, tgt, (size_t)m * sizeof(int));
    if (!hsel || !lg || !dr || !dt) return -1;
    be->upload(be, dr, rows, (size_t)m * sizeof(int));
    be->gather_rows(be, hsel, h, dr, m, C);
    be->linear_forward(be, lg, hsel, model_param(md, md->tid_lm_head), m, C, V);
    be->argmax_rows(be, dt, lg, m, V);
    be->download(be, tok, dt, (size_t)m * sizeof(int));
    return 0;
}

/* ---- One step ------------------------------------------------------------------ */

/* The JEPA term of batch b on h: gathers Enc rows, d, and with dh its gradient. */
static int jepa_loss(Model *m, const Batch *b, const float *h, float *dh, const LossOpts *o, LossWork *w,
                     double *out) {
    Backend *be = m->be;
    int C = m->cfg.dim, B = b->nex;
    size_t BC = (size_t)B * C * sizeof(float);
    float *U = DEV(w, be, WB_U, U, BC), *Cc = DEV(w, be, WB_C, Cc, BC);
    float *dU = DEV(w, be, WB_DU, dU, BC), *dC = DEV(w, be, WB_DC, dC, BC);
    int *enc = DEV(w, be, WB_ENC, enc, (size_t)2 * B * sizeof(int));
    if (!U || !Cc || !dU || !dC || !enc) return -1;
    be->upload(be, enc, b->enc_text, (size_t)B * sizeof(int));
    be->upload(be, enc + B, b->enc_code, (size_t)B * sizeof(int));
    be->gather_rows(be, U, h, enc, B, C);
    be->gather_rows(be, Cc, h, enc + B, B, C);
    int grad = dh && o->lambda != 0.0;
    if (grad) {
        be->zero(be, dU, BC);
        be->zero(be, dC, BC);
    }
    if (jepa_metric_apply(be, o->metric, U, Cc, grad ? dU : NULL, grad ? dC : NULL, B, C, o->lambda, w, out))
        return -1;
    if (grad) {
        be->scatter_add_rows(be, dh, dU, enc, B, C);
        be->scatter_add_rows(be, dh, dC, enc + B, B, C);
    }
    return 0;
}

int loss_step(Model *m, const Batch *b, const LossOpts *o, LossWork *w, LossOut *out, int backward) {
    Backend *be = m->be;
    int C = m->cfg.dim;
    float *h = model_forward(m, b);
    if (!h) return -1;
    float *dh = NULL;
    if (backward) {
        if (!(dh = DEV(w, be, WB_DH, dh, (size_t)b->n * C * sizeof(float)))) return -1;
        be->zero(be, dh, (size_t)b->n * C * sizeof(float));
    }
    out->ntargets = b->ntargets;
    if (ntp_loss(m, b, h, dh, o->gamma, w, &out->ntp)) return -1;
    out->jepa = 0.0;
    if (b->jepa && o->metric && jepa_loss(m, b, h, dh, o, w, &out->jepa)) return -1;
    out->total = o->gamma * out->ntp + o->lambda * out->jepa;
    if (backward) return model_backward(m, b, dh);
    return 0;
}

void loss_work_free(LossWork *w) {
    if (w->be) {
        void *d[] = {w->hsel, w->logits, w->dh, w->U, w->Cc, w->dU, w->dC, w->rowloss, w->rows, w->tgt, w->enc,
                     w->stats, w->coef};
        for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) w->be->free(w->be, d[i]);
    }
    free(w->host_loss); free(w->host_rows); free(w->host_tgt); free(w->host_stats); free(w->host_coef);
    memset(w, 0, sizeof *w);
}
