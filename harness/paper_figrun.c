/* Figures drawn from run directories: training curves per step (Figure 4)
 * and per epoch (Figure 5) from curve.csv, and t-SNE panels (Figure 6) from
 * probe/tsne.csv. Columns are found by name; an empty value is missing;
 * nothing is interpolated. See paper.h. */
#include "errmsg.h"
#include "paper.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figure.h"
#include "stats.h"

/* Read RUN_DIR/file of run id into t. */
static int read_run_csv(const PaperGrid *pg, const char *id, const char *file, Table *t, char *err, size_t errn) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s/%s", pg->rundir, id, file);
    if (store_read(path, t, err, errn)) return -1;
    if (t->nrows == 0) return errf(err, errn, "%s: no rows", path);
    return 0;
}

/* The value of column col in the row of t whose kind is kind and whose
 * column xcol equals x; 0 when there is none or it is not a number. */
static int value_at(const Table *t, const char *kind, const char *xcol, double x, const char *col, double *v) {
    for (int r = 0; r < t->nrows; r++) {
        double rx;
        const char *k = table_get(t, r, "kind");
        if (k && strcmp(k, kind) == 0 && report_num(table_get(t, r, xcol), &rx) && rx == x)
            return report_num(table_get(t, r, col), v);
    }
    return 0;
}

/* One series: at each x (column xcol) of the first run's rows of kind kind
 * where every run of tabs[0..nt) holds a number in col, the mean (and sd in
 * e) over the runs. x, y, e: tabs[0].nrows each. Returns the point count. */
static int mean_series(Table *const *tabs, int nt, const char *kind, const char *xcol, const char *col, double *x,
                       double *y, double *e) {
    int n = 0;
    double v[256];
    for (int r = 0; r < tabs[0]->nrows; r++) {
        const char *k = table_get(tabs[0], r, "kind");
        double rx;
        if (!k || strcmp(k, kind) != 0 || !report_num(table_get(tabs[0], r, xcol), &rx)) continue;
        int all = nt <= 256;
        for (int i = 0; i < nt && all; i++) all = value_at(tabs[i], kind, xcol, rx, col, &v[i]);
        if (!all || (n > 0 && x[n - 1] == rx)) continue;
        Summary s = stats_summary(v, nt);
        x[n] = rx, y[n] = s.mean, e[n] = s.sd;
        n++;
    }
    return n;
}

/* The panels: Figure 4's NTP loss and JEPA distance, or Figure 5's metric. */
typedef struct CurvePanel {
    const char *title, *ylabel, *kind, *xcol, *col;
    int yerr;
} CurvePanel;

/* Fill panel p's series (one per cell with runs) from the tables of the runs. */
static int curve_panel(const PaperArtifact *a, const ReportCells *rc, const PaperRun *runs, Table *tabs, int n,
                       const CurvePanel *cp, FigSeries *ser, double **bufs, Table **sel) {
    int ns = 0;
    for (int c = 0; c < rc->ncells; c++) {
        int nt = 0;
        for (int i = 0; i < n; i++)
            if (runs[i].cell == c && runs[i].has_file) sel[nt++] = &tabs[i];
        if (!nt) continue;
        size_t m = (size_t)sel[0]->nrows;
        double *buf = malloc(3 * m * sizeof *buf);
        if (!buf) return -1;
        bufs[ns] = buf;
        int np = mean_series(sel, nt, cp->kind, cp->xcol, cp->col, buf, buf + m, buf + 2 * m);
        ser[ns] = (FigSeries){paper_cell_title(a, rc, c), np, buf, buf + m, cp->yerr ? buf + 2 * m : NULL};
        ns++;
    }
    return ns;
}

