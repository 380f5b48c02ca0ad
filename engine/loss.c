/* NTP cross-entropy and the JEPA metric table, on the model's backend. */
#include "loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Device buffer slots of LossWork. */
enum {
    WB_HSEL, WB_LOGITS, WB_DH, WB_U, WB_C, WB_DU, WB_DC, WB_ROWLOSS, WB_ROWS, WB_TGT, WB_ENC, WB_STATS, WB_COEF,
    WB_PN, WB_TN, WB_SIM, WB_DPN, WB_DTN, WB_NCE_TGT, WB_NCE_LOSS, WB_PL, WB_DPL, WB_CSR, WB_CSRW
};

/* Slot i of w holding at least `bytes` on backend be (reallocated when smaller). */
static void *dev(LossWork *w, Backend *be, int i, size_t bytes) {
    if (w->be && w->be != be) loss_work_free(w); /* buffers belong to one backend */
    w->be = be;
    if (bytes <= w->cap[i] && w->slot[i]) return w->slot[i];
    be->free(be, w->slot[i]);
    w->slot[i] = be->alloc(be, bytes ? bytes : 64);
    w->cap[i] = w->slot[i] ? bytes : 0;
    return w->slot[i];
}
#define DEV(w, be, i, type, bytes) ((type *)dev(w, be, i, bytes))

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

/* The pairwise metrics: row statistics, d on the host, gradient coefficients. */
static int pairwise_apply(Backend *be, const JepaMetric *mt, const float *P, const float *T, float *dP, float *dT,
                          int B, int D, double scale, double tau, LossWork *w, double *d) {
    (void)tau;
    double *st = DEV(w, be, WB_STATS, double, (size_t)4 * B * sizeof(double));
    double *cf = DEV(w, be, WB_COEF, double, (size_t)4 * B * sizeof(double));
    if (!st || !cf || host_reserve(w, (size_t)B)) return -1;
    be->row_stats(be, st, P, T, B, D);
    be->download(be, w->host_stats, st, (size_t)4 * B * sizeof(double));
    *d = mt->forward(w->host_stats, B, D);
    if (dP && dT) {
        double *h = w->host_coef;
        mt->coeffs(w->host_stats, B, D, scale, h, h + B, h + 2 * B, h + 3 * B);
        be->upload(be, cf, h, (size_t)4 * B * sizeof(double));
        be->row_axpby(be, dP, cf, P, cf + B, T, B, D);
        be->row_axpby(be, dT, cf + 2 * B, T, cf + 3 * B, P, B, D);
    }
    return 0;
}

/* x̂ (B,D) = x / max(|x|, eps) through row_axpby; inv (B) host receives 1/max(|x|, eps). */
static void normalise_rows(Backend *be, float *xn, const float *x, const double *st_sq, int col, int B, int D,
                           double *inv, double *zero, double *dev_inv, double *dev_zero) {
    for (int b = 0; b < B; b++) inv[b] = 1.0 / fmax(sqrt(st_sq[4 * b + col]), NORM_EPS), zero[b] = 0.0;
    be->upload(be, dev_inv, inv, (size_t)B * sizeof(double));
    be->upload(be, dev_zero, zero, (size_t)B * sizeof(double));
    be->zero(be, xn, (size_t)B * D * sizeof(float));
    be->row_axpby(be, xn, dev_inv, x, dev_zero, x, B, D);
}

/* Backward of x̂ = x/|x|: dx += (dx̂ − (dx̂·x̂) x̂) / |x|. */
static int normalise_backward(Backend *be, float *dx, const float *dxn, const float *xn, const double *inv, int B,
                              int D, LossWork *w) {
    double *st = DEV(w, be, WB_STATS, double, (size_t)4 * B * sizeof(double));
    double *cf = DEV(w, be, WB_COEF, double, (size_t)4 * B * sizeof(double));
    if (!st || !cf) return -1;
    be->row_stats(be, st, dxn, xn, B, D);
    be->download(be, w->host_stats, st, (size_t)4 * B * sizeof(double));
    for (int b = 0; b < B; b++) w->host_coef[b] = inv[b], w->host_coef[B + b] = -w->host_stats[4 * b] * inv[b];
    be->upload(be, cf, w->host_coef, (size_t)2 * B * sizeof(double));
    be->row_axpby(be, dx, cf, dxn, cf + B, xn, B, D);
    return 0;
}

/* InfoNCE (ALGORITHM.md §1): S (B,B) = P̂ T̂ᵀ / τ, d = mean_b CE(S_b, b): the
 * other examples of the batch are the negatives. Backward: dS from the
 * cross-entropy, dP̂ = dS T̂/τ, dT̂ = dSᵀ P̂/τ, then through the normalisation. */
