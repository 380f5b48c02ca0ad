/* The table of `harness report`: one row per cell, as Markdown, LaTeX
 * booktabs or CSV, and the legend under it. See report.h. */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paper.h"
#include "stats.h"

/* The columns of the Markdown and LaTeX table. */
enum { C_CELL, C_N, C_MEAN, C_OTHER, C_SEEDS, C_VS, C_DELTA, C_CI, C_DZ, C_T, C_DF, C_P, C_HOLM, C_NOTE, NCOL };
#define VLEN 600

static int is_baseline(const ReportCell *c) {
    return strcmp(c->arm, "baseline") == 0;
}

/* The accuracy that is not the metric (shown beside it), or NULL. */
static const char *other_col(const char *metric) {
    if (strcmp(metric, "acc_exact") == 0) return "acc_startswith";
    if (strcmp(metric, "acc_startswith") == 0) return "acc_exact";
    return NULL;
}

/* How a value of metric is shown: "%.2f" for accuracies in %, else "%.4g". */
static void fmt_val(const char *metric, double v, int sign, char *out, size_t n) {
    if (isinf(v)) snprintf(out, n, "%s", v > 0 ? "inf" : "-inf");
    else if (report_metric_is_pct(metric)) snprintf(out, n, sign ? "%+.2f" : "%.2f", v);
    else snprintf(out, n, sign ? "%+.4g" : "%.4g", v);
}

/* The shortest text of v that reads back the same; "inf"/"-inf". */
static void fmt_exact(double v, char *out, size_t n) {
    char s[64];
    if (isinf(v)) snprintf(out, n, "%s", v > 0 ? "inf" : "-inf");
    else {
        snprintf(s, sizeof s, "%.17g", v);
        report_short_val(s, out, n);
    }
}

static const char *metric_title(const char *metric) {
    static char title[64];
    if (!report_metric_is_pct(metric)) return metric;
    snprintf(title, sizeof title, "%s %%", metric + 4); /* acc_exact -> "exact %" */
    return title;
}

/* mean ± sd of column col over the runs of c where it reads (n shown when
 * fewer than c->n), "—" when none. */
static int fmt_col_msd(const Table *t, const ReportCell *c, const char *col, const char *metric, char *out,
                       size_t n) {
    double *x = malloc((size_t)(c->n ? c->n : 1) * sizeof *x);
    if (!x) return -1;
    int k = 0;
    for (int s = 0; s < c->n; s++) k += report_num(table_get(t, c->rows[s], col), &x[k]);
    Summary sm = stats_summary(x, k);
    free(x);
    char m[64], d[64];
    fmt_val(metric, sm.mean, 0, m, sizeof m);
    fmt_val(metric, sm.sd, 0, d, sizeof d);
    if (!k) snprintf(out, n, "—");
    else if (k == 1) snprintf(out, n, "%s%s", m, c->n > 1 ? " (n=1)" : "");
    else if (k < c->n) snprintf(out, n, "%s ± %s (n=%d)", m, d, k);
    else snprintf(out, n, "%s ± %s", m, d);
    return 0;
}

static int cmp_seed(const void *a, const void *b) {
    return report_cmp_val(*(const char *const *)a, *(const char *const *)b);
}

/* The seeds of c in numeric order (stable insertion sort), space-separated. */
static int fmt_seeds(const ReportCell *c, char *out, size_t n) {
    const char **sd = malloc((size_t)(c->n ? c->n : 1) * sizeof *sd);
    if (!sd) return -1;
    for (int s = 0; s < c->n; s++) {
        const char *v = c->seeds[s];
        int j = s - 1;
        while (j >= 0 && cmp_seed(&sd[j], &v) > 0) {
            sd[j + 1] = sd[j];
            j--;
        }
        sd[j + 1] = v;
    }
    size_t len = 0;
    out[0] = 0;
    for (int s = 0; s < c->n && len < n; s++) {
        int w = snprintf(out + len, n - len, "%s%s", s ? " " : "", sd[s]);
        if (w < 0) break;
        len += (size_t)w;
    }
    free(sd);
    return 0;
}

