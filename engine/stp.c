/* Semantic Tube Prediction on the NTP pass's hidden states (stp.h). */
#include "stp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NORM_EPS 1e-8 /* as loss.c's cosine */

int stp_weight_mode(const char *name) {
    static const char *names[] = {"none", "cosine_like", "jaccard_like"};
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, names[i])) return i;
    return -1;
}

/* stp.py get_s_t: s = randint(0, F); loop { t = randint(s + 1, F + 1); break if t − s < F } */
int stp_draw_span(Rng *r, int F, int *s, int *t) {
    if (F < 2) return -1;
    *s = (int)rng_below(r, (uint32_t)F);
    do *t = *s + 1 + (int)rng_below(r, (uint32_t)(F - *s));
    while (*t - *s >= F);
    return 0;
}

/* stp.py get_weights(full_length, patch_length) */
double stp_length_weight(int mode, int F, int p) {
    double r = F - p, q = p;
    if (mode == STP_W_COSINE_LIKE) return 2.0 * r * q / (r * r + q * q);
    if (mode == STP_W_JACCARD_LIKE) return 1.0 - fabs(r - q) / (r + q);
    return 1.0;
}

/* ---- displacements as sparse rows of h -------------------------------------------- */

/* t += c · h[i] (merged with an existing entry of row i) */
static void term_add(StpTerm *t, int i, float c) {
    for (int k = 0; k < t->n; k++)
        if (t->idx[k] == i) { t->w[k] += c; return; }
    t->idx[t->n] = i;
    t->w[t->n++] = c;
}

/* t += Δ(x, y) = h[y − 1] − h[x − 1] */
static void term_delta(StpTerm *t, int x, int y) {
    term_add(t, y - 1, 1.0f);
    term_add(t, x - 1, -1.0f);
}

/* drops the entries whose coefficients cancelled */
static void term_prune(StpTerm *t) {
    int n = 0;
    for (int k = 0; k < t->n; k++)
        if (t->w[k] != 0.0f) t->idx[n] = t->idx[k], t->w[n++] = t->w[k];
    t->n = n;
}

/* stp.py get_embeddings: offset o -> token u0 + o if u0 + o < u1, else a0 + o − |U| */
static int span_token(const int user[2], const int asst[2], int o) {
    return user[0] + o < user[1] ? user[0] + o : asst[0] + o - (user[1] - user[0]);
}

void stp_span_pieces(const int user[2], const int asst[2], int s, int t, StpTerm *before, StpTerm *patch,
                     StpTerm *after) {
    int u0 = user[0], u1 = user[1], a0 = asst[0], a1 = asst[1];
    int ps = span_token(user, asst, s), pe = span_token(user, asst, t);
    before->n = patch->n = after->n = 0;
    if (ps >= a0) { /* the span lies in the assistant content */
        term_delta(before, u0, u1), term_delta(before, a0, ps);
        term_delta(patch, ps, pe);
        term_delta(after, pe, a1);
    } else if (pe <= u1) { /* in the user content */
        term_delta(before, u0, ps);
        term_delta(patch, ps, pe);
        term_delta(after, pe, u1), term_delta(after, a0, a1);
    } else { /* across the gap */
        term_delta(before, u0, ps);
        term_delta(patch, ps, u1), term_delta(patch, a0, pe);
        term_delta(after, pe, a1);
    }
    term_prune(before), term_prune(patch), term_prune(after);
}

void stp_pair(const int user[2], const int asst[2], int e2e, int s, int t, StpTerm *U, StpTerm *C) {
    if (e2e) {
        U->n = C->n = 0;
        term_delta(U, user[0], user[1]), term_delta(C, asst[0], asst[1]);
        term_prune(U), term_prune(C);
        return;
    }
    StpTerm before, after;
    stp_span_pieces(user, asst, s, t, &before, C, &after);
    *U = before;
    for (int k = 0; k < after.n; k++) term_add(U, after.idx[k], after.w[k]);
    term_prune(U);
}

/* ---- the plan of a batch -------------------------------------------------------------- */

static int plan_reserve(StpPlan *p, int nex) {
    if (nex <= p->cap) return 0;
    stp_plan_free(p);
    size_t n = (size_t)nex, nz = 2 * n * STP_TERM_MAX;
    p->ex = malloc(n * sizeof(int)), p->s = malloc(n * sizeof(int)), p->t = malloc(n * sizeof(int));
    p->wt = malloc(n * sizeof(double));
    p->ptr = malloc((2 * n + 1) * sizeof(int)), p->idx = malloc(nz * sizeof(int)), p->w = malloc(nz * sizeof(float));
    if (!p->ex || !p->s || !p->t || !p->wt || !p->ptr || !p->idx || !p->w) return stp_plan_free(p), -1;
    p->cap = nex;
    return 0;
}

