/* The Markdown report of a grid's results. See report.h. */
#include "errmsg.h"
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "stats.h"

static void fmt_p(double p, char *out, size_t n) {
    snprintf(out, n, "%.4g", p);
}

static void fmt_t(double t, char *out, size_t n) {
    if (isinf(t)) snprintf(out, n, "%s", t > 0 ? "inf" : "-inf");
    else snprintf(out, n, "%.3f", t);
}

/* ---- data provenance ---- */

static int finished_status(const char *st) {
    return st && (!strcmp(st, "ok") || !strcmp(st, "diverged"));
}

/* Whether an earlier row e of a run recorded other data than its last row
 * l: a train or test hash both hold that differs. */
static int data_differs(const Table *t, int e, int l) {
    static const char *const cols[] = {"train_sha256", "test_sha256"};
    for (int i = 0; i < 2; i++) {
        const char *a = table_get(t, e, cols[i]), *b = table_get(t, l, cols[i]);
        if (a && b && *a && *b && strcmp(a, b)) return 1;
    }
    return 0;
}

/* Runs re-run because their data changed, runs of unknown data and stale
 * runs (ids sorted by run_id then row). */
static void count_data(const Table *t, const ReportIdRow *ids, const char *is_last, const char *const *stale,
                       int *nrerun, int *nunknown, int *nstale) {
    for (int i = 0, first = 0; i < t->nrows; i++) {
        if (i > 0 && strcmp(ids[i].id, ids[i - 1].id)) first = i;
        if (!is_last[ids[i].row]) continue;
        int l = ids[i].row, changed = 0;
        for (int e = first; e < i && !changed; e++)
            changed = finished_status(table_get(t, ids[e].row, "status")) && data_differs(t, ids[e].row, l);
        *nrerun += changed;
        if (!finished_status(table_get(t, l, "status"))) continue;
        const char *h = table_get(t, l, "train_sha256");
        *nunknown += !h || !*h;
        *nstale += stale && stale[l];
    }
}

/* The data lines of the header: runs re-run because their data changed,
 * stale runs (stale[r] for the last rows, may be NULL), runs of unknown data,
 * and columns an older file lacked. -1 when out of memory. */
static int data_notes(StrBuf *b, const Table *t, const char *is_last, const char *const *stale) {
    ReportIdRow *ids = report_rows_by_id(t, table_col(t, "run_id"));
    if (!ids) return -1;
    int nrerun = 0, nstale = 0, nunknown = 0;
    count_data(t, ids, is_last, stale, &nrerun, &nunknown, &nstale);
    free(ids);
    if (nrerun)
        sb_printf(b, "%d run%s re-run because %s data changed since %s first recorded (the newer row counts).\n\n",
                  nrerun, nrerun == 1 ? " was" : "s were", nrerun == 1 ? "its" : "their",
                  nrerun == 1 ? "it was" : "they were");
    if (nunknown)
        sb_printf(b, "%d run%s recorded before data hashes were kept (no train_sha256): %s data is unknown, and %s "
                  "reused as recorded.\n\n", nunknown, nunknown == 1 ? " was" : "s were",
                  nunknown == 1 ? "its" : "their", nunknown == 1 ? "it is" : "they are");
    if (t->filled)
        sb_printf(b, "runs.csv has an older header: %d column%s it lacks read as the key's neutral value (result "
                  "columns as empty).\n\n", t->filled, t->filled == 1 ? "" : "s");
    if (!nstale) return 0;
    sb_printf(b, "**%d stale run%s**: recorded, but %s data file changed since and %s not been re-run yet "
              "(`harness run` re-runs %s); ok ones still count in the table, marked in its note column:\n\n",
              nstale, nstale == 1 ? "" : "s", nstale == 1 ? "its" : "their", nstale == 1 ? "it has" : "they have",
              nstale == 1 ? "it" : "them");
    for (int r = 0; r < t->nrows; r++) {
        if (!is_last[r] || !stale[r] || !finished_status(table_get(t, r, "status"))) continue;
        const char *arm = table_get(t, r, "arm"), *seed = table_get(t, r, "seed");
        sb_printf(b, "- `%s` ", table_get(t, r, "run_id"));
        sb_put_md(b, arm ? arm : "");
        sb_printf(b, " seed %s: ", seed ? seed : "?");
        sb_put_md(b, stale[r]);
        sb_printf(b, "\n");
    }
    sb_printf(b, "\n");
    return 0;
}

/* ---- settings ---- */

