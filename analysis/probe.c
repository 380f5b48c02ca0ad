/* harness probe's computation: encode, .npy dumps, linear probes, t-SNE,
 * pictures, probe.json (probe.h). */
#include "probe.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "figure.h"
#include "fsutil.h"
#include "npy.h"

const char *const probe_csv_columns[PROBE_CSV_COLUMNS] = {
    "probe_examples",     "probe_sv_mean",       "probe_lsq_resid", "probe_lsq_rank", "probe_pred_sv_mean",
    "probe_pred_lsq_resid", "probe_pred_lsq_rank", "probe_sv",
};

ProbeOpts probe_defaults(void) {
    ProbeOpts o = {1, tsne_defaults(), 1, 0};
    return o;
}

/* "top singular values" as a space-separated list (%.6g) into v. */
static void sv_list(const double *sv, int n, char *v, size_t vn) {
    size_t off = 0;
    v[0] = 0;
    for (int i = 0; i < n && off + 1 < vn; i++) {
        int w = snprintf(v + off, vn - off, "%s%.6g", i ? " " : "", sv[i]);
        if (w < 0 || (size_t)w >= vn - off) break;
        off += (size_t)w;
    }
}

void probe_csv_value(const ProbeResult *r, int i, char *v, size_t vn) {
    v[0] = 0;
    if (!r || vn == 0) return;
    switch (i) {
    case 0: snprintf(v, vn, "%d", r->n); break;
    case 1: snprintf(v, vn, "%.6g", r->sv_mean); break;
    case 2: snprintf(v, vn, "%.6g", r->lsq_resid); break;
    case 3: snprintf(v, vn, "%d", r->lsq_rank); break;
    case 4: snprintf(v, vn, "%.6g", r->pred_sv_mean); break;
    case 5: snprintf(v, vn, "%.6g", r->pred_lsq_resid); break;
    case 6: snprintf(v, vn, "%d", r->pred_lsq_rank); break;
    case 7: sv_list(r->sv, r->nsv, v, vn); break;
    default: break;
    }
}

static double mean_of(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return n ? s / n : NAN;
}

/* Table 10 and Figure 7 numbers of X against Y (n, d): singular values of
 * X − Y and the least-squares residual of X·W ≈ Y. */
static int linear_probes(const float *X, const float *Y, int n, int d, double *sv, int *nsv, double *sv_mean,
                         double *resid, int *rank, char *err, size_t errn) {
    if (linprobe_diff_sv(X, Y, n, d, PROBE_TOP_SV, sv, nsv, err, errn)) return -1;
    *sv_mean = mean_of(sv, *nsv);
    return linprobe_lsq(X, Y, n, d, -1.0, resid, rank, err, errn);
}

