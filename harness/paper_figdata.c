/* Figures drawn from runs.csv alone: the k × λ heat map (Figure 3), the
 * singular values (Figure 7) and the metric against a key (STP). See
 * paper.h. */
#include "errmsg.h"
#include "paper.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figure.h"

/* ---- Figure 3: heat map ---- */

/* Distinct values of key k over the cells of arm (sorted as numbers), into
 * v (room rc->ncells); returns how many. */
static int axis_values(const ReportCells *rc, const char *arm, int k, const char **v) {
    int n = 0;
    for (int i = 0; i < rc->ncells; i++) {
        if (strcmp(rc->cells[i].arm, arm) != 0) continue;
        int seen = 0;
        for (int j = 0; j < n && !seen; j++) seen = strcmp(v[j], rc->cells[i].vals[k]) == 0;
        if (!seen) v[n++] = rc->cells[i].vals[k];
    }
    qsort(v, (size_t)n, sizeof *v, report_qsort_val);
    return n;
}

static int find_val(const char **v, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0) return i;
    return -1;
}

/* The title: the metric and the NTP baseline's mean ± sd. */
static void heat_title(const PaperArtifact *a, const ReportCells *rc, char *out, size_t n) {
    int b = -1, nb = 0;
    for (int i = 0; i < rc->ncells; i++)
        if (strcmp(rc->cells[i].arm, "baseline") == 0) b = i, nb++;
    size_t len = (size_t)snprintf(out, n, "%s: %s (%%), mean ± sd over seeds", a->title, a->metric);
    if (nb != 1) {
        snprintf(out + len, n - len, "; %s", nb ? "several NTP baseline cells" : "no NTP baseline runs");
        return;
    }
    Summary s = stats_summary(rc->cells[b].x, rc->cells[b].n);
    snprintf(out + len, n - len, "; NTP baseline %.2f ± %.2f (n = %d)", s.mean, s.sd, s.n);
}

/* Labels of the axis values. */
static char (*tick_text(const char **v, int n, const char **ticks))[32] {
    char (*t)[32] = malloc((size_t)(n ? n : 1) * sizeof *t);
    for (int i = 0; t && i < n; i++) {
        report_short_val(v[i], t[i], sizeof t[i]);
        ticks[i] = t[i];
    }
    return t;
}

static int draw_heatmap(const PaperArtifact *a, const ReportCells *rc, const char *base, char *err, size_t errn) {
    int kx = report_key_index(rc, a->fig_x), ky = report_key_index(rc, a->fig_y);
    if (kx < 0 || ky < 0) return errf(err, errn, "no identity key '%s' or '%s'", a->fig_x, a->fig_y);
    int m = rc->ncells ? rc->ncells : 1, rcode = -1;
    const char **xv = malloc((size_t)m * sizeof *xv), **yv = malloc((size_t)m * sizeof *yv);
    const char **xt = malloc((size_t)m * sizeof *xt), **yt = malloc((size_t)m * sizeof *yt);
    double *mean = malloc((size_t)m * (size_t)m * sizeof *mean), *sd = malloc((size_t)m * (size_t)m * sizeof *sd);
    int *cnt = calloc((size_t)m * (size_t)m, sizeof *cnt);
    char (*xs)[32] = NULL, (*ys)[32] = NULL;
    if (!xv || !yv || !xt || !yt || !mean || !sd || !cnt) goto done;
    int nx = axis_values(rc, a->fig_arm, kx, xv), ny = axis_values(rc, a->fig_arm, ky, yv);
    if (!nx) {
        rcode = errf(err, errn, "no ok runs of arm %s", a->fig_arm);
        goto done;
    }
    for (int i = 0; i < nx * ny; i++) mean[i] = sd[i] = NAN;
    for (int i = 0; i < rc->ncells; i++) {
        const ReportCell *c = &rc->cells[i];
        if (strcmp(c->arm, a->fig_arm) != 0) continue;
        int at = find_val(yv, ny, c->vals[ky]) * nx + find_val(xv, nx, c->vals[kx]);
        if (cnt[at]) {
            rcode = errf(err, errn, "cells %s and another share %s=%s %s=%s: they differ in a key the map does "
                         "not show", c->label, a->fig_y, c->vals[ky], a->fig_x, c->vals[kx]);
            goto done;
        }
        Summary s = stats_summary(c->x, c->n);
        mean[at] = s.mean;
        sd[at] = c->n > 1 ? s.sd : NAN;
        cnt[at] = c->n;
    }
    xs = tick_text(xv, nx, xt);
    ys = tick_text(yv, ny, yt);
    if (!xs || !ys) goto done;
    char title[400], zl[100];
    heat_title(a, rc, title, sizeof title);
    snprintf(zl, sizeof zl, "%s (%%)", a->metric);
    FigHeatmap h = {title, a->fig_x, a->fig_y, zl, nx, ny, xt, yt, mean, sd, cnt};
    rcode = fig_heatmap(base, &h, err, errn);
done:
    if (rcode && err && errn && !err[0]) errf(err, errn, "out of memory");
    free(xv), free(yv), free(xt), free(yt), free(mean), free(sd), free(cnt), free(xs), free(ys);
    return rcode;
}

/* ---- Figure 7: singular values ---- */