/* The note of cell i: best, stale runs, pairing, the test's edge case. */
static void fmt_note(const ReportCells *rc, int i, char *note, size_t n) {
    const ReportCell *c = &rc->cells[i];
    size_t nl = 0;
    note[0] = 0;
#define ADD(...)                                                                                                    \
    do {                                                                                                            \
        if (nl < n) {                                                                                               \
            int w_ = snprintf(note + nl, n - nl, "%s", nl ? "; " : "");                                            \
            if (w_ > 0) nl += (size_t)w_;                                                                           \
            if (nl < n && (w_ = snprintf(note + nl, n - nl, __VA_ARGS__)) > 0) nl += (size_t)w_;                    \
        }                                                                                                           \
    } while (0)
    if (rc->best == i) ADD("best");
    if (c->nstale) ADD("%d stale (data changed)", c->nstale);
    if (is_baseline(c)) return;
    if (c->base < 0) {
        ADD("%s", c->why);
        return;
    }
    const ReportCell *bc = &rc->cells[c->base];
    if (c->npaired < c->n || c->npaired < bc->n)
        ADD("%d seed%s paired (cell %d, baseline %d)", c->npaired, c->npaired == 1 ? "" : "s", c->n, bc->n);
    if (c->npaired == 1) ADD("1 pair: not tested");
    else if (c->npaired >= 2 && c->pt.note) ADD("%s", c->pt.note);
#undef ADD
}

/* The test columns of cell c into v (already ""): vs, Δ, CI, d_z, t, df, p, Holm. */
static void fmt_test(const ReportCells *rc, const ReportCell *c, const char *metric, char (*v)[VLEN]) {
    if (is_baseline(c)) {
        snprintf(v[C_VS], VLEN, "—");
        return;
    }
    if (c->base < 0) {
        snprintf(v[C_VS], VLEN, "—");
        return;
    }
    snprintf(v[C_VS], VLEN, "%s", rc->cells[c->base].label);
    for (int k = C_DELTA; k <= C_HOLM; k++) snprintf(v[k], VLEN, "—");
    if (c->npaired == 0) return;
    fmt_val(metric, c->pt.mean_diff, 1, v[C_DELTA], VLEN);
    if (!c->tested) return; /* fewer than 2 pairs: no test, no interval */
    char lo[64], hi[64];
    fmt_val(metric, c->pt.ci_lo, 1, lo, sizeof lo);
    fmt_val(metric, c->pt.ci_hi, 1, hi, sizeof hi);
    snprintf(v[C_CI], VLEN, "[%s, %s]", lo, hi);
    if (isinf(c->pt.dz)) snprintf(v[C_DZ], VLEN, "%s", c->pt.dz > 0 ? "inf" : "-inf");
    else snprintf(v[C_DZ], VLEN, "%.2f", c->pt.dz);
    if (isinf(c->pt.t)) snprintf(v[C_T], VLEN, "%s", c->pt.t > 0 ? "inf" : "-inf");
    else snprintf(v[C_T], VLEN, "%.3f", c->pt.t);
    snprintf(v[C_DF], VLEN, "%.0f", c->pt.df);
    snprintf(v[C_P], VLEN, "%.4g", c->pt.p);
    snprintf(v[C_HOLM], VLEN, "%.4g", c->holm);
}

/* Every column of cell i as text. -1 when out of memory. */
static int cell_strings(const Table *t, const ReportCells *rc, int i, const char *metric, char (*v)[VLEN]) {
    const ReportCell *c = &rc->cells[i];
    for (int k = 0; k < NCOL; k++) v[k][0] = 0;
    snprintf(v[C_CELL], VLEN, "%s", c->label);
    snprintf(v[C_N], VLEN, "%d", c->n);
    Summary s = stats_summary(c->x, c->n);
    char m[64], d[64];
    fmt_val(metric, s.mean, 0, m, sizeof m);
    fmt_val(metric, s.sd, 0, d, sizeof d);
    if (c->n == 1) snprintf(v[C_MEAN], VLEN, "%s", m); /* a sample sd needs 2 runs */
    else snprintf(v[C_MEAN], VLEN, "%s ± %s", m, d);
    const char *oc = other_col(metric);
    if (oc && fmt_col_msd(t, c, oc, oc, v[C_OTHER], VLEN)) return -1;
    if (fmt_seeds(c, v[C_SEEDS], VLEN)) return -1;
    fmt_test(rc, c, metric, v);
    fmt_note(rc, i, v[C_NOTE], VLEN);
    return 0;
}