int paper_fig_curves(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, const PaperRun *runs, int n,
                     const char *base, char *err, size_t errn) {
    static const CurvePanel STEPS[] = {
        {"NTP loss, mean over seeds", "NTP loss (nats per token)", "step", "step", "ntp_loss", 0},
        {"JEPA distance, mean over seeds", "JEPA distance", "step", "step", "jepa_dist", 0},
    };
    CurvePanel epochs = {"accuracy after each epoch", NULL, "epoch", "epoch", a->metric, 1};
    char yl[100];
    snprintf(yl, sizeof yl, "%s (%%), mean ± sd over seeds", a->metric);
    epochs.ylabel = yl;
    const CurvePanel *cps = a->fig == PF_CURVES ? STEPS : &epochs;
    int np = a->fig == PF_CURVES ? 2 : 1, rcode = -1, ncell = rc->ncells ? rc->ncells : 1;
    Table *tabs = calloc((size_t)(n ? n : 1), sizeof *tabs), **sel = malloc((size_t)(n ? n : 1) * sizeof *sel);
    FigSeries *ser = calloc((size_t)(2 * ncell), sizeof *ser);
    double **bufs = calloc((size_t)(2 * ncell), sizeof *bufs);
    FigPanel panels[2];
    if (!tabs || !sel || !ser || !bufs) goto oom;
    for (int i = 0; i < n; i++)
        if (runs[i].has_file && read_run_csv(pg, runs[i].id, "curve.csv", &tabs[i], err, errn)) goto done;
    for (int p = 0; p < np; p++) {
        int ns = curve_panel(a, rc, runs, tabs, n, &cps[p], ser + p * ncell, bufs + p * ncell, sel);
        if (ns < 0) goto oom;
        panels[p] = (FigPanel){cps[p].title, cps[p].xcol, cps[p].ylabel, 0, 0, a->fig == PF_EPOCHS, ns,
                               ser + p * ncell};
    }
    char title[200];
    snprintf(title, sizeof title, "%s: %s", a->title, a->shows);
    rcode = fig_lines(base, title, panels, np, err, errn);
    goto done;
oom:
    rcode = errf(err, errn, "out of memory");
done:
    for (int i = 0; tabs && i < n; i++) table_free(&tabs[i]);
    for (int i = 0; bufs && i < 2 * ncell; i++) free(bufs[i]);
    free(tabs), free(sel), free(ser), free(bufs);
    return rcode;
}

/* ---- Figure 6 ---- */

/* One t-SNE panel from run r's probe/tsne.csv (i,view,x,y): xy (rows, 2)
 * and cls (0 text, 1 code), malloc'd into *xy and *cls. */
static int tsne_panel(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, const PaperRun *r,
                      FigScatter *p, double **xy, int **cls, char *err, size_t errn) {
    Table t = {0};
    if (read_run_csv(pg, r->id, "probe/tsne.csv", &t, err, errn)) return -1;
    *xy = malloc((size_t)t.nrows * 2 * sizeof **xy);
    *cls = malloc((size_t)t.nrows * sizeof **cls);
    int n = 0;
    for (int i = 0; *xy && *cls && i < t.nrows; i++) {
        const char *view = table_get(&t, i, "view");
        int c = view && strcmp(view, "text") == 0 ? 0 : view && strcmp(view, "code") == 0 ? 1 : -1;
        if (c >= 0 && report_num(table_get(&t, i, "x"), &(*xy)[2 * n]) &&
            report_num(table_get(&t, i, "y"), &(*xy)[2 * n + 1]))
            (*cls)[n++] = c;
    }
    table_free(&t);
    if (!*xy || !*cls) return errf(err, errn, "out of memory");
    if (!n)
        return errf(err, errn, "%s/%s/probe/tsne.csv: no rows with view text|code and numeric x, y", pg->rundir, r->id);
    *p = (FigScatter){paper_cell_title(a, rc, r->cell), n, *xy, *cls};
    return 0;
}

int paper_fig_tsne(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, const PaperRun *runs, int n,
                   const char *base, char *err, size_t errn) {
    static const char *const names[] = {"Enc(Text)", "Enc(Code)"};
    FigScatter *p = calloc((size_t)(n ? n : 1), sizeof *p);
    double **xy = calloc((size_t)(n ? n : 1), sizeof *xy);
    int **cls = calloc((size_t)(n ? n : 1), sizeof *cls);
    int np = 0, rcode = 0;
    if (!p || !xy || !cls) rcode = errf(err, errn, "out of memory");
    for (int i = 0; i < n && !rcode; i++) {
        if (!runs[i].has_file) continue;
        rcode = tsne_panel(a, pg, rc, &runs[i], &p[np], &xy[np], &cls[np], err, errn);
        np++;
    }
    if (!rcode) {
        char title[200];
        snprintf(title, sizeof title, "%s: %s (seed %s)", a->title, a->shows, a->fig_seed);
        rcode = fig_scatter(base, title, names, 2, p, np, err, errn);
    }
    for (int i = 0; xy && cls && i < n; i++) free(xy[i]), free(cls[i]);
    free(p), free(xy), free(cls);
    return rcode;
}
