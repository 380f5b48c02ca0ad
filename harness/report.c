/* The Markdown report of a grid's results. See report.h. */
#include "errmsg.h"
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "stats.h"

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
        /* numbers as numbers: runs.csv holds "0.003" where config_get prints the default
         * "0.0030000000000000001" (store_read's shortest round-trip spelling) */
        if (!same || !cells[0].vals[k][0] || report_cmp_val(cells[0].vals[k], rc->defv[k]) == 0) continue;
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

/* The line counting the runs. */
static void count_line(StrBuf *b, const Table *t, const ReportCells *rc, const char *metric) {
    sb_printf(b, "%d ok run%s, %d failed, %d diverged", rc->n_ok, rc->n_ok == 1 ? "" : "s", rc->n_failed,
              rc->n_diverged);
    if (rc->n_other) sb_printf(b, ", %d with another status", rc->n_other);
    if (rc->n_unreadable) sb_printf(b, ", %d ok with an unreadable %s (left out)", rc->n_unreadable, metric);
    sb_printf(b, " (%d run%s in %d row%s", rc->nruns, rc->nruns == 1 ? "" : "s", t->nrows, t->nrows == 1 ? "" : "s");
    if (t->nrows > rc->nruns) sb_printf(b, "; the last row of a run counts");
    if (t->skipped) sb_printf(b, "; %d malformed row%s skipped", t->skipped, t->skipped == 1 ? "" : "s");
    sb_printf(b, ").\n\n");
}

/* Each line of text as a LaTeX "% " comment line ("%" for a blank one). */
static void tex_comment(StrBuf *b, const char *text) {
    for (const char *p = text; p && *p;) {
        size_t len = strcspn(p, "\n");
        if (len) sb_printf(b, "%% %.*s\n", (int)len, p);
        else sb_printf(b, "%%\n");
        p += len;
        if (*p == '\n') p++;
    }
}

/* Whether some row of t has status "ok" (without one, no column can be
 * told numeric; report_cells then only needs the metric's column). */
static int any_ok(const Table *t) {
    int st = table_col(t, "status");
    for (int r = 0; st >= 0 && r < t->nrows; r++)
        if (strcmp(t->rows[r][st], "ok") == 0) return 1;
    return 0;
}

/* The header (count, data notes, settings) into head, the table into tab,
 * the legend into leg (or "No ok runs to report." into head). */
static int report_parts(const Table *t, const char *grid, const char *const *stale, const ReportOpts *o,
                        StrBuf *head, StrBuf *tab, StrBuf *leg, char *err, size_t errn) {
    if (t->nrows == 0) {
        sb_printf(head, "No runs recorded yet.\n");
        if (t->skipped) sb_printf(head, "\n%d malformed row%s skipped.\n", t->skipped, t->skipped == 1 ? "" : "s");
        return 0;
    }
    if (any_ok(t) && report_metric_check(t, o->metric, err, errn)) return -1;
    ReportCells cells;
    if (report_cells_by(t, o->metric, o->better, NULL, stale, &cells, err, errn)) return -1;
    int rc = 0;
    count_line(head, t, &cells, o->metric);
    if (data_notes(head, t, cells.is_last, stale)) rc = -1;
    else if (cells.ncells == 0) sb_printf(head, "No ok runs to report.\n");
    else {
        report_settings(head, &cells);
        rc = report_put_table(tab, t, &cells, grid, o->metric, o->format);
        report_put_legend(leg, &cells, o->metric);
    }
    report_cells_free(&cells);
    return rc ? errf(err, errn, "out of memory") : 0;
}

int report_render(const Table *t, const char *grid_name, const char *const *stale, const ReportOpts *opts,
                  char **out, char *err, size_t errn) {
    *out = NULL;
    ReportOpts o = *opts;
    if (!o.metric) o.metric = "acc_exact";
    if (!o.better) o.better = report_metric_default_better(o.metric);
    const char *grid = grid_name ? grid_name : "";
    StrBuf head = {0}, tab = {0}, leg = {0}, b = {0};
    if (report_parts(t, grid, stale, &o, &head, &tab, &leg, err, errn)) {
        free(head.s), free(tab.s), free(leg.s);
        return -1;
    }
    if (o.format == REPORT_CSV) {
        if (tab.s) sb_printf(&b, "%s", tab.s);
        else if (!tab.oom) { /* no cells: the header alone */
            ReportCells none = {0};
            report_put_table(&b, t, &none, grid, o.metric, REPORT_CSV);
        }
    } else if (o.format == REPORT_TEX) {
        sb_printf(&b, "%% Report: %s (generated by harness report; needs \\usepackage{booktabs})\n%%\n", grid);
        tex_comment(&b, head.s);
        if (tab.s) sb_printf(&b, "%s", tab.s);
        if (leg.s) sb_printf(&b, "%%\n"), tex_comment(&b, leg.s);
    } else {
        sb_printf(&b, "# Report: %s\n\n%s", grid, head.s ? head.s : "");
        if (tab.s) sb_printf(&b, "%s\n%s", tab.s, leg.s ? leg.s : "");
    }
    int oom = head.oom || tab.oom || leg.oom || b.oom;
    free(head.s), free(tab.s), free(leg.s);
    if (!oom && b.s) {
        *out = b.s;
        return 0;
    }
    free(b.s);
    return errf(err, errn, "out of memory");
}

int report_markdown(const Table *t, const char *grid_name, const char *const *stale, char **out, char *err,
                    size_t errn) {
    ReportOpts o = {"acc_exact", +1, REPORT_MD};
    return report_render(t, grid_name, stale, &o, out, err, errn);
}
