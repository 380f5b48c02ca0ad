/* Collapse diagnostics: spread (mean pairwise cosine, effective rank), alignment
 * (matched-minus-mismatched cosine, retrieval) and the <eos>-predicting state. */
#include "diagnostics.h"

#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "batch.h"
#include "errmsg.h"

/* 1 when every element of X (len) is finite. */
static int all_finite(const float *X, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (!isfinite(X[i])) return 0;
    return 1;
}

double diag_mean_cosine(const float *X, int n, int d) {
    if (n < 2 || !all_finite(X, (size_t)n * d)) return NAN;
    double *s = calloc(d > 0 ? (size_t)d : 1, sizeof(double)), self = 0;
    if (!s) return NAN;
    for (int i = 0; i < n; i++) {
        const float *x = X + (size_t)i * d;
        double nn = 0;
        for (int j = 0; j < d; j++) nn += (double)x[j] * x[j];
        if (nn == 0) continue;               /* zero row: x̂ = 0 */
        double inv = 1.0 / sqrt(nn);
        for (int j = 0; j < d; j++) s[j] += x[j] * inv;
        self += nn * inv * inv;              /* |x̂_i|², 1 up to rounding */
    }
    double tot = 0;
    for (int j = 0; j < d; j++) tot += s[j] * s[j];
    free(s);
    return (tot - self) / ((double)n * (n - 1));
}

int diag_singular_values(const float *X, int n, int d, double *sv) {
    int k = n < d ? n : d;
    if (k <= 0) return 0;
    double *A = malloc((size_t)n * d * sizeof(double));
    if (!A) return -1;
    for (size_t i = 0; i < (size_t)n * d; i++) A[i] = X[i];
    /* row-major X (n, d) is column-major Xᵀ (d, n): same singular values, no transposition */
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', d, n, A, d, sv, NULL, 1, NULL, 1);
    free(A);
    return info == 0 ? 0 : -1;
}

double diag_effective_rank(const float *X, int n, int d) {
    int k = n < d ? n : d;
    if (k <= 0) return 0.0;
    if (!all_finite(X, (size_t)n * d)) return NAN;
    double *sv = malloc((size_t)k * sizeof(double));
    if (!sv || diag_singular_values(X, n, d, sv)) { free(sv); return NAN; }
    double sum = 0, h = 0;
    for (int i = 0; i < k; i++) sum += sv[i];
    for (int i = 0; i < k && sum > 0; i++) {
        double p = sv[i] / sum;
        if (p > 0) h -= p * log(p);
    }
    free(sv);
    return sum > 0 ? exp(h) : 0.0;
}

DiagStats diag_stats(const float *X, int n, int d) {
    DiagStats s = {diag_mean_cosine(X, n, d), diag_effective_rank(X, n, d)};
    return s;
}

/* ---- Alignment ------------------------------------------------------------------------ */

/* Rows of X (n, d) divided by their norms into Y (n, d) doubles (a zero row stays zero). */
static void normalise_rows(const float *X, int n, int d, double *Y) {
    for (int i = 0; i < n; i++) {
        const float *x = X + (size_t)i * d;
        double *y = Y + (size_t)i * d, nn = 0;
        for (int j = 0; j < d; j++) nn += (double)x[j] * x[j];
        double inv = nn > 0 ? 1.0 / sqrt(nn) : 0.0;
        for (int j = 0; j < d; j++) y[j] = x[j] * inv;
    }
}

static double dot(const double *a, const double *b, int d) {
    double s = 0;
    for (int j = 0; j < d; j++) s += a[j] * b[j];
    return s;
}

double diag_matched_gap(const float *P, const float *C, int n, int d) {
    size_t len = (size_t)n * d;
    if (n < 2 || !all_finite(P, len) || !all_finite(C, len)) return NAN;
    double *pn = malloc(len * sizeof(double)), *cn = malloc(len * sizeof(double));
    double *sp = calloc((size_t)(d > 0 ? d : 1), sizeof(double)), *sc = calloc((size_t)(d > 0 ? d : 1), sizeof(double));
    double gap = NAN;
    if (pn && cn && sp && sc) {
        normalise_rows(P, n, d, pn);
        normalise_rows(C, n, d, cn);
        double matched = 0;
        for (int i = 0; i < n; i++) {
            matched += dot(pn + (size_t)i * d, cn + (size_t)i * d, d);
            for (int j = 0; j < d; j++) sp[j] += pn[(size_t)i * d + j], sc[j] += cn[(size_t)i * d + j];
        }
        double mismatched = (dot(sp, sc, d) - matched) / ((double)n * (n - 1));
        gap = matched / n - mismatched;
    }
    free(pn), free(cn), free(sp), free(sc);
    return gap;
}

