/* SIGReg and VICReg on the backend (jepa_reg.h). */
#include "jepa_reg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Device buffer slots of JepaRegWork. */
enum { WR_A, WR_Y, WR_DY, WR_STAT, WR_ONES, WR_MU, WR_ZC, WR_COV, WR_DIAG, WR_DIDX, WR_DCOV, WR_DELTA };

int jepa_reg_kind(const char *name) {
    static const char *names[] = {"none", "sigreg", "vicreg"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(names[i], name)) return i;
    return -1;
}

/* Slot i of w holding at least `bytes` on backend be (reallocated when smaller). */
static void *slot(JepaRegWork *w, Backend *be, int i, size_t bytes) {
    if (w->be && w->be != be) jepa_reg_work_free(w); /* buffers belong to one backend */
    w->be = be;
    if (bytes <= w->cap[i] && w->slot[i]) return w->slot[i];
    be->free(be, w->slot[i]);
    w->slot[i] = be->alloc(be, bytes ? bytes : 64);
    w->cap[i] = w->slot[i] ? bytes : 0;
    return w->slot[i];
}

/* Host scratch for n directions' floats and max(D, S) doubles and ints. */
static int host_reserve(JepaRegWork *w, size_t nfloat, size_t nd) {
    size_t need = nfloat > nd ? nfloat : nd;
    if (need <= w->host_cap) return 0;
    free(w->host_a), free(w->host_d), free(w->host_i);
    w->host_a = malloc(need * sizeof(float));
    w->host_d = malloc(need * sizeof(double));
    w->host_i = malloc(need * sizeof(int));
    w->host_cap = w->host_a && w->host_d && w->host_i ? need : 0;
    return w->host_cap ? 0 : -1;
}

void sigreg_directions(Rng *rng, float *A, int D, int S) {
    for (int s = 0; s < S; s++) {
        double nn = 0;
        for (int j = 0; j < D; j++) {
            double g = rng_normal(rng);
            A[(size_t)j * S + s] = (float)g;
            nn += g * g;
        }
        double inv = nn > 0 ? 1.0 / sqrt(nn) : 0.0;
        for (int j = 0; j < D; j++) A[(size_t)j * S + s] = (float)(A[(size_t)j * S + s] * inv);
    }
}

/* ---- SIGReg ----------------------------------------------------------------------- */

int sigreg_set(Backend *be, const float *Z, float *dZ, const float *A, int B, int D, int S, double scale,
               JepaRegWork *w, double *val) {
    *val = 0.0;
    if (!be->epps_pulley) return -1;
    if (B <= 0 || S <= 0) return 0;
    float *Y = slot(w, be, WR_Y, (size_t)B * S * sizeof(float));
    float *dY = dZ ? slot(w, be, WR_DY, (size_t)B * S * sizeof(float)) : NULL;
    double *st = slot(w, be, WR_STAT, (size_t)S * sizeof(double));
    if (!Y || (dZ && !dY) || !st || host_reserve(w, 0, (size_t)S)) return -1;
    /* Y (B, S) = Z (B, D) · A (D, S): the projections on the S directions */
    be->gemm(be, 0, 0, B, S, D, 1.0f, Z, D, A, S, 0.0f, Y, S);
    be->epps_pulley(be, st, dY, Y, B, S, scale / S);
    be->download(be, w->host_d, st, (size_t)S * sizeof(double));
    double sum = 0;
    for (int s = 0; s < S; s++) sum += w->host_d[s];
    *val = sum / S;
    /* dZ (B, D) += dY (B, S) · Aᵀ */
    if (dZ) be->gemm(be, 0, 1, B, D, S, 1.0f, dY, S, A, S, 1.0f, dZ, D);
    return 0;
}

/* ---- VICReg ----------------------------------------------------------------------- */

/* Zc = Z − 1·mean(Z) and Cov = Zcᵀ Zc / (B − 1) on the device (slots WR_ZC,
 * WR_COV); the diagonal of Cov into host w->host_d (D). 0 or -1. */
static int covariance(Backend *be, const float *Z, int B, int D, JepaRegWork *w, float **Zc, float **Cov) {
    size_t BD = (size_t)B * D * sizeof(float);
    float *ones = slot(w, be, WR_ONES, (size_t)B * sizeof(float)), *mu = slot(w, be, WR_MU, (size_t)D * sizeof(float));
    float *diag = slot(w, be, WR_DIAG, (size_t)D * sizeof(float));
    int *didx = slot(w, be, WR_DIDX, (size_t)D * sizeof(int));
    *Zc = slot(w, be, WR_ZC, BD);
    *Cov = slot(w, be, WR_COV, (size_t)D * D * sizeof(float));
    if (!ones || !mu || !diag || !didx || !*Zc || !*Cov || host_reserve(w, (size_t)B, (size_t)D)) return -1;
    for (int b = 0; b < B; b++) w->host_a[b] = 1.0f;
    for (int j = 0; j < D; j++) w->host_i[j] = j * (D + 1); /* Cov_jj in the flat (D·D) buffer */
    be->upload(be, ones, w->host_a, (size_t)B * sizeof(float));
    be->upload(be, didx, w->host_i, (size_t)D * sizeof(int));
    be->gemm(be, 0, 0, 1, D, B, (float)(1.0 / B), ones, B, Z, D, 0.0f, mu, D);      /* mu (1, D) */
    be->copy(be, *Zc, Z, BD);
    be->gemm(be, 0, 0, B, D, 1, -1.0f, ones, 1, mu, D, 1.0f, *Zc, D);               /* Zc −= 1 · mu */
    be->gemm(be, 1, 0, D, D, B, (float)(1.0 / (B - 1)), *Zc, D, *Zc, D, 0.0f, *Cov, D); /* Zcᵀ Zc / (B−1) */
    be->gather_rows(be, diag, *Cov, didx, D, 1);
    be->download(be, w->host_a, diag, (size_t)D * sizeof(float));
    for (int j = 0; j < D; j++) w->host_d[j] = w->host_a[j];
    return 0;
}

