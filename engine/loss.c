/* NTP cross-entropy and JEPA metrics, forward/backward pairs. */
#include "loss.h"
#include "mathx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int ensure(float **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    float *q = realloc(*p, need * sizeof(float));
    if (!q) return -1;
    *p = q;
    *cap = need;
    return 0;
}

/* ---- JEPA metrics -------------------------------------------------------------- */

static double norm2(const float *x, int D) {
    double s = 0;
    for (int i = 0; i < D; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

#define NORM_EPS 1e-8

/* d = 1 - mean_b cos(u_b, c_b) */
static double cosine_forward(const float *U, const float *Cc, int B, int D) {
    double s = 0;
    for (int b = 0; b < B; b++) {
        const float *u = U + (size_t)b * D, *c = Cc + (size_t)b * D;
        double dot = 0;
        for (int i = 0; i < D; i++) dot += (double)u[i] * c[i];
        s += dot / (fmax(norm2(u, D), NORM_EPS) * fmax(norm2(c, D), NORM_EPS));
    }
    return 1.0 - s / B;
}

/* ∂cos/∂u = c/(|u||c|) - cos u/|u|² ; d = 1 - mean cos */
static void cosine_backward(float *dU, float *dC, const float *U, const float *Cc, int B, int D, double scale) {
    for (int b = 0; b < B; b++) {
        const float *u = U + (size_t)b * D, *c = Cc + (size_t)b * D;
        double nu = fmax(norm2(u, D), NORM_EPS), nc = fmax(norm2(c, D), NORM_EPS), dot = 0;
        for (int i = 0; i < D; i++) dot += (double)u[i] * c[i];
        double cs = dot / (nu * nc), g = -scale / B;
        for (int i = 0; i < D; i++) {
            dU[(size_t)b * D + i] += (float)(g * (c[i] / (nu * nc) - cs * u[i] / (nu * nu)));
            dC[(size_t)b * D + i] += (float)(g * (u[i] / (nu * nc) - cs * c[i] / (nc * nc)));
        }
    }
}

/* d = mean_b |u_b - c_b|₂ */
static double l2_forward(const float *U, const float *Cc, int B, int D) {
    double s = 0;
    for (int b = 0; b < B; b++) {
        double e = 0;
        for (int i = 0; i < D; i++) {
            double t = (double)U[(size_t)b * D + i] - Cc[(size_t)b * D + i];
            e += t * t;
        }
        s += sqrt(e);
    }
    return s / B;
}

static void l2_backward(float *dU, float *dC, const float *U, const float *Cc, int B, int D, double scale) {
    for (int b = 0; b < B; b++) {
        double e = 0;
        for (int i = 0; i < D; i++) {
            double t = (double)U[(size_t)b * D + i] - Cc[(size_t)b * D + i];
            e += t * t;
        }
        double r = sqrt(e);
        if (r < NORM_EPS) continue; /* subgradient 0 at u = c */
        for (int i = 0; i < D; i++) {
            double g = scale / B * ((double)U[(size_t)b * D + i] - Cc[(size_t)b * D + i]) / r;
            dU[(size_t)b * D + i] += (float)g;
            dC[(size_t)b * D + i] -= (float)g;
        }
    }
}

/* d = mean over B·D elements of (u - c)² */
static double mse_forward(const float *U, const float *Cc, int B, int D) {
    double s = 0;
    for (size_t i = 0; i < (size_t)B * D; i++) {
        double t = (double)U[i] - Cc[i];
        s += t * t;
    }
    return s / ((double)B * D);
}

static void mse_backward(float *dU, float *dC, const float *U, const float *Cc, int B, int D, double scale) {
    for (size_t i = 0; i < (size_t)B * D; i++) {
        double g = scale * 2.0 * ((double)U[i] - Cc[i]) / ((double)B * D);
        dU[i] += (float)g;
        dC[i] -= (float)g;
    }
}

static const JepaMetric METRICS[] = {
    {"cosine", cosine_forward, cosine_backward},
    {"l2", l2_forward, l2_backward},
    {"mse", mse_forward, mse_backward},
};

const JepaMetric *jepa_metric(const char *name) {
    for (size_t i = 0; i < sizeof METRICS / sizeof METRICS[0]; i++)
        if (!strcmp(METRICS[i].name, name)) return &METRICS[i];
    return NULL;
}

/* ---- NTP ----------------------------------------------------------------------- */

int ntp_loss(Model *m, const Batch *b, const float *h, float *dh, double scale, LossWork *w, double *loss) {
    int C = m->cfg.dim, V = m->cfg.vocab_size, M = b->ntargets;
    *loss = 0.0;
    if (M == 0) return 0;
    if (ensure(&w->hsel, &w->cap_hsel, (size_t)M * C) || ensure(&w->logits, &w->cap_logits, (size_t)M * V))
        return -1;
    int *rows = malloc((size_t)M * sizeof(int));
    if (!rows) return -1;
    int r = 0;
    for (int t = 0; t < b->n; t++)
        if (b->tgt[t] >= 0) {
            rows[r] = t;
            memcpy(w->hsel + (size_t)r * C, h + (size_t)t * C, (size_t)C * sizeof(float));
            r++;
        }
    float *W = model_param(m, m->tid_lm_head);
    m->be->linear_forward(w->logits, w->hsel, W, M, C, V);
    double total = 0;
    for (int i = 0; i < M; i++) {
        float *lg = w->logits + (size_t)i * V;
        int y = b->tgt[rows[i]];
        float mx = lg[0];
        for (int v = 1; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
        float ly = lg[y];
        for (int v = 0; v < V; v++) lg[v] = expf_fast(lg[v] - mx); /* in place: e^(logit - max) */
        double z = 0;
        for (int v = 0; v < V; v++) z += lg[v];
        total += log(z) + mx - ly;
        if (dh) { /* dlogits = scale * (softmax - onehot) / M, in place */
            float c = (float)(scale / z / M);
            for (int v = 0; v < V; v++) lg[v] *= c;
            lg[y] -= (float)(scale / M);
        }
    }
    if (dh) {
        /* dhsel = dlogits · W ; dW += dlogitsᵀ · hsel */
        float *dsel = w->hsel; /* reuse after the GEMM reads it: compute dW first */
        m->be->linear_backward(NULL, model_grad(m, m->tid_lm_head), w->logits, w->hsel, W, M, C, V);
        memset(dsel, 0, (size_t)M * C * sizeof(float));
        m->be->linear_backward(dsel, NULL, w->logits, NULL, W, M, C, V);
        for (int i = 0; i < M; i++) {
            float *d = dh + (size_t)rows[i] * C;
            for (int c = 0; c < C; c++) d[c] += dsel[(size_t)i * C + c];
        }
    }
    free(rows);
    *loss = total / M;
    return 0;
}

/* ---- One step ------------------------------------------------------------------ */

int loss_step(Model *m, const Batch *b, const LossOpts *o, LossWork *w, LossOut *out, int backward) {
    int C = m->cfg.dim, B = b->nex;
    float *h = model_forward(m, b);
    if (!h) return -1;
    float *dh = NULL;
    if (backward) {
        if (ensure(&w->dh, &w->cap_dh, (size_t)b->n * C)) return -1;
        dh = w->dh;
        memset(dh, 0, (size_t)b->n * C * sizeof(float));
    }
    out->ntargets = b->ntargets;
    if (ntp_loss(m, b, h, dh, o->gamma, w, &out->ntp)) return -1;
    out->jepa = 0.0;
    if (b->jepa && o->metric) {
        size_t BC = (size_t)B * C;
        if (ensure(&w->U, &w->cap_U, BC) || ensure(&w->Cc, &w->cap_Cc, BC) || ensure(&w->dU, &w->cap_dU, BC) ||
            ensure(&w->dC, &w->cap_dC, BC))
            return -1;
        float *dU = w->dU, *dC = w->dC;
        memset(dU, 0, BC * sizeof(float));
        memset(dC, 0, BC * sizeof(float));
        for (int e = 0; e < B; e++) {
            memcpy(w->U + (size_t)e * C, h + (size_t)b->enc_text[e] * C, (size_t)C * sizeof(float));
            memcpy(w->Cc + (size_t)e * C, h + (size_t)b->enc_code[e] * C, (size_t)C * sizeof(float));
        }
        out->jepa = o->metric->forward(w->U, w->Cc, B, C);
        if (backward && o->lambda != 0.0) {
            o->metric->backward(dU, dC, w->U, w->Cc, B, C, o->lambda);
            for (int e = 0; e < B; e++)
                for (int c = 0; c < C; c++) {
                    dh[(size_t)b->enc_text[e] * C + c] += dU[(size_t)e * C + c];
                    dh[(size_t)b->enc_code[e] * C + c] += dC[(size_t)e * C + c];
                }
        }
    }
    out->total = o->gamma * out->ntp + o->lambda * out->jepa;
    if (backward) return model_backward(m, b, dh);
    return 0;
}

void loss_work_free(LossWork *w) {
    free(w->hsel); free(w->logits); free(w->dh); free(w->U); free(w->Cc); free(w->dU); free(w->dC);
    memset(w, 0, sizeof *w);
}