/* 1 keep, 0 skip, -2 inconsistent */
static int plan_keep(const Batch *b, int i, int e2e) {
    const int *u = b->ntp_user + 2 * i, *a = b->ntp_asst + 2 * i;
    if (u[0] < 0 || u[1] < 0 || a[0] < 0 || a[1] < 0) return 0;
    if (!(1 <= u[0] && u[0] <= u[1] && u[1] <= a[0] && a[0] <= a[1] && a[1] <= b->n)) return -2;
    int nu = u[1] - u[0], na = a[1] - a[0];
    return e2e ? nu > 0 && na > 0 : nu + na >= 2;
}

/* appends term t as CSR row number r of p */
static void plan_row(StpPlan *p, int r, const StpTerm *t) {
    int k0 = p->ptr[r];
    for (int k = 0; k < t->n; k++) p->idx[k0 + k] = t->idx[k], p->w[k0 + k] = t->w[k];
    p->ptr[r + 1] = k0 + t->n;
}

int stp_plan(StpPlan *p, const Batch *b, int weight_mode, int e2e, Rng *r) {
    p->m = 0;
    if (!b->ntp_user || !b->ntp_asst || b->nex == 0) return 0;
    if (plan_reserve(p, b->nex)) return -1;
    Rng fixed = rng_stream(0, "stp");
    if (!r) r = &fixed;
    StpTerm *U = calloc((size_t)b->nex, sizeof *U), *C = calloc((size_t)b->nex, sizeof *C);
    if (!U || !C) return free(U), free(C), -1;
    for (int i = 0; i < b->nex; i++) {
        int keep = plan_keep(b, i, e2e), m = p->m;
        if (keep < 0) return free(U), free(C), p->m = 0, -2;
        if (!keep) continue;
        const int *u = b->ntp_user + 2 * i, *a = b->ntp_asst + 2 * i;
        int F = u[1] - u[0] + a[1] - a[0], s = -1, t = -1;
        if (!e2e) stp_draw_span(r, F, &s, &t);
        p->ex[m] = i, p->s[m] = s, p->t[m] = t;
        p->wt[m] = e2e ? 1.0 : stp_length_weight(weight_mode, F, t - s);
        stp_pair(u, a, e2e, s, t, &U[m], &C[m]);
        p->m++;
    }
    p->ptr[0] = 0;
    for (int k = 0; k < p->m; k++) plan_row(p, k, &U[k]);
    for (int k = 0; k < p->m; k++) plan_row(p, p->m + k, &C[k]);
    free(U), free(C);
    return 0;
}

void stp_plan_free(StpPlan *p) {
    free(p->ex), free(p->s), free(p->t), free(p->wt), free(p->ptr), free(p->idx), free(p->w);
    memset(p, 0, sizeof *p);
}

/* ---- the weighted cosine ----------------------------------------------------------- */

/* J = 1 − Σ w cos / Σ w; ∂cos/∂u = c/(|u||c|) − cos·u/|u|² (and symmetrically for c) */
double stp_cosine(const double *st, const double *wt, int m, double scale, double *coef) {
    double sw = 0, swc = 0;
    for (int b = 0; b < m; b++) sw += wt[b];
    if (m == 0 || sw <= 0) return 0.0;
    for (int b = 0; b < m; b++) {
        double nu = fmax(sqrt(st[4 * b + 1]), NORM_EPS), nc = fmax(sqrt(st[4 * b + 2]), NORM_EPS);
        double cs = st[4 * b] / (nu * nc), g = -scale * wt[b] / sw;
        swc += wt[b] * cs;
        if (!coef) continue;
        coef[b] = -g * cs / (nu * nu), coef[m + b] = g / (nu * nc);
        coef[2 * m + b] = -g * cs / (nc * nc), coef[3 * m + b] = g / (nu * nc);
    }
    return 1.0 - swc / sw;
}

/* ---- on the backend ---------------------------------------------------------------- */

/* (re)allocates *p to hold `need` elements of `size` bytes when *cap is short */
static int dev_reserve(Backend *be, void **p, size_t need, size_t size, size_t cap) {
    if (*p && need <= cap) return 0;
    be->free(be, *p);
    *p = be->alloc(be, (need ? need : 1) * size);
    return *p ? 0 : -1;
}