static int infonce_apply(Backend *be, const JepaMetric *mt, const float *P, const float *T, float *dP, float *dT, int B,
                         int D, double scale, double tau, LossWork *w, double *d) {
    (void)mt;
    size_t BD = (size_t)B * D * sizeof(float);
    float *pn = DEV(w, be, WB_PN, float, BD), *tn = DEV(w, be, WB_TN, float, BD);
    float *S = DEV(w, be, WB_SIM, float, (size_t)B * B * sizeof(float));
    float *rl = DEV(w, be, WB_NCE_LOSS, float, (size_t)B * sizeof(float));
    int *tg = DEV(w, be, WB_NCE_TGT, int, (size_t)B * sizeof(int));
    double *st = DEV(w, be, WB_STATS, double, (size_t)4 * B * sizeof(double));
    double *cf = DEV(w, be, WB_COEF, double, (size_t)4 * B * sizeof(double));
    double *h = malloc((size_t)7 * B * sizeof(double)); /* stats (4B), 1/|p| (B), 1/|t| (B), zeros (B) */
    int rc = -1;
    if (!pn || !tn || !S || !rl || !tg || !st || !cf || !h || host_reserve(w, (size_t)B)) goto out;
    double *ip = h + 4 * B, *it = ip + B, *zero = it + B;
    be->row_stats(be, st, P, T, B, D);
    be->download(be, h, st, (size_t)4 * B * sizeof(double));
    normalise_rows(be, pn, P, h, 1, B, D, ip, zero, cf, cf + B);
    normalise_rows(be, tn, T, h, 2, B, D, it, zero, cf + 2 * B, cf + 3 * B);
    for (int b = 0; b < B; b++) w->host_tgt[b] = b;
    be->upload(be, tg, w->host_tgt, (size_t)B * sizeof(int));
    be->gemm(be, 0, 1, B, B, D, (float)(1.0 / tau), pn, D, tn, D, 0.0f, S, B);
    int grad = dP && dT;
    be->cross_entropy(be, rl, grad ? S : NULL, S, tg, B, B, (float)(scale / B));
    be->download(be, w->host_loss, rl, (size_t)B * sizeof(float));
    double tot = 0;
    for (int b = 0; b < B; b++) tot += w->host_loss[b];
    *d = tot / B;
    rc = 0;
    if (!grad) goto out;
    float *dpn = DEV(w, be, WB_DPN, float, BD), *dtn = DEV(w, be, WB_DTN, float, BD);
    if (!dpn || !dtn) { rc = -1; goto out; }
    be->gemm(be, 0, 0, B, D, B, (float)(1.0 / tau), S, B, tn, D, 0.0f, dpn, D);
    be->gemm(be, 1, 0, B, D, B, (float)(1.0 / tau), S, B, pn, D, 0.0f, dtn, D);
    rc = normalise_backward(be, dP, dpn, pn, ip, B, D, w) || normalise_backward(be, dT, dtn, tn, it, B, D, w) ? -1 : 0;
out:
    free(h);
    return rc;
}

static const JepaMetric METRICS[] = {
    {"cosine", cosine_forward, cosine_coeffs, pairwise_apply},
    {"l2", l2_forward, l2_coeffs, pairwise_apply},
    {"mse", mse_forward, mse_coeffs, pairwise_apply},
    {"infonce", NULL, NULL, infonce_apply},
};

const JepaMetric *jepa_metric(const char *name) {
    for (size_t i = 0; i < sizeof METRICS / sizeof METRICS[0]; i++)
        if (!strcmp(METRICS[i].name, name)) return &METRICS[i];
    return NULL;
}

int jepa_metric_apply(Backend *be, const JepaMetric *mt, const float *P, const float *T, float *dP, float *dT, int B,
                      int D, double scale, double tau, LossWork *w, double *d) {
    return mt->apply(be, mt, P, T, dP, dT, B, D, scale, tau, w, d);
}