/* dZ += Zc (dCov + dCovᵀ) / (B − 1) = 2 Zc dCov / (B − 1) with the symmetric
 * dCov = gc·Cov off the diagonal (gc = 2·scale_cov/D) and g_j on it (the
 * variance hinge's gradient with respect to Cov_jj). The centring's backward
 * is the identity here: the columns of Zc·dCov sum to 1ᵀZc·dCov = 0. */
static int vicreg_backward(Backend *be, float *dZ, const float *Zc, const float *Cov, int B, int D,
                           double scale_var, double scale_cov, JepaRegWork *w) {
    float *dCov = slot(w, be, WR_DCOV, (size_t)D * D * sizeof(float));
    float *delta = slot(w, be, WR_DELTA, (size_t)D * sizeof(float));
    const int *didx = w->slot[WR_DIDX];
    if (!dCov || !delta) return -1;
    double gc = 2.0 * scale_cov / D;
    for (int j = 0; j < D; j++) {
        double sd = sqrt(w->host_d[j] + VICREG_EPS);
        double gv = 1.0 - sd > 0 ? -scale_var / D * 0.5 / sd : 0.0; /* ∂ relu(1 − sd)/∂Cov_jj, scaled */
        w->host_a[j] = (float)(gv - gc * w->host_d[j]);                /* replaces gc·Cov_jj by gv */
    }
    be->upload(be, delta, w->host_a, (size_t)D * sizeof(float));
    be->copy(be, dCov, Cov, (size_t)D * D * sizeof(float));
    be->scale(be, dCov, (size_t)D * D, (float)gc);
    be->scatter_add_rows(be, dCov, delta, didx, D, 1);
    be->gemm(be, 0, 0, B, D, D, (float)(2.0 / (B - 1)), Zc, D, dCov, D, 1.0f, dZ, D);
    return 0;
}

int vicreg_set(Backend *be, const float *Z, float *dZ, int B, int D, double scale_var, double scale_cov,
               JepaRegWork *w, double *var, double *cov) {
    *var = *cov = 0.0;
    if (B < 2 || D <= 0) return 0;
    float *Zc, *Cov;
    if (covariance(be, Z, B, D, w, &Zc, &Cov)) return -1;
    double hinge = 0, dsq = 0, all = be->sum_squares(be, Cov, (size_t)D * D);
    for (int j = 0; j < D; j++) {
        hinge += fmax(0.0, 1.0 - sqrt(w->host_d[j] + VICREG_EPS));
        dsq += w->host_d[j] * w->host_d[j];
    }
    *var = hinge / D;
    *cov = (all - dsq) / D;
    return dZ ? vicreg_backward(be, dZ, Zc, Cov, B, D, scale_var, scale_cov, w) : 0;
}

/* ---- Both sets --------------------------------------------------------------------- */

/* SIGReg of P and T on one draw of S directions. */
static int sigreg_pair(Backend *be, const JepaReg *r, const float *P, const float *T, float *dP, float *dT, int B,
                       int D, double scale, JepaRegWork *w, JepaRegOut *out) {
    int S = r->slices;
    float *A = slot(w, be, WR_A, (size_t)D * S * sizeof(float));
    if (!A || host_reserve(w, (size_t)D * S, (size_t)S)) return -1;
    Rng fixed = rng_stream(0, "sigreg");
    sigreg_directions(r->rng ? r->rng : &fixed, w->host_a, D, S);
    be->upload(be, A, w->host_a, (size_t)D * S * sizeof(float));
    if (sigreg_set(be, P, dP, A, B, D, S, scale / 2, w, &out->sig[0]) ||
        sigreg_set(be, T, dT, A, B, D, S, scale / 2, w, &out->sig[1]))
        return -1;
    out->r = (out->sig[0] + out->sig[1]) / 2;
    return 0;
}

int jepa_reg_apply(Backend *be, const JepaReg *r, const float *P, const float *T, float *dP, float *dT, int B, int D,
                   double scale, JepaRegWork *w, JepaRegOut *out) {
    memset(out, 0, sizeof *out);
    int grad = dP && dT;
    if (r->kind == JEPA_REG_SIGREG)
        return sigreg_pair(be, r, P, T, grad ? dP : NULL, grad ? dT : NULL, B, D, scale, w, out);
    if (r->kind != JEPA_REG_VICREG) return 0;
    double mv = r->var_coeff / VICREG_INV_COEFF, nc = r->cov_coeff / VICREG_INV_COEFF;
    if (vicreg_set(be, P, grad ? dP : NULL, B, D, scale * mv / 2, scale * nc, w, &out->var[0], &out->cov[0]) ||
        vicreg_set(be, T, grad ? dT : NULL, B, D, scale * mv / 2, scale * nc, w, &out->var[1], &out->cov[1]))
        return -1;
    out->r = mv * (out->var[0] + out->var[1]) / 2 + nc * (out->cov[0] + out->cov[1]);
    return 0;
}

void jepa_reg_work_free(JepaRegWork *w) {
    if (w->be)
        for (int i = 0; i < JEPA_REG_SLOTS; i++) w->be->free(w->be, w->slot[i]);
    free(w->host_a), free(w->host_d), free(w->host_i);
    memset(w, 0, sizeof *w);
}
