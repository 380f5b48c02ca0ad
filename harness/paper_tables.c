/* The paper's tables from a grid's cells: the header every table shares,
 * one row per cell (PT_CELLS), per arm probe numbers (PT_PROBE, Table 10),
 * and two arms side by side per value of a key (PT_STP). See paper.h. */
#include "errmsg.h"
#include "paper.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

/* ---- numbers as text (fixed formats: the output is compared byte for byte) ---- */

/* mean ± sd of x[0..n) with fmt for each ("%.2f"): "—" when n = 0, the
 * mean alone when n = 1 (a sample sd needs 2). */
static void fmt_msd(const double *x, int n, const char *fmt, char *out, size_t outn) {
    if (n <= 0) {
        snprintf(out, outn, "—");
        return;
    }
    Summary s = stats_summary(x, n);
    char m[64], d[64];
    snprintf(m, sizeof m, fmt, s.mean);
    if (n == 1) {
        snprintf(out, outn, "%s", m);
        return;
    }
    snprintf(d, sizeof d, fmt, s.sd);
    snprintf(out, outn, "%s ± %s", m, d);
}

/* The numeric values of column col in the rows of cell c into x (c->n
 * room); returns how many read. col "train_tokens" is derived: train_tok_s ×
 * train_s / 1e6, the millions of tokens a run put through the network (the
 * run's compute, unlike train_s independent of the machine and its load). */
static int col_values(const Table *t, const ReportCell *c, const char *col, double *x) {
    int n = 0, tokens = strcmp(col, "train_tokens") == 0;
    for (int s = 0; s < c->n; s++) {
        double a, b;
        if (!tokens && report_num(table_get(t, c->rows[s], col), &x[n])) n++;
        if (tokens && report_num(table_get(t, c->rows[s], "train_tok_s"), &a) &&
            report_num(table_get(t, c->rows[s], "train_s"), &b))
            x[n++] = a * b / 1e6;
    }
    return n;
}

/* The test columns of cell c: Δ, its 95% CI, d_z, p, Holm p, and the note
 * (ci and dz: "—" without at least 2 pairs; "inf" for d_z at zero variance). */
static void fmt_test(const ReportCells *rc, const ReportCell *c, int name_base, char *delta, char *ci, char *dz,
                     char *p, char *holm, char *note, size_t n) {
    snprintf(delta, n, "—");
    snprintf(ci, n, "—");
    snprintf(dz, n, "—");
    snprintf(p, n, "—");
    snprintf(holm, n, "—");
    note[0] = 0;
    if (strcmp(c->arm, "baseline") == 0) return;
    if (c->base < 0) {
        snprintf(note, n, "%s", c->why ? c->why : "no baseline cell");
        return;
    }
    const ReportCell *bc = &rc->cells[c->base];
    size_t nl = name_base ? (size_t)snprintf(note, n, "vs %s", bc->label) : 0;
    if ((c->npaired < c->n || c->npaired < bc->n) && nl < n)
        nl += (size_t)snprintf(note + nl, n - nl, "%s%d seed%s paired (cell %d, baseline %d)", nl ? "; " : "",
                               c->npaired, c->npaired == 1 ? "" : "s", c->n, bc->n);
    if (c->pt.note && nl < n) snprintf(note + nl, n - nl, "%s%s", nl ? "; " : "", c->pt.note);
    if (c->npaired == 0) return;
    snprintf(delta, n, "%+.2f", c->pt.mean_diff);
    if (!c->tested) return;
    snprintf(ci, n, "[%+.2f, %+.2f]", c->pt.ci_lo, c->pt.ci_hi);
    if (isinf(c->pt.dz)) snprintf(dz, n, "%s", c->pt.dz > 0 ? "inf" : "-inf");
    else snprintf(dz, n, "%.2f", c->pt.dz);
    snprintf(p, n, "%.3g", c->pt.p);
    snprintf(holm, n, "%.3g", c->holm);
}

const char *paper_number_for(const PaperArtifact *a, const ReportCells *rc, int i, const char *col) {
    const char *want = col ? col : a->metric;
    for (int k = 0; k < a->npaper; k++) {
        const PaperNumber *pn = &a->paper[k];
        if (strcmp(pn->col ? pn->col : a->metric, want) == 0 && report_cell_find(rc, pn->arm, pn->where) == i)
            return pn->value;
    }
    return NULL;
}

/* ---- the header and the foot ---- */