/* Parse up to max space-separated numbers of s into v; returns how many. */
static int parse_list(const char *s, double *v, int max) {
    int n = 0;
    while (s && *s && n < max) {
        char *end;
        double x = strtod(s, &end);
        if (end == s || !isfinite(x)) break;
        v[n++] = x;
        s = end;
    }
    return n;
}

#define SV_MAX 4096

/* One series per cell: the mean over its runs of probe_sv, index by index
 * up to the shortest list. x, y: SV_MAX each. Returns the point count. */
static int sv_series(const Table *t, const ReportCell *c, double *x, double *y) {
    double *v = malloc(SV_MAX * sizeof *v);
    int m = SV_MAX, runs = 0;
    for (int i = 0; i < SV_MAX; i++) y[i] = 0;
    for (int s = 0; v && s < c->n; s++) {
        int k = parse_list(table_get(t, c->rows[s], "probe_sv"), v, SV_MAX);
        if (k == 0) continue;
        if (k < m) m = k;
        for (int i = 0; i < k; i++) y[i] += v[i];
        runs++;
    }
    free(v);
    if (!runs) return 0;
    for (int i = 0; i < m; i++) {
        x[i] = i + 1;
        y[i] /= runs;
    }
    return m;
}

static int draw_sv(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, const char *base, char *err,
                   size_t errn) {
    int nc = rc->ncells, ns = 0, rcode = -1;
    FigSeries *ser = calloc((size_t)(nc ? nc : 1), sizeof *ser);
    double *xy = malloc((size_t)(nc ? nc : 1) * 2 * SV_MAX * sizeof *xy);
    if (!ser || !xy) goto done;
    for (int i = 0; i < nc; i++) {
        double *x = xy + (size_t)ns * 2 * SV_MAX, *y = x + SV_MAX;
        int m = sv_series(&pg->t, &rc->cells[i], x, y);
        if (m) ser[ns++] = (FigSeries){paper_cell_title(a, rc, i), m, x, y, NULL};
    }
    if (!ns) {
        rcode = errf(err, errn, "no run has a probe_sv column to draw");
        goto done;
    }
    FigPanel p = {"singular values of Enc(Text) − Enc(Code), mean over seeds", "index", "singular value", 0, 1, 0,
                  ns, ser};
    char title[200];
    snprintf(title, sizeof title, "%s: %s", a->title, a->shows);
    rcode = fig_lines(base, title, &p, 1, err, errn);
done:
    if (rcode && err && errn && !err[0]) errf(err, errn, "out of memory");
    free(ser);
    free(xy);
    return rcode;
}

/* ---- the metric against a key (STP) ---- */

/* Series of arm: one point per cell (x = its value of key kx), sorted by x. */
static int xy_series(const ReportCells *rc, const char *arm, int kx, double *x, double *y, double *e) {
    int n = 0;
    for (int i = 0; i < rc->ncells; i++) {
        const ReportCell *c = &rc->cells[i];
        double v;
        if (strcmp(c->arm, arm) != 0 || !report_num(c->vals[kx], &v)) continue;
        Summary s = stats_summary(c->x, c->n);
        int j = n++;
        while (j > 0 && x[j - 1] > v) { /* insertion by x */
            x[j] = x[j - 1], y[j] = y[j - 1], e[j] = e[j - 1];
            j--;
        }
        x[j] = v, y[j] = s.mean, e[j] = s.sd;
    }
    return n;
}

static int draw_xy(const PaperArtifact *a, const ReportCells *rc, const char *base, char *err, size_t errn) {
    int kx = report_key_index(rc, a->fig_x), nc = rc->ncells ? rc->ncells : 1, ns = 0, rcode = -1;
    if (kx < 0) return errf(err, errn, "no identity key '%s'", a->fig_x);
    FigSeries ser[8];
    double *buf = malloc((size_t)nc * 3 * 8 * sizeof *buf);
    if (!buf) return errf(err, errn, "out of memory");
    for (int k = 0; a->arms[k] && k < 8; k++) {
        double *x = buf + (size_t)k * 3 * (size_t)nc, *y = x + nc, *e = y + nc;
        int n = xy_series(rc, a->arms[k], kx, x, y, e);
        if (n) ser[ns++] = (FigSeries){a->arm_titles ? a->arm_titles[k] : a->arms[k], n, x, y, e};
    }
    if (ns) {
        char yl[100], title[200];
        snprintf(yl, sizeof yl, "%s (%%), mean ± sd over seeds", a->metric);
        snprintf(title, sizeof title, "%s: %s", a->title, a->shows);
        FigPanel p = {NULL, a->fig_x, yl, 1, 0, 1, ns, ser};
        rcode = fig_lines(base, title, &p, 1, err, errn);
    } else {
        rcode = errf(err, errn, "no cells with a numeric %s", a->fig_x);
    }
    free(buf);
    return rcode;
}

int paper_fig_draw(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, const PaperRun *runs, int n,
                   const char *base, char *err, size_t errn) {
    if (err && errn) err[0] = 0;
    switch (a->fig) {
    case PF_HEATMAP: return draw_heatmap(a, rc, base, err, errn);
    case PF_SV: return draw_sv(a, pg, rc, base, err, errn);
    case PF_XY: return draw_xy(a, rc, base, err, errn);
    case PF_CURVES:
    case PF_EPOCHS: return paper_fig_curves(a, pg, rc, runs, n, base, err, errn);
    case PF_TSNE: return paper_fig_tsne(a, pg, rc, runs, n, base, err, errn);
    default: return errf(err, errn, "no figure");
    }
}