/* Keys equal in every cell, when not the default. */
static void common_settings(StrBuf *b, const ReportCells *rc) {
    const ReportCell *cells = rc->cells;
    int any = 0;
    for (int k = 0; k < rc->nkeys; k++) {
        int same = 1;
        for (int i = 1; i < rc->ncells && same; i++) same = strcmp(cells[i].vals[k], cells[0].vals[k]) == 0;
        /* "" = no effect in any cell (lora_dropout without LoRA) */
        if (!same || !cells[0].vals[k][0] || strcmp(cells[0].vals[k], rc->defv[k]) == 0) continue;
        char sv[64];
        report_short_val(cells[0].vals[k], sv, sizeof sv);
        sb_printf(b, "%s`%s=", any ? " " : "Common settings (not default): ", rc->keys[k]->name);
        sb_put_md(b, sv);
        sb_printf(b, "`");
        any = 1;
    }
    if (any) sb_printf(b, "\n\n");
}

/* Whether key k is fixed within each arm but differs between arms. */
static int arm_fixed(const ReportCells *rc, int k) {
    const ReportCell *cells = rc->cells;
    int same_all = 1, fixed = 1;
    for (int i = 1; i < rc->ncells; i++) {
        if (strcmp(cells[i].vals[k], cells[0].vals[k]) != 0) same_all = 0;
        for (int j = 0; j < i && fixed; j++)
            if (strcmp(cells[i].arm, cells[j].arm) == 0 && strcmp(cells[i].vals[k], cells[j].vals[k]) != 0)
                fixed = 0;
    }
    return fixed && !same_all;
}

/* Keys fixed within each arm but differing between arms. */
static void arm_settings(StrBuf *b, const ReportCells *rc) {
    const ReportCell *cells = rc->cells;
    int any = 0;
    for (int i = 0; i < rc->ncells; i++) {
        if (i > 0 && strcmp(cells[i].arm, cells[i - 1].arm) == 0) continue;
        int keys_here = 0;
        for (int k = 0; k < rc->nkeys; k++) {
            if (!cells[i].vals[k][0] || !arm_fixed(rc, k)) continue; /* "" = no effect in this arm */
            if (!keys_here) {
                sb_printf(b, "%s", any ? "; " : "Arm settings: ");
                sb_put_md(b, cells[i].arm);
                sb_printf(b, ":");
            }
            char sv[64];
            report_short_val(cells[i].vals[k], sv, sizeof sv);
            sb_printf(b, " `%s=", rc->keys[k]->name);
            sb_put_md(b, sv);
            sb_printf(b, "`");
            keys_here = any = 1;
        }
    }
    if (any) sb_printf(b, "\n\n");
}

void report_settings(StrBuf *b, const ReportCells *rc) {
    if (rc->ncells == 0) return;
    common_settings(b, rc);
    arm_settings(b, rc);
}

/* ---- the table ---- */

static int cmp_seed(const void *a, const void *b) {
    return report_cmp_val(*(const char *const *)a, *(const char *const *)b);
}

/* The startswith column of cell c: mean ± sd over its runs where it reads. */
static int put_startswith(StrBuf *b, const Table *t, const ReportCell *c) {
    double *sw = malloc((size_t)c->n * sizeof *sw);
    if (!sw) return -1;
    int nsw = 0;
    for (int s = 0; s < c->n; s++)
        if (report_num(table_get(t, c->rows[s], "acc_startswith"), &sw[nsw])) nsw++;
    Summary ss = stats_summary(sw, nsw);
    free(sw);
    if (nsw) sb_printf(b, "%.2f ± %.2f", ss.mean, ss.sd);
    else sb_printf(b, "—");
    if (nsw && nsw < c->n) sb_printf(b, " (n=%d)", nsw);
    return 0;
}

/* The seeds of c in numeric order (insertion sort: stable, as before). */
static int put_seeds(StrBuf *b, const ReportCell *c) {
    const char **sd = malloc((size_t)c->n * sizeof *sd);
    if (!sd) return -1;
    for (int s = 0; s < c->n; s++) sd[s] = c->seeds[s];
    for (int s = 1; s < c->n; s++) {
        const char *v = sd[s];
        int j = s - 1;
        while (j >= 0 && cmp_seed(&sd[j], &v) > 0) {
            sd[j + 1] = sd[j];
            j--;
        }
        sd[j + 1] = v;
    }
    for (int s = 0; s < c->n; s++) {
        if (s) sb_printf(b, " ");
        sb_put_md(b, sd[s]);
    }
    free(sd);
    return 0;
}