/* The headers, right alignment, and whether column k is shown. */
static void headers(const char *metric, char (*h)[VLEN], char *align, int *shown) {
    const char *oc = other_col(metric);
    const char *pp = report_metric_is_pct(metric) ? " (pp)" : "";
    static const char *const fixed[NCOL] = {"cell", "n", NULL, NULL, "seeds", "vs", NULL, "95% CI", "d_z", "t",
                                            "df", "p", "p (Holm)", "note"};
    for (int k = 0; k < NCOL; k++) {
        snprintf(h[k], VLEN, "%s", fixed[k] ? fixed[k] : "");
        align[k] = k == C_CELL || k == C_SEEDS || k == C_VS || k == C_NOTE ? 'l' : 'r';
        shown[k] = 1;
    }
    snprintf(h[C_MEAN], VLEN, "%s", metric_title(metric));
    if (oc) snprintf(h[C_OTHER], VLEN, "%s", metric_title(oc));
    shown[C_OTHER] = oc != NULL;
    const char *short_name = strncmp(metric, "acc_", 4) == 0 ? metric + 4 : metric;
    snprintf(h[C_DELTA], VLEN, "Δ %s%s", short_name, pp);
}

/* One Markdown row; the mean in bold when bold. */
static void md_row(StrBuf *b, char (*v)[VLEN], const int *shown, int bold) {
    sb_printf(b, "|");
    for (int k = 0; k < NCOL; k++) {
        if (!shown[k]) continue;
        if (!v[k][0]) {
            sb_printf(b, " |");
            continue;
        }
        sb_printf(b, " %s", k == C_MEAN && bold ? "**" : "");
        sb_put_md(b, v[k]);
        sb_printf(b, "%s |", k == C_MEAN && bold ? "**" : "");
    }
    sb_printf(b, "\n");
}

/* One LaTeX row; the mean in \textbf when bold. */
static void tex_row(StrBuf *b, char (*v)[VLEN], const int *shown, int bold) {
    int first = 1;
    for (int k = 0; k < NCOL; k++) {
        if (!shown[k]) continue;
        sb_printf(b, "%s%s", first ? "" : " & ", k == C_MEAN && bold ? "\\textbf{" : "");
        paper_tex_escape(b, v[k]);
        if (k == C_MEAN && bold) sb_printf(b, "}");
        first = 0;
    }
    sb_printf(b, " \\\\\n");
}

static int put_grid(StrBuf *b, const Table *t, const ReportCells *rc, const char *metric, int tex) {
    char(*v)[VLEN] = malloc(NCOL * sizeof *v);
    if (!v) return -1;
    char align[NCOL];
    int shown[NCOL];
    headers(metric, v, align, shown);
    if (tex) {
        sb_printf(b, "\\begin{tabular}{");
        for (int k = 0; k < NCOL; k++)
            if (shown[k]) sb_printf(b, "%c", align[k]);
        sb_printf(b, "}\n\\toprule\n");
        tex_row(b, v, shown, 0);
        sb_printf(b, "\\midrule\n");
    } else {
        md_row(b, v, shown, 0);
        sb_printf(b, "|");
        for (int k = 0; k < NCOL; k++)
            if (shown[k]) sb_printf(b, "%s|", align[k] == 'r' ? "---:" : "---");
        sb_printf(b, "\n");
    }
    int rc_ = 0;
    for (int i = 0; i < rc->ncells && !rc_; i++) {
        rc_ = cell_strings(t, rc, i, metric, v);
        if (!rc_ && tex) tex_row(b, v, shown, rc->best == i);
        else if (!rc_) md_row(b, v, shown, rc->best == i);
    }
    if (tex) sb_printf(b, "\\bottomrule\n\\end{tabular}\n");
    free(v);
    return rc_;
}

/* ---- CSV ---- */

static void csv_field(StrBuf *b, const char *s, int last) {
    if (strpbrk(s, ",\"\n\r") || (s[0] == ' ') || (*s && s[strlen(s) - 1] == ' ')) {
        sb_printf(b, "\"");
        for (const char *c = s; *c; c++) {
            if (*c == '"') sb_printf(b, "\"\"");
            else sb_printf(b, "%c", *c == '\n' || *c == '\r' ? ' ' : *c);
        }
        sb_printf(b, "\"");
    } else sb_printf(b, "%s", s);
    sb_printf(b, last ? "\n" : ",");
}

static void csv_num(StrBuf *b, double v, int have) {
    char s[64] = "";
    if (have) fmt_exact(v, s, sizeof s);
    csv_field(b, s, 0);
}