/* frees the device buffers (on w->be) and forgets their capacities */
static void work_free_device(StpWork *w) {
    void **d[] = {(void **)&w->ptr, (void **)&w->idx, (void **)&w->w, (void **)&w->uc, (void **)&w->duc,
                  (void **)&w->st, (void **)&w->coef};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        if (w->be) w->be->free(w->be, *d[i]);
        *d[i] = NULL;
    }
    w->cap_rows = w->cap_nz = w->cap_uc = 0;
}

/* device and host buffers for m pairs, nz nonzeros, width C */
static int work_reserve(StpWork *w, Backend *be, int m, int nz, int C) {
    if (w->be && w->be != be) work_free_device(w); /* buffers belong to one backend (the plan stays) */
    w->be = be;
    size_t rows = (size_t)m, uc = 2 * (size_t)m * C;
    if (dev_reserve(be, (void **)&w->ptr, 2 * rows + 1, sizeof(int), 2 * w->cap_rows + 1) ||
        dev_reserve(be, (void **)&w->st, 4 * rows, sizeof(double), 4 * w->cap_rows) ||
        dev_reserve(be, (void **)&w->coef, 4 * rows, sizeof(double), 4 * w->cap_rows) ||
        dev_reserve(be, (void **)&w->idx, (size_t)nz, sizeof(int), w->cap_nz) ||
        dev_reserve(be, (void **)&w->w, (size_t)nz, sizeof(float), w->cap_nz) ||
        dev_reserve(be, (void **)&w->uc, uc, sizeof(float), w->cap_uc) ||
        dev_reserve(be, (void **)&w->duc, uc, sizeof(float), w->cap_uc))
        return w->cap_rows = w->cap_nz = w->cap_uc = 0, -1;
    if (rows > w->cap_rows) {
        free(w->host_st), free(w->host_coef);
        w->host_st = malloc(4 * rows * sizeof(double)), w->host_coef = malloc(4 * rows * sizeof(double));
        if (!w->host_st || !w->host_coef) return w->cap_rows = 0, -1;
        w->cap_rows = rows;
    }
    if ((size_t)nz > w->cap_nz) w->cap_nz = (size_t)nz;
    if (uc > w->cap_uc) w->cap_uc = uc;
    return 0;
}

int stp_loss(Backend *be, const Batch *b, const float *h, float *dh, int C, double lambda, int weight_mode, int e2e,
             Rng *r, StpWork *w, double *out) {
    *out = 0.0;
    int rc = stp_plan(&w->plan, b, weight_mode, e2e, r);
    const StpPlan *p = &w->plan;
    if (rc || p->m == 0) return rc;
    int m = p->m, nz = p->ptr[2 * m];
    if (work_reserve(w, be, m, nz, C)) return -1;
    be->upload(be, w->ptr, p->ptr, (2 * (size_t)m + 1) * sizeof(int));
    be->upload(be, w->idx, p->idx, (size_t)nz * sizeof(int));
    be->upload(be, w->w, p->w, (size_t)nz * sizeof(float));
    float *U = w->uc, *Cc = w->uc + (size_t)m * C;
    be->row_combine(be, w->uc, h, w->ptr, w->idx, w->w, 2 * m, C);
    be->row_stats(be, w->st, U, Cc, m, C);
    be->download(be, w->host_st, w->st, 4 * (size_t)m * sizeof(double));
    int grad = dh && lambda != 0.0;
    *out = stp_cosine(w->host_st, p->wt, m, lambda, grad ? w->host_coef : NULL);
    if (!grad) return 0;
    double *cf = w->coef;
    float *dU = w->duc, *dC = w->duc + (size_t)m * C;
    be->upload(be, cf, w->host_coef, 4 * (size_t)m * sizeof(double));
    be->zero(be, w->duc, 2 * (size_t)m * C * sizeof(float));
    be->row_axpby(be, dU, cf, U, cf + m, Cc, m, C);
    be->row_axpby(be, dC, cf + 2 * m, Cc, cf + 3 * m, U, m, C);
    be->row_combine_backward(be, dh, w->duc, w->ptr, w->idx, w->w, 2 * m, C);
    return 0;
}

void stp_work_free(StpWork *w) {
    work_free_device(w);
    free(w->host_st), free(w->host_coef);
    stp_plan_free(&w->plan);
    memset(w, 0, sizeof *w);
}