static int write_sv_csv(const char *dir, const ProbeResult *r, char *err, size_t errn) {
    char path[1200];
    snprintf(path, sizeof path, "%s/sv.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) return errf(err, errn, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "i,sv,pred_sv\n");
    for (int i = 0; i < r->nsv; i++) fprintf(f, "%d,%.9g,%.9g\n", i + 1, r->sv[i], r->pred_sv[i]);
    if (fclose(f)) return errf(err, errn, "%s: cannot write", path);
    return 0;
}

static int write_tsne_csv(const char *dir, const double *Y, int n, char *err, size_t errn) {
    char path[1200];
    snprintf(path, sizeof path, "%s/tsne.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) return errf(err, errn, "%s: cannot write: %s", path, strerror(errno));
    fprintf(f, "i,view,x,y\n");
    for (int i = 0; i < 2 * n; i++) fprintf(f, "%d,%s,%.9g,%.9g\n", i, i < n ? "text" : "code", Y[2 * i], Y[2 * i + 1]);
    if (fclose(f)) return errf(err, errn, "%s: cannot write", path);
    return 0;
}

static void tsne_progress(int iter, int iters, double kl, void *ctx) {
    (void)ctx;
    fprintf(stderr, "probe: t-SNE step %d/%d, KL %.4f\n", iter, iters, kl);
}

/* t-SNE of the 2n rows [Enc(Text); Enc(Code)] into Y (2n, 2). The
 * perplexity is lowered to (2n − 1)/3 when 2n points cannot carry it, with a
 * warning; *perp gets the value used. */
static int run_tsne(const float *et, const float *ec, int n, int d, const ProbeOpts *po, double *Y, double *kl,
                    double *perp, char *warn, size_t warnn, char *err, size_t errn) {
    float *P = malloc(sizeof(float) * 2 * (size_t)n * (size_t)d);
    if (!P) return errf(err, errn, "out of memory (t-SNE input)");
    memcpy(P, et, sizeof(float) * (size_t)n * (size_t)d);
    memcpy(P + (size_t)n * d, ec, sizeof(float) * (size_t)n * (size_t)d);
    TsneOpts o = po->tsne_o;
    if (!po->quiet && !o.progress) o.progress = tsne_progress;
    if (3.0 * o.perplexity >= 2.0 * n) {
        double p = (2.0 * n - 1.0) / 3.0;
        snprintf(warn, warnn, "t-SNE perplexity lowered from %g to %.4g: %d points cannot carry more", o.perplexity, p,
                 2 * n);
        o.perplexity = p;
    }
    *perp = o.perplexity;
    int rc = tsne_run(P, 2 * n, d, &o, Y, kl, err, errn);
    free(P);
    return rc;
}

/* tsne.{dat,gp,png,svg} (one panel, Text and Code coloured apart) and
 * sv.{...} (log scale, X − Y and Pred − Y). */
static int draw(const char *dir, const ProbeResult *r, const double *Y, int has_tsne, char *err, size_t errn) {
    char base[1200];
    if (has_tsne) {
        int *cls = malloc(sizeof(int) * 2 * (size_t)r->n);
        if (!cls) return errf(err, errn, "out of memory");
        for (int i = 0; i < 2 * r->n; i++) cls[i] = i >= r->n;
        static const char *const names[] = {"Enc(Text)", "Enc(Code)"};
        FigScatter p = {"t-SNE of Enc(Text) and Enc(Code)", 2 * r->n, Y, cls};
        snprintf(base, sizeof base, "%s/tsne", dir);
        int rc = fig_scatter(base, NULL, names, 2, &p, 1, err, errn);
        free(cls);
        if (rc) return -1;
    }
    double idx[PROBE_TOP_SV];
    for (int i = 0; i < r->nsv; i++) idx[i] = i + 1;
    FigSeries s[2] = {{"Enc(Text) - Enc(Code)", r->nsv, idx, r->sv, NULL},
                      {"Pred(Enc(Text)) - Enc(Code)", r->nsv, idx, r->pred_sv, NULL}};
    FigPanel p = {"singular values", "index", "singular value", 0, 1, 0, 2, s};
    snprintf(base, sizeof base, "%s/sv", dir);
    return fig_lines(base, NULL, &p, 1, err, errn);
}

static void json_sv(cJSON *o, const char *name, const double *sv, int n) {
    cJSON *a = cJSON_AddArrayToObject(o, name);
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(sv[i]));
}

/* probe.json: every number of r and the options that made them. */
static int write_json(const char *dir, const ProbeResult *r, const ProbeOpts *po, double perp, char *err,
                      size_t errn) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", r->n);
    cJSON_AddNumberToObject(o, "hidden_size", r->d);
    cJSON_AddNumberToObject(o, "sv_mean", r->sv_mean);
    cJSON_AddNumberToObject(o, "lsq_resid", r->lsq_resid);
    cJSON_AddNumberToObject(o, "lsq_rank", r->lsq_rank);
    cJSON_AddNumberToObject(o, "pred_sv_mean", r->pred_sv_mean);
    cJSON_AddNumberToObject(o, "pred_lsq_resid", r->pred_lsq_resid);
    cJSON_AddNumberToObject(o, "pred_lsq_rank", r->pred_lsq_rank);
    json_sv(o, "sv", r->sv, r->nsv);
    json_sv(o, "pred_sv", r->pred_sv, r->nsv);
    cJSON *t = cJSON_AddObjectToObject(o, "tsne");
    if (po->tsne) {
        cJSON_AddNumberToObject(t, "perplexity", perp);
        cJSON_AddNumberToObject(t, "iters", po->tsne_o.iters);
        cJSON_AddNumberToObject(t, "seed", (double)po->tsne_o.seed);
        cJSON_AddNumberToObject(t, "kl", r->tsne_kl);
        cJSON_AddStringToObject(t, "method", 2 * r->n <= po->tsne_o.exact_max ? "exact" : "barnes-hut");
    }
    char *js = cJSON_Print(o);
    cJSON_Delete(o);
    if (!js) return errf(err, errn, "out of memory");
    char path[1200];
    snprintf(path, sizeof path, "%s/probe.json", dir);
    FILE *f = fopen(path, "w");
    int bad = !f || fprintf(f, "%s\n", js) < 0;
    if (f && fclose(f)) bad = 1;
    free(js);
    return bad ? errf(err, errn, "%s: cannot write", path) : 0;
}