/* One CSV row per cell, every number unrounded (report.h report_render). */
static int put_csv(StrBuf *b, const ReportCells *rc, const char *grid, const char *metric) {
    static const char *const head[] = {"grid", "metric", "better", "cell", "arm", "n", "mean", "sd", "seeds",
                                       "vs", "npaired", "delta", "ci_lo", "ci_hi", "d_z", "t", "df", "p",
                                       "p_holm", "best", "stale", "note"};
    int nh = (int)(sizeof head / sizeof head[0]);
    for (int k = 0; k < nh; k++) csv_field(b, head[k], k == nh - 1);
    char *seeds = malloc(VLEN), note[VLEN];
    if (!seeds) return -1;
    for (int i = 0; i < rc->ncells; i++) {
        const ReportCell *c = &rc->cells[i];
        int tested = c->base >= 0 && c->tested, paired = c->base >= 0 && c->npaired > 0;
        Summary s = stats_summary(c->x, c->n);
        if (fmt_seeds(c, seeds, VLEN)) {
            free(seeds);
            return -1;
        }
        fmt_note(rc, i, note, sizeof note);
        csv_field(b, grid, 0);
        csv_field(b, metric, 0);
        csv_field(b, rc->better > 0 ? "higher" : "lower", 0);
        csv_field(b, c->label, 0);
        csv_field(b, c->arm, 0);
        sb_printf(b, "%d,", c->n);
        csv_num(b, s.mean, 1);
        csv_num(b, s.sd, c->n >= 2);
        csv_field(b, seeds, 0);
        csv_field(b, c->base >= 0 ? rc->cells[c->base].label : "", 0);
        if (c->base >= 0) sb_printf(b, "%d,", c->npaired);
        else sb_printf(b, ",");
        csv_num(b, c->pt.mean_diff, paired);
        csv_num(b, c->pt.ci_lo, tested);
        csv_num(b, c->pt.ci_hi, tested);
        csv_num(b, c->pt.dz, tested);
        csv_num(b, c->pt.t, tested);
        csv_num(b, c->pt.df, tested);
        csv_num(b, c->pt.p, tested);
        csv_num(b, c->holm, tested);
        sb_printf(b, "%d,%d,", rc->best == i, c->nstale);
        csv_field(b, note, 1);
    }
    free(seeds);
    return 0;
}

int report_put_table(StrBuf *b, const Table *t, const ReportCells *rc, const char *grid, const char *metric,
                     ReportFormat f) {
    if (f == REPORT_CSV) return put_csv(b, rc, grid, metric);
    return put_grid(b, t, rc, metric, f == REPORT_TEX);
}

void report_put_legend(StrBuf *b, const ReportCells *rc, const char *metric) {
    int pct = report_metric_is_pct(metric), hi = rc->better > 0;
    sb_printf(b, "- **n**: ok runs in the cell; `%s` is mean ± sample sd (n − 1) over its seeds%s (one run: its "
              "value alone).\n", metric, pct ? ", in %" : "");
    sb_printf(b,
              "- **Δ, t, df, p**: paired one-tailed t-test of `%s`, cell %s baseline (%s is better), runs paired "
              "by seed: d = cell − baseline, Δ = mean(d)%s, t = mean(d)/(sd(d)/√n), df = n − 1, p = P(T %s t).\n",
              metric, hi ? ">" : "<", hi ? "higher" : "lower", pct ? " in percentage points" : "", hi ? "≥" : "≤");
    sb_printf(b, "- **95%% CI**: two-sided 95%% confidence interval of mean(d), Δ ± t(0.975, n − 1) · sd(d)/√n; "
                 "**d_z**: Cohen's d for paired samples, mean(d)/sd(d).\n");
    sb_printf(b, "- With fewer than 2 pairs there is no test: t, df, p, CI, d_z and p (Holm) show —. When every d "
                 "is equal (zero variance), t and d_z are ±inf, p is 0 or 1 and the CI is Δ itself; when every d "
                 "is 0 (identical), t = d_z = 0 and p = 0.5.\n");
    sb_printf(b, "- **vs**: the baseline cell that agrees with the cell on every key that varies among the "
                 "baseline cells.\n");
    sb_printf(b, "- **p (Holm)**: Holm step-down adjustment across the %d tested cell%s of the grid (cells with "
                 "at least 2 pairs).\n", rc->ntested, rc->ntested == 1 ? "" : "s");
    sb_printf(b, "- **best** (mean in bold): the cell of a non-baseline arm with the %s mean; equal means go to "
                 "the cell with more runs, then to the one listed first.\n", hi ? "highest" : "lowest");
}