LossOpts loss_opts(const Config *c) {
    int jepa = !strcmp(c->loss, "jepa"), stp = !strcmp(c->loss, "stp"), rk = jepa_reg_kind(c->jepa_reg);
    LossOpts o = {c->gamma, jepa || stp ? c->lambda : 0.0, jepa ? jepa_metric(c->jepa_metric) : NULL, c->infonce_tau,
                  !strcmp(c->pooling, "mean"), !strcmp(c->direction, "code2text"), !strcmp(c->predictor, "linear"),
                  stp, stp_weight_mode(c->stp_weight), !strcmp(c->stp_span, "e2e"), NULL,
                  {jepa && rk > 0 ? (JepaRegKind)rk : JEPA_REG_NONE, c->jepa_reg_weight, c->sigreg_slices,
                   c->vicreg_var, c->vicreg_cov, NULL}};
    return o;
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
    float *hsel = DEV(w, be, WB_HSEL, float, (size_t)K * C * sizeof(float));
    float *lg = DEV(w, be, WB_LOGITS, float, (size_t)K * V * sizeof(float));
    float *rl = DEV(w, be, WB_ROWLOSS, float, (size_t)M * sizeof(float));
    int *rows = DEV(w, be, WB_ROWS, int, (size_t)M * sizeof(int)), *tg = DEV(w, be, WB_TGT, int, (size_t)M * sizeof(int));
    if (!hsel || !lg || !rl || !rows || !tg) return -1;
    be->upload(be, rows, w->host_rows, (size_t)M * sizeof(int));
    be->upload(be, tg, w->host_tgt, (size_t)M * sizeof(int));
    const float *W = model_param(m, m->tid_lm_head);
    float *dW = model_grad(m, m->tid_lm_head);
    for (int i0 = 0; i0 < M; i0 += K) {
        int k = M - i0 < K ? M - i0 : K;
        be->gather_rows(be, hsel, h, rows + i0, k, C);
        be->linear_forward(be, lg, hsel, W, k, C, V, m->dtype);
        be->cross_entropy(be, rl + i0, dh ? lg : NULL, lg, tg + i0, k, V, (float)(scale / M));
        if (!dh) continue;
        /* dW += dlogitsᵀ · hsel ; dhsel = dlogits · W ; dh[rows] += dhsel */
        if (dW) be->linear_backward(be, NULL, dW, lg, hsel, W, k, C, V, m->dtype, DX_ADD);
        be->linear_backward(be, hsel, NULL, lg, NULL, W, k, C, V, m->dtype, DX_SET);
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
    float *hsel = DEV(w, be, WB_HSEL, float, (size_t)m * C * sizeof(float));
    float *lg = DEV(w, be, WB_LOGITS, float, (size_t)m * V * sizeof(float));
    int *dr = DEV(w, be, WB_ROWS, int, (size_t)m * sizeof(int)), *dt = DEV(w, be, WB_TGT, int, (size_t)m * sizeof(int));
    if (!hsel || !lg || !dr || !dt) return -1;
    be->upload(be, dr, rows, (size_t)m * sizeof(int));
    be->gather_rows(be, hsel, h, dr, m, C);
    be->linear_forward(be, lg, hsel, model_param(md, md->tid_lm_head), m, C, V, md->dtype);
    be->argmax_rows(be, dt, lg, m, V);
    be->download(be, tok, dt, (size_t)m * sizeof(int));
    return 0;
}

/* ---- One step ------------------------------------------------------------------ */

/* Readout CSR of the JEPA term (rows 0..B−1 the predictor side, B..2B−1 the
 * target side): one token of weight 1 (pooling=last) or the view's content
 * tokens of weight 1/len (pooling=mean). Uploads ptr, idx and w. 0 or -1. */
static int readout_csr(Backend *be, const Batch *b, const LossOpts *o, LossWork *w, int **dptr, float **dw) {
    int B = b->nex, nnz = 0;
    size_t need = (size_t)2 * B + 1 + (size_t)b->n * 2;
    if (need > w->host_csr_cap) {
        free(w->host_csr); free(w->host_w);
        w->host_csr = malloc(need * sizeof(int));
        w->host_w = malloc(need * sizeof(float));
        w->host_csr_cap = w->host_csr && w->host_w ? need : 0;
        if (!w->host_csr_cap) return -1;
    }
    int *ptr = w->host_csr, *idx = ptr + 2 * B + 1;
    for (int r = 0; r < 2 * B; r++) {
        int e = r % B, pred_side = r < B, text = pred_side != o->code2text; /* which view this row reads */
        ptr[r] = nnz;
        if (!o->pooling_mean) {
            idx[nnz] = text ? b->enc_text[e] : b->enc_code[e], w->host_w[nnz++] = 1.0f;
            continue;
        }
        const int *sp = text ? b->text_span + 2 * e : b->code_span + 2 * e;
        for (int t = sp[0]; t <= sp[1]; t++) idx[nnz] = t, w->host_w[nnz++] = 1.0f / (float)(sp[1] - sp[0] + 1);
    }
    ptr[2 * B] = nnz;
    *dptr = DEV(w, be, WB_CSR, int, (size_t)(2 * B + 1 + nnz) * sizeof(int));
    *dw = DEV(w, be, WB_CSRW, float, (size_t)(nnz ? nnz : 1) * sizeof(float));
    if (!*dptr || !*dw) return -1;
    be->upload(be, *dptr, ptr, (size_t)(2 * B + 1 + nnz) * sizeof(int));
    be->upload(be, *dw, w->host_w, (size_t)nnz * sizeof(float));
    return 0;
}

/* The JEPA term of batch b on h (ALGORITHM.md §1): readouts R = [P; T] (2B, C)
 * through row_combine, Pred = P·Wᵀ under predictor=linear, d(Pred, T) into
 * *out and the regulariser R(Pred, T) of o->reg into *reg (jepa_reg.h); with
 * dh their gradient, through the same ops backwards. */
static int jepa_loss(Model *m, const Batch *b, const float *h, float *dh, const LossOpts *o, LossWork *w,
                     double *out, double *reg) {
    Backend *be = m->be;
    int C = m->cfg.dim, B = b->nex, *csr;
    size_t BC = (size_t)B * C * sizeof(float);
    float *R = DEV(w, be, WB_U, float, 2 * BC), *dR = DEV(w, be, WB_DU, float, 2 * BC), *cw;
    if (!R || !dR || readout_csr(be, b, o, w, &csr, &cw)) return -1;
    be->row_combine(be, R, h, csr, csr + 2 * B + 1, cw, 2 * B, C);
    float *P = R, *T = R + (size_t)B * C, *dP = dR, *dT = dR + (size_t)B * C;
    int regon = o->reg.kind != JEPA_REG_NONE;
    int lin = o->predictor_linear && m->tid_predictor >= 0;
    int grad = dh && (o->lambda != 0.0 || (regon && o->reg.weight != 0.0));
    float *PL = P, *dPL = dP;
    if (lin) {
        PL = DEV(w, be, WB_PL, float, BC);
        dPL = DEV(w, be, WB_DPL, float, BC);
        if (!PL || !dPL) return -1;
        be->linear_forward(be, PL, P, model_param(m, m->tid_predictor), B, C, C, m->dtype);
    }
    if (grad) be->zero(be, dR, 2 * BC);
    if (grad && lin) be->zero(be, dPL, BC);
    if (jepa_metric_apply(be, o->metric, PL, T, grad ? dPL : NULL, grad ? dT : NULL, B, C, o->lambda, o->tau, w, out))
        return -1;
    JepaRegOut ro;
    if (jepa_reg_apply(be, &o->reg, PL, T, grad ? dPL : NULL, grad ? dT : NULL, B, C, o->reg.weight, &w->reg, &ro))
        return -1;
    *reg = ro.r;
    if (!grad) return 0;
    if (lin)
        be->linear_backward(be, dP, model_grad(m, m->tid_predictor), dPL, P, model_param(m, m->tid_predictor), B, C, C,
                            m->dtype, DX_ADD);
    be->row_combine_backward(be, dh, dR, csr, csr + 2 * B + 1, cw, 2 * B, C);
    return 0;
}

int loss_step(Model *m, const Batch *b, const LossOpts *o, LossWork *w, LossOut *out, int backward) {
    Backend *be = m->be;
    int C = m->cfg.dim;
    float *h = model_forward(m, b);
    if (!h) return -1;
    float *dh = NULL;
    if (backward) {
        if (!(dh = DEV(w, be, WB_DH, float, (size_t)b->n * C * sizeof(float)))) return -1;
        be->zero(be, dh, (size_t)b->n * C * sizeof(float));
    }
    out->ntargets = b->ntargets;
    if (ntp_loss(m, b, h, dh, o->gamma, w, &out->ntp)) return -1;
    out->jepa = out->reg = 0.0;
    if (b->jepa && o->metric && jepa_loss(m, b, h, dh, o, w, &out->jepa, &out->reg)) return -1;
    if (o->stp && stp_loss(be, b, h, dh, C, o->lambda, o->stp_weight, o->stp_e2e, o->stp_rng, &w->stp, &out->jepa))
        return -1;
    out->total = o->gamma * out->ntp + o->lambda * out->jepa + o->reg.weight * out->reg;
    if (backward) return model_backward(m, b, dh);
    return 0;
}

void loss_work_free(LossWork *w) {
    stp_work_free(&w->stp);
    if (w->be)
        for (int i = 0; i < LOSS_WORK_SLOTS; i++) w->be->free(w->be, w->slot[i]);
    free(w->host_loss); free(w->host_rows); free(w->host_tgt); free(w->host_stats); free(w->host_coef);
    free(w->host_csr); free(w->host_w);
    jepa_reg_work_free(&w->reg);
    memset(w, 0, sizeof *w);
}