/* Top-k credit of one query whose match scores s, with g scores strictly
 * above it and e others equal (ties split evenly). */
static double topk_credit(int k, int g, int e) {
    double c = (double)(k - g) / (e + 1);
    return c < 0 ? 0 : c > 1 ? 1 : c;
}

int diag_retrieval(const float *P, const float *C, int n, int d, double *top1, double *top5) {
    *top1 = *top5 = NAN;
    size_t len = (size_t)(n > 0 ? n : 1) * d;
    if (n < 1 || !all_finite(P, (size_t)n * d) || !all_finite(C, (size_t)n * d)) return -1;
    double *pn = malloc(len * sizeof(double)), *cn = malloc(len * sizeof(double));
    if (!pn || !cn) { free(pn), free(cn); return -1; }
    normalise_rows(P, n, d, pn);
    normalise_rows(C, n, d, cn);
    double c1 = 0, c5 = 0;
    for (int i = 0; i < n; i++) {
        const double *p = pn + (size_t)i * d;
        double own = dot(p, cn + (size_t)i * d, d);
        int g = 0, e = 0;
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            double s = dot(p, cn + (size_t)j * d, d);
            g += s > own, e += s == own;
        }
        c1 += topk_credit(1, g, e);
        c5 += topk_credit(5, g, e);
    }
    free(pn), free(cn);
    *top1 = 100.0 * c1 / n;
    *top5 = 100.0 * c5 / n;
    return 0;
}

double diag_cosine(const double *a, const double *b, int d) {
    double aa = dot(a, a, d), bb = dot(b, b, d);
    if (!(aa > 0) || !(bb > 0) || !isfinite(aa) || !isfinite(bb)) return NAN;
    return dot(a, b, d) / sqrt(aa * bb);
}

/* ---- The <eos>-predicting state ------------------------------------------------------- */

/* Σ over examples ex[s .. s+cnt) of h at their last A token, added into acc (d). */
static int eos_chunk(Model *m, Batch *b, const Example *ex, int s, int cnt, const ViewOpts *o, double *acc,
                     char *err, size_t errn) {
    Backend *be = m->be;
    int d = m->cfg.dim, idx[ENCODE_CHUNK], rows[ENCODE_CHUNK];
    for (int i = 0; i < cnt; i++) idx[i] = s + i;
    if (batch_build(b, ex, idx, cnt, o, 0)) return errf(err, errn, "out of memory or tokenizer error (NTP batch)");
    const float *h = model_forward(m, b);
    if (!h) return errf(err, errn, "out of memory (activations for %d tokens)", b->n);
    for (int i = 0; i < cnt; i++) rows[i] = b->ntp_asst[2 * i + 1] - 1; /* target: the closing <eos> */
    int *drows = be->alloc(be, sizeof rows);
    float *dst = be->alloc(be, (size_t)cnt * d * sizeof(float)), *host = malloc((size_t)cnt * d * sizeof(float));
    int rc = drows && dst && host ? 0 : errf(err, errn, "out of memory (<eos> states)");
    if (!rc) {
        be->upload(be, drows, rows, (size_t)cnt * sizeof(int));
        be->gather_rows(be, dst, h, drows, cnt, d);
        be->download(be, host, dst, (size_t)cnt * d * sizeof(float));
        for (int i = 0; i < cnt; i++)
            for (int j = 0; j < d; j++) acc[j] += host[(size_t)i * d + j];
    }
    be->free(be, drows), be->free(be, dst), free(host);
    return rc;
}

int diag_eos_state(Model *m, const Example *ex, int n, const ViewOpts *o, double *out, char *err, size_t errn) {
    int d = m->cfg.dim, rc = 0;
    for (int j = 0; j < d; j++) out[j] = 0;
    Batch b;
    memset(&b, 0, sizeof b);
    model_set_training(m, 0, 0);
    for (int s = 0; s < n && !rc; s += ENCODE_CHUNK)
        rc = eos_chunk(m, &b, ex, s, n - s < ENCODE_CHUNK ? n - s : ENCODE_CHUNK, o, out, err, errn);
    batch_free(&b);
    for (int j = 0; j < d && n > 0; j++) out[j] /= n;
    return rc;
}

/* ---- Collapse of a model ----------------------------------------------------------------- */