static void put_runs_per_cell(StrBuf *b, const PaperGrid *pg, const ReportCells *rc) {
    sb_printf(b, "Runs behind each cell (run_id seed):\n\n");
    for (int i = 0; i < rc->ncells; i++) {
        const ReportCell *c = &rc->cells[i];
        sb_printf(b, "- ");
        sb_put_md(b, c->label);
        sb_printf(b, ":");
        for (int s = 0; s < c->n; s++) {
            sb_printf(b, " `%s` ", table_get(&pg->t, c->rows[s], "run_id"));
            sb_put_md(b, c->seeds[s]);
            sb_printf(b, "%s", s + 1 < c->n ? "," : "");
        }
        sb_printf(b, "\n");
    }
    sb_printf(b, "\n");
}

void paper_table_head(StrBuf *b, const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc) {
    sb_printf(b, "Grid: `%s`", pg->gridpath);
    if (!pg->parsed) sb_printf(b, " (%s)", pg->grid_err);
    sb_printf(b, "; runs: `%s`.\n\n", pg->csv);
    sb_printf(b, "Metric: `%s` (runs.csv column), mean ± sample sd (n − 1) over seeds%s.\n\n", a->metric,
              a->table == PT_PROBE ? "" : ", in %");
    sb_printf(b, "Runs: %d ok, %d failed, %d diverged", rc->n_ok, rc->n_failed, rc->n_diverged);
    if (rc->n_other) sb_printf(b, ", %d with another status", rc->n_other);
    if (rc->n_unreadable) sb_printf(b, ", %d ok without a numeric %s (left out)", rc->n_unreadable, a->metric);
    sb_printf(b, ".");
    int outside = paper_runs_outside_grid(pg, rc);
    if (outside)
        sb_printf(b, " %d of the ok runs are not runs of the grid file as it is now (recorded from an earlier "
                  "version of it); they count in their cells.", outside);
    StrBuf lack = {0};
    int nlack = paper_lacking_cells(a, pg, &lack, 1000);
    if (nlack) sb_printf(b, "\n\nCells of the grid lacking runs: %s.", lack.s ? lack.s : "");
    else if (pg->parsed) sb_printf(b, " Every cell of the grid has all its runs.");
    free(lack.s);
    sb_printf(b, "\n\n");
    report_settings(b, rc);
    if (a->paper_setting) sb_printf(b, "Paper: %s.\n\n", a->paper_setting);
    if (a->note) sb_printf(b, "Note: %s.\n\n", a->note);
}

/* Figure scripts, the published numbers without a cell here. */
static void put_tail(StrBuf *b, const PaperArtifact *a, const ReportCells *rc, const char *figs) {
    if (figs) sb_printf(b, "Figure scripts: %s.\n", figs);
    else sb_printf(b, "Figure scripts: none (a table only).\n");
    int any = 0;
    for (int k = 0; k < a->npaper; k++) {
        const PaperNumber *pn = &a->paper[k];
        if (report_cell_find(rc, pn->arm, pn->where) >= 0) continue;
        sb_printf(b, "%s%s%s%s", any ? "; " : "\nPublished numbers without a cell here: ", pn->arm,
                  pn->where ? " " : "", pn->where ? pn->where : "");
        sb_printf(b, "%s%s: %s", pn->col ? " " : "", pn->col ? pn->col : "", pn->value);
        any = 1;
    }
    if (any) sb_printf(b, ".\n");
}

static void put_legend(StrBuf *b, const ReportCells *rc) {
    sb_printf(b, "- **n**: ok runs in the cell (seeds); a cell with one run shows its value alone.\n"
              "- **Δ (pp)**: mean of d = cell − its baseline cell over the seeds both hold, in percentage points. "
              "The baseline cell is the one of arm baseline agreeing on every key that varies among the baseline "
              "cells (named in the note when there are several).\n"
              "- **95%% CI**: two-sided 95%% confidence interval of mean(d), Δ ± t(0.975, n − 1) · sd(d)/√n; "
              "**d_z**: Cohen's d for paired samples, mean(d)/sd(d) (inf when every d is equal).\n"
              "- **p**: paired one-tailed t-test of cell > baseline, t = mean(d)/(sd(d)/√n), df = n − 1, "
              "p = P(T ≥ t); p, CI and d_z are — without at least 2 pairs.\n"
              "- **p (Holm)**: Holm step-down adjustment across the %d tested cell%s of this table.\n"
              "- **paper**: the published number for the cell, — where there is none.\n",
              rc->ntested, rc->ntested == 1 ? "" : "s");
}

/* ---- the three kinds ---- */