/* The .npy dumps of the three embeddings (n, d). */
static int write_npys(const char *dir, const float *et, const float *pt, const float *ec, int n, int d, char *err,
                      size_t errn) {
    const char *names[] = {"enc_text", "pred_text", "enc_code"};
    const float *x[] = {et, pt, ec};
    for (int i = 0; i < 3; i++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.npy", dir, names[i]);
        if (npy_write_f32(path, x[i], n, d, err, errn)) return -1;
    }
    return 0;
}

/* Probes and files once the three embeddings (n, d) are known. */
static int probe_embeddings(const float *et, const float *pt, const float *ec, int n, int d, const ProbeOpts *po,
                            const char *dir, ProbeResult *r, char *warn, size_t warnn, char *err, size_t errn) {
    memset(r, 0, sizeof *r);
    r->n = n;
    r->d = d;
    r->tsne_kl = NAN;
    if (write_npys(dir, et, pt, ec, n, d, err, errn)) return -1;
    if (linear_probes(et, ec, n, d, r->sv, &r->nsv, &r->sv_mean, &r->lsq_resid, &r->lsq_rank, err, errn)) return -1;
    int nsv;
    if (linear_probes(pt, ec, n, d, r->pred_sv, &nsv, &r->pred_sv_mean, &r->pred_lsq_resid, &r->pred_lsq_rank, err,
                      errn))
        return -1;
    if (write_sv_csv(dir, r, err, errn)) return -1;
    double *Y = NULL, perp = 0;
    if (po->tsne) {
        if (!(Y = malloc(sizeof(double) * 4 * (size_t)n))) return errf(err, errn, "out of memory (t-SNE)");
        if (run_tsne(et, ec, n, d, po, Y, &r->tsne_kl, &perp, warn, warnn, err, errn) ||
            write_tsne_csv(dir, Y, n, err, errn)) {
            free(Y);
            return -1;
        }
    }
    int rc = write_json(dir, r, po, perp, err, errn);
    char gerr[512];
    if (rc == 0 && po->draw && (fig_gnuplot_check(gerr, sizeof gerr) || draw(dir, r, Y, po->tsne, gerr, sizeof gerr))) {
        size_t l = strlen(warn);
        snprintf(warn + l, warnn - l, "%spictures not drawn: %s", l ? "; " : "", gerr);
    }
    free(Y);
    return rc;
}

int probe_model(Model *m, const Example *ex, int n, const EncodeOpts *eo, const ProbeOpts *po, const char *dir,
                ProbeResult *r, char *warn, size_t warnn, char *err, size_t errn) {
    if (warnn) warn[0] = 0;
    if (n < 2) return errf(err, errn, "probe: need at least 2 examples, got %d", n);
    if (mkdir_p(dir)) return errf(err, errn, "%s: cannot create: %s", dir, strerror(errno));
    int d = m->cfg.dim;
    size_t sz = sizeof(float) * (size_t)n * (size_t)d;
    float *et = malloc(sz), *pt = malloc(sz), *ec = malloc(sz);
    int rc = -1;
    if (!et || !pt || !ec) errf(err, errn, "out of memory (%d x %d embeddings)", n, d);
    else if (!po->quiet) fprintf(stderr, "probe: encoding %d examples\n", n);
    if (et && pt && ec && encode(m, ex, n, eo, et, pt, ec, err, errn) == 0)
        rc = probe_embeddings(et, pt, ec, n, d, po, dir, r, warn, warnn, err, errn);
    free(et);
    free(pt);
    free(ec);
    return rc;
}