/* The test columns of cell i: vs, Δ, t, df, p, Holm p, note. */
static void put_test(StrBuf *b, const ReportCells *rc, int i) {
    const ReportCell *c = &rc->cells[i];
    char note[200] = "";
    size_t nl = 0;
    if (c->nstale) nl += (size_t)snprintf(note, sizeof note, "%d stale (data changed)", c->nstale);
    if (strcmp(c->arm, "baseline") == 0) {
        sb_printf(b, " | — | | | | | |%s%s |\n", nl ? " " : "", note);
        return;
    }
    if (c->base < 0) {
        sb_printf(b, " | — | | | | | | %s%s%s |\n", c->why, nl ? "; " : "", note);
        return;
    }
    const ReportCell *bc = &rc->cells[c->base];
    sb_printf(b, " | ");
    sb_put_md(b, bc->label);
    if ((c->npaired < c->n || c->npaired < bc->n) && nl < sizeof note)
        nl += (size_t)snprintf(note + nl, sizeof note - nl, "%s%d of %d seeds paired", nl ? "; " : "", c->npaired,
                               c->n);
    if (c->pt.note && nl < sizeof note) snprintf(note + nl, sizeof note - nl, "%s%s", nl ? "; " : "", c->pt.note);
    if (c->npaired == 0) {
        sb_printf(b, " | | | | | | %s |\n", note);
        return;
    }
    char ts[32], ps[32], hs[32] = "";
    fmt_t(c->pt.t, ts, sizeof ts);
    fmt_p(c->pt.p, ps, sizeof ps);
    if (c->tested) fmt_p(c->holm, hs, sizeof hs);
    sb_printf(b, " | %+.2f | %s | %.0f | %s | %s | %s |\n", c->pt.mean_diff, ts, c->pt.df, ps, c->tested ? hs : "—",
              note);
}

static int put_table(StrBuf *b, const Table *t, const ReportCells *rc) {
    sb_printf(b, "| cell | n | exact %% | startswith %% | seeds | vs | Δ exact (pp) | t | df | p | p (Holm) | note |\n");
    sb_printf(b, "|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---|\n");
    for (int i = 0; i < rc->ncells; i++) {
        const ReportCell *c = &rc->cells[i];
        Summary se = stats_summary(c->x, c->n);
        sb_printf(b, "| ");
        sb_put_md(b, c->label);
        sb_printf(b, " | %d | %.2f ± %.2f | ", c->n, se.mean, se.sd);
        if (put_startswith(b, t, c) || (sb_printf(b, " | "), put_seeds(b, c))) return -1;
        put_test(b, rc, i);
    }
    sb_printf(b,
              "\n"
              "- **n**: ok runs in the cell; accuracies are mean ± sample sd (n − 1) over its seeds, in %%.\n"
              "- **Δ, t, df, p**: paired one-tailed t-test of exact-match accuracy, cell > baseline, runs "
              "paired by seed: d = cell − baseline, Δ = mean(d) in percentage points, t = mean(d)/(sd(d)/√n), "
              "df = n − 1, p = P(T ≥ t).\n"
              "- **vs**: the baseline cell that agrees with the cell on every key that varies among the "
              "baseline cells.\n"
              "- **p (Holm)**: Holm step-down adjustment across the %d tested cell%s of the grid (cells with "
              "at least 2 pairs).\n",
              rc->ntested, rc->ntested == 1 ? "" : "s");
    return 0;
}

/* The line counting the runs. */
static void count_line(StrBuf *b, const Table *t, const ReportCells *rc) {
    sb_printf(b, "%d ok run%s, %d failed, %d diverged", rc->n_ok, rc->n_ok == 1 ? "" : "s", rc->n_failed,
              rc->n_diverged);
    if (rc->n_other) sb_printf(b, ", %d with another status", rc->n_other);
    if (rc->n_unreadable) sb_printf(b, ", %d ok with an unreadable acc_exact (left out)", rc->n_unreadable);
    sb_printf(b, " (%d run%s in %d row%s", rc->nruns, rc->nruns == 1 ? "" : "s", t->nrows, t->nrows == 1 ? "" : "s");
    if (t->nrows > rc->nruns) sb_printf(b, "; the last row of a run counts");
    if (t->skipped) sb_printf(b, "; %d malformed row%s skipped", t->skipped, t->skipped == 1 ? "" : "s");
    sb_printf(b, ").\n\n");
}

int report_markdown(const Table *t, const char *grid_name, const char *const *stale, char **out, char *err,
                    size_t errn) {
    *out = NULL;
    StrBuf b = {0};
    sb_printf(&b, "# Report: %s\n\n", grid_name ? grid_name : "");
    int rc = 0;
    if (t->nrows == 0) {
        sb_printf(&b, "No runs recorded yet.\n");
        if (t->skipped) sb_printf(&b, "\n%d malformed row%s skipped.\n", t->skipped, t->skipped == 1 ? "" : "s");
    } else {
        ReportCells cells;
        if (report_cells(t, "acc_exact", NULL, stale, &cells, err, errn)) {
            free(b.s);
            return -1;
        }
        count_line(&b, t, &cells);
        if (data_notes(&b, t, cells.is_last, stale)) rc = -1;
        else if (cells.ncells == 0) sb_printf(&b, "No ok runs to report.\n");
        else {
            report_settings(&b, &cells);
            rc = put_table(&b, t, &cells);
        }
        report_cells_free(&cells);
    }
    if (rc == 0 && !b.oom) {
        *out = b.s;
        return 0;
    }
    free(b.s);
    return errf(err, errn, "out of memory");
}