/* "col (unit)" as a column header, kept in pt->owned until ptable_free. */
static char *unit_col(PaperTable *pt, const char *col, const char *unit) {
    char buf[200];
    snprintf(buf, sizeof buf, "%s (%s)", col, unit);
    if (pt->nowned >= PAPER_MAX_COLS) return NULL;
    return pt->owned[pt->nowned++] = strdup(buf);
}

/* The unit of a runs.csv column shown beside the metric. */
static const char *extra_unit(const char *col) {
    size_t n = strlen(col);
    if (strcmp(col, "train_tokens") == 0) return "M";
    return n > 2 && strcmp(col + n - 2, "_s") == 0 ? "s" : n > 3 && strcmp(col + n - 3, "_ms") == 0 ? "ms" : "%";
}

static int cells_rows(PaperTable *pt, const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc) {
    pt->ncols = 0;
    pt->cols[pt->ncols] = "cell", pt->align[pt->ncols++] = 'l';
    pt->cols[pt->ncols] = "n", pt->align[pt->ncols++] = 'r';
    char *mcol = unit_col(pt, a->metric, "%"), *ecol = a->extra ? unit_col(pt, a->extra, extra_unit(a->extra)) : NULL;
    if (!mcol || (a->extra && !ecol)) return -1;
    pt->cols[pt->ncols] = mcol, pt->align[pt->ncols++] = 'r';
    if (a->extra) pt->cols[pt->ncols] = ecol, pt->align[pt->ncols++] = 'r';
    static const char *const rest[] = {"Δ (pp)", "95% CI", "d_z", "p", "p (Holm)", "paper", "note"};
    for (int i = 0; i < 7; i++) pt->cols[pt->ncols] = rest[i], pt->align[pt->ncols++] = i < 6 ? 'r' : 'l';
    int nbase = 0;
    for (int i = 0; i < rc->ncells; i++) nbase += strcmp(rc->cells[i].arm, "baseline") == 0;
    for (int i = 0; i < rc->ncells; i++) {
        const ReportCell *c = &rc->cells[i];
        char n[16], m[160], e[160], d[64], ci[64], dz[64], p[64], h[64], note[600];
        double *x = malloc((size_t)c->n * sizeof *x);
        if (!x) return -1;
        snprintf(n, sizeof n, "%d", c->n);
        fmt_msd(c->x, c->n, "%.2f", m, sizeof m);
        if (a->extra) fmt_msd(x, col_values(&pg->t, c, a->extra, x), "%.2f", e, sizeof e);
        free(x);
        fmt_test(rc, c, nbase > 1, d, ci, dz, p, h, note, sizeof note);
        const char *pn = paper_number_for(a, rc, i, NULL);
        const char *v[PAPER_MAX_COLS] = {c->label, n, m};
        int k = 3;
        if (a->extra) v[k++] = e;
        v[k++] = d, v[k++] = ci, v[k++] = dz, v[k++] = p, v[k++] = h, v[k++] = pn ? pn : "—", v[k++] = note;
        if (ptable_row(pt, v)) return -1;
    }
    return 0;
}

static int probe_rows(PaperTable *pt, const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc) {
    static const char *const cols[] = {"cell", "n", NULL, "paper", NULL, "paper"};
    for (int i = 0; i < 6; i++) pt->cols[i] = cols[i], pt->align[i] = i ? 'r' : 'l';
    pt->cols[2] = a->metric;
    pt->cols[4] = a->extra;
    pt->ncols = 6;
    for (int i = 0; i < rc->ncells; i++) {
        const ReportCell *c = &rc->cells[i];
        char n[16], m[160], e[160];
        double *x = malloc((size_t)c->n * sizeof *x);
        if (!x) return -1;
        snprintf(n, sizeof n, "%d", c->n);
        fmt_msd(c->x, c->n, "%.4g", m, sizeof m);
        int ne = col_values(&pg->t, c, a->extra, x);
        fmt_msd(x, ne, "%.4g", e, sizeof e);
        if (ne < c->n) snprintf(e + strlen(e), sizeof e - strlen(e), " (n=%d)", ne);
        free(x);
        const char *p1 = paper_number_for(a, rc, i, a->metric), *p2 = paper_number_for(a, rc, i, a->extra);
        const char *v[] = {c->label, n, m, p1 ? p1 : "—", e, p2 ? p2 : "—"};
        if (ptable_row(pt, v)) return -1;
    }
    return 0;
}