/* cos(mean of the rows of X (n, d), the <eos> state of ex under o). */
static int eos_cosine(Model *m, const Example *ex, int n, const ViewOpts *o, const float *X, double *cosv,
                      char *err, size_t errn) {
    int d = m->cfg.dim;
    double *e = malloc((size_t)d * sizeof(double)), *mean = calloc((size_t)d, sizeof(double));
    int rc = e && mean ? diag_eos_state(m, ex, n, o, e, err, errn) : errf(err, errn, "out of memory");
    if (!rc) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < d; j++) mean[j] += X[(size_t)i * d + j];
        *cosv = diag_cosine(mean, e, d);
    }
    free(e), free(mean);
    return rc;
}

/* Everything of *out but the encoding, from the three matrices (n, d). */
static int collapse_stats(Model *m, const Example *ex, int n, const EncodeOpts *o, const float *et, const float *pr,
                          const float *ec, Collapse *out, char *err, size_t errn) {
    int d = m->cfg.dim;
    out->n = n;
    out->enc_text = diag_stats(et, n, d);
    out->enc_code = diag_stats(ec, n, d);
    out->text_gap = diag_matched_gap(et, ec, n, d);
    diag_retrieval(et, ec, n, d, &out->text_top1, &out->text_top5);
    out->chance_top1 = n > 0 ? 100.0 / n : NAN;
    out->chance_top5 = n > 0 ? 100.0 * (n < 5 ? n : 5) / n : NAN;
    out->pred_gap = out->pred_top1 = out->pred_top5 = out->pred_eos_cos = NAN;
    if (!(out->has_pred = pr != NULL)) return 0;
    out->pred = diag_stats(pr, n, d);
    out->pred_gap = diag_matched_gap(pr, ec, n, d);
    diag_retrieval(pr, ec, n, d, &out->pred_top1, &out->pred_top5);
    return eos_cosine(m, ex, n, &o->vo, pr, &out->pred_eos_cos, err, errn);
}

int diag_collapse(Model *m, const Example *ex, int n, const EncodeOpts *o, int with_pred, Collapse *out, char *err,
                  size_t errn) {
    memset(out, 0, sizeof *out);
    size_t len = (size_t)(n > 0 ? n : 1) * m->cfg.dim;
    float *et = malloc(len * sizeof(float)), *ec = malloc(len * sizeof(float));
    float *pr = with_pred ? malloc(len * sizeof(float)) : NULL;
    int rc = !et || !ec || (with_pred && !pr) ? errf(err, errn, "out of memory (embeddings of %d examples)", n)
                                               : encode(m, ex, n, o, et, pr, ec, err, errn);
    if (!rc) rc = collapse_stats(m, ex, n, o, et, pr, ec, out, err, errn);
    free(et); free(ec); free(pr);
    return rc;
}

const char *const diag_csv_names[DIAG_CSV_FIELDS] = {
    "enc_text_cos", "enc_code_cos",  "pred_text_cos", "enc_text_erank", "enc_code_erank",
    "pred_text_erank", "pred_code_gap", "text_code_gap", "pred_top1",  "pred_top5",
    "text_top1",    "text_top5",     "chance_top1",   "chance_top5",    "pred_eos_cos",
};

void diag_collapse_values(const Collapse *c, double v[DIAG_CSV_FIELDS], int has[DIAG_CSV_FIELDS]) {
    static const int pred_field[DIAG_CSV_FIELDS] = {0, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1};
    for (int i = 0; i < DIAG_CSV_FIELDS; i++) v[i] = NAN, has[i] = 0;
    if (!c) return;
    double x[DIAG_CSV_FIELDS] = {c->enc_text.mean_cos, c->enc_code.mean_cos, c->pred.mean_cos, c->enc_text.erank,
                                 c->enc_code.erank,    c->pred.erank,        c->pred_gap,       c->text_gap,
                                 c->pred_top1,         c->pred_top5,         c->text_top1,      c->text_top5,
                                 c->chance_top1,       c->chance_top5,       c->pred_eos_cos};
    for (int i = 0; i < DIAG_CSV_FIELDS; i++) {
        v[i] = x[i];
        has[i] = (!pred_field[i] || c->has_pred) && isfinite(x[i]);
    }
}

void diag_collapse_csv(const Collapse *c, char *buf, size_t n) {
    double v[DIAG_CSV_FIELDS];
    int has[DIAG_CSV_FIELDS];
    diag_collapse_values(c, v, has);
    size_t used = 0;
    if (n) buf[0] = 0;
    for (int i = 0; i < DIAG_CSV_FIELDS && used < n; i++) {
        int w = has[i] ? snprintf(buf + used, n - used, "%s%.6f", i ? "," : "", v[i])
                       : snprintf(buf + used, n - used, "%s", i ? "," : "");
        used += w > 0 ? (size_t)w : 0;
    }
}