/* One row of PT_STP for value v of key kx. */
static int side_row(PaperTable *pt, const PaperArtifact *a, const ReportCells *rc, const char *key, const char *v) {
    char where[200], sv[64], n0[16] = "0", n1[16] = "0", m0[160] = "—", m1[160] = "—", d[64] = "—", ci[64] = "—",
         dz[64] = "—", p[64] = "—", h[64] = "—", note[600] = "no runs";
    snprintf(where, sizeof where, "%s=%s", key, v);
    int b = report_cell_find(rc, a->arms[0], where), s = report_cell_find(rc, a->arms[1], where);
    if (b >= 0) {
        snprintf(n0, sizeof n0, "%d", rc->cells[b].n);
        fmt_msd(rc->cells[b].x, rc->cells[b].n, "%.2f", m0, sizeof m0);
    }
    if (s >= 0) {
        snprintf(n1, sizeof n1, "%d", rc->cells[s].n);
        fmt_msd(rc->cells[s].x, rc->cells[s].n, "%.2f", m1, sizeof m1);
        fmt_test(rc, &rc->cells[s], rc->cells[s].base != b, d, ci, dz, p, h, note, sizeof note);
    }
    report_short_val(v, sv, sizeof sv);
    const char *vals[] = {sv, n0, m0, n1, m1, d, ci, dz, p, h, note};
    return ptable_row(pt, vals);
}

static int side_rows(PaperTable *pt, const PaperArtifact *a, const ReportCells *rc) {
    static const char *const cols[] = {NULL, "n", NULL, "n", NULL, "Δ (pp)", "95% CI", "d_z", "p", "p (Holm)", "note"};
    for (int i = 0; i < 11; i++) pt->cols[i] = cols[i], pt->align[i] = i == 10 ? 'l' : 'r';
    pt->cols[0] = a->fig_x;
    pt->cols[2] = unit_col(pt, a->arm_titles[0], "%");
    pt->cols[4] = unit_col(pt, a->arm_titles[1], "%");
    pt->ncols = 11;
    if (!pt->cols[2] || !pt->cols[4]) return -1;
    int kx = report_key_index(rc, a->fig_x);
    const char **v = malloc((size_t)(rc->ncells ? rc->ncells : 1) * sizeof *v);
    if (!v) return -1;
    int nv = 0;
    for (int i = 0; i < rc->ncells && kx >= 0; i++) {
        int seen = 0;
        for (int j = 0; j < nv && !seen; j++) seen = strcmp(v[j], rc->cells[i].vals[kx]) == 0;
        if (!seen) v[nv++] = rc->cells[i].vals[kx];
    }
    qsort(v, (size_t)nv, sizeof *v, report_qsort_val);
    int rcode = 0;
    for (int j = 0; j < nv && !rcode; j++) rcode = side_row(pt, a, rc, a->fig_x, v[j]);
    free(v);
    return rcode;
}

int paper_table_write(const PaperArtifact *a, const PaperGrid *pg, const ReportCells *rc, const char *figs,
                      const char *out, PaperResult *r, char *err, size_t errn) {
    PaperTable pt = {0};
    paper_table_head(&pt.head, a, pg, rc);
    put_runs_per_cell(&pt.head, pg, rc);
    int bad = a->table == PT_PROBE ? probe_rows(&pt, a, pg, rc)
              : a->table == PT_STP ? side_rows(&pt, a, rc)
                                   : cells_rows(&pt, a, pg, rc);
    if (a->table != PT_PROBE) put_legend(&pt.foot, rc);
    else sb_printf(&pt.foot, "- **n**: probed runs in the cell; values are mean ± sample sd over its seeds.\n"
                   "- **paper**: the published number for the arm, — where there is none.\n");
    sb_printf(&pt.foot, "\n");
    put_tail(&pt.foot, a, rc, figs);
    StrBuf md = {0}, tex = {0};
    char title[300];
    snprintf(title, sizeof title, "%s: %s", a->title, a->shows);
    bad = bad || pt.head.oom || pt.foot.oom || ptable_markdown(&pt, title, &md) || ptable_latex(&pt, title, &tex);
    int rcode = bad ? errf(err, errn, "out of memory") : 0;
    char name[200];
    snprintf(name, sizeof name, "%s.md", a->id);
    if (!rcode) rcode = paper_write_file(out, name, md.s, err, errn);
    snprintf(name, sizeof name, "%s.tex", a->id);
    if (!rcode) rcode = paper_write_file(out, name, tex.s, err, errn);
    if (!rcode) snprintf(r->files + strlen(r->files), sizeof r->files - strlen(r->files), "%s%s.md %s.tex",
                         r->files[0] ? " " : "", a->id, a->id);
    free(md.s);
    free(tex.s);
    ptable_free(&pt);
    return rcode;
}
