/* `harness report`: the summary of one grid's results table
 * (ARCHITECTURE.md "Statistics") as Markdown, LaTeX or CSV, and the cell
 * grouping and tests behind it, which `harness paper` (paper.h) reuses for
 * the paper's tables.
 *
 * Which rows count: the last row of each run_id is that run's state (as in
 * store_status_of); only runs whose state is status "ok" with a numeric
 * metric (acc_exact unless --metric names another numeric result column,
 * see report_metric_ok) enter the statistics.
 *
 * Cells: rows are grouped by arm and every identity config key except seed
 * (config_schema's identity flag), compared as the text in the table. A
 * cell is labelled by its arm and the keys that vary among that arm's cells
 * (e.g. "jepa k=2 lambda=1"); an arm with one cell is labelled by its name.
 *
 * Tests: every cell of an arm other than "baseline" is compared with one
 * baseline cell: the unique cell of arm "baseline" whose values agree with
 * this cell on every key that varies among the baseline cells (with one
 * baseline cell, that one). The runs are paired by seed (seeds present on
 * one side only are left out and noted) and tested with the paired
 * one-tailed t-test of cell better than baseline on the metric
 * (stats_paired_t_tail: cell > baseline when higher is better, cell <
 * baseline when lower is), with Cohen's d_z and the 95% confidence interval
 * of the mean difference. Cells with at least 2 pairs form the family for
 * Holm's adjustment (stats_holm) across the grid (across the selected arms,
 * see report_cells); a cell with fewer has no test (the report shows "—").
 *
 * Best cell: of the cells of arms other than "baseline", the one with the
 * better mean of the metric; equal means go to the cell with more runs,
 * then to the first in the report's order (ReportCells.best). */
#ifndef HARNESS_REPORT_H
#define HARNESS_REPORT_H

#include <stddef.h>

#include "config.h"
#include "stats.h"
#include "store.h"

/* ---- a growable string ---- */

/* A NUL-terminated string grown by sb_printf; s is malloc'd (NULL while
 * empty). oom: an allocation failed, later appends do nothing. Zero it to
 * start; free(b.s) to end. */
typedef struct StrBuf {
    char *s;
    size_t len, cap;
    int oom;
} StrBuf;

/* Append printf-formatted text. */
void sb_printf(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append s for a Markdown table cell: '|' as "\|", CR and LF as spaces. */
void sb_put_md(StrBuf *b, const char *s);

/* ---- values as text ---- */

/* Parse the whole of s (trailing blanks allowed) as a finite number into *v.
 * Returns 1, or 0 (NULL, empty, not a number, inf/NaN; *v unchanged). */
int report_num(const char *s, double *v);

/* Numbers compare as numbers, anything else (or a mix) as text (strcmp). */
int report_cmp_val(const char *a, const char *b);

/* qsort comparator of an array of const char * by report_cmp_val. */
int report_qsort_val(const void *a, const void *b);

/* The shortest text of a number that reads back the same ("8e-05" for
 * "8.0000000000000007e-05", integers as integers) into out (size n); other
 * text unchanged (truncated to n). */
void report_short_val(const char *s, char *out, size_t n);

/* ---- cells ---- */

typedef struct ReportCell {
    const char *arm;     /* points into the table */
    const char **vals;   /* one per ReportCells.keys: the table's text, or "" where the key has
                            no effect in the cell (lambda of an NTP cell) */
    int n;               /* ok runs with a numeric metric */
    int *rows;           /* their table rows (each its run's last row), in table order */
    const char **seeds;  /* their seeds (table text) */
    double *x;           /* their metric values */
    int nstale;          /* of them, runs with stale[row] set */
    /* the test against the baseline (unset for baseline cells: base = -1, why = NULL) */
    int base;            /* index of the baseline cell in ReportCells.cells, -1 if none */
    const char *why;     /* static text: why there is no baseline cell, or NULL */
    int npaired;         /* seeds in both cells */
    PairedT pt;          /* paired one-tailed t of cell > baseline (valid when npaired > 0) */
    int tested;          /* npaired >= 2: in the Holm family */
    double holm;         /* Holm-adjusted p (when tested) */
    char label[512];     /* arm + " key=value" for each key varying within the arm */
    int arm_rank, first_row, cap; /* ordering and storage (internal) */
} ReportCell;

typedef struct ReportCells {
    int nkeys;
    const CfgKey **keys;       /* identity keys except seed, schema order (nkeys) */
    char (*defv)[CFG_PATH_MAX];/* their default values as config_get prints them */
    int ncells;
    ReportCell *cells;         /* arm "baseline" first, then arms by first row; within an arm by key
                                  values (numbers as numbers), then first row */
    int nruns;                 /* distinct run_ids in the selected arms */
    int n_ok, n_failed, n_diverged, n_other; /* runs by the status of their last row */
    int n_unreadable;          /* ok runs left out: metric not a number */
    int ntested;               /* cells in the Holm family */
    char *is_last;             /* t->nrows flags: row r is its run's last row (any arm) */
    int better;                /* +1: higher values of the metric are better, −1: lower */
    int best;                  /* the best cell: of the cells of arms other than "baseline" with
                                  n >= 1, the highest mean (lowest when better = −1); equal means
                                  go to the larger n, then to the first in cells order; -1 if none */
} ReportCells;

/* Group the runs of t into cells, pair every non-baseline cell with its
 * baseline cell and test it on column metric (e.g. "acc_exact"), then Holm
 * across the tested cells. arms (NULL-terminated names; NULL = every arm):
 * the rows of other arms are ignored entirely (counts, cells, Holm family).
 * stale (NULL, or t->nrows entries): a row with stale[r] set counts in its
 * cell's nstale. A table with no rows gives an empty result. Returns 0, or
 * -1 with a message in err (size errn) when t has rows but lacks a needed
 * column (run_id, arm, status, metric: "results table has no 'X' column")
 * or on out of memory; rc is then empty. Free with report_cells_free. */
int report_cells(const Table *t, const char *metric, const char *const *arms, const char *const *stale,
                 ReportCells *rc, char *err, size_t errn);

/* report_cells with a direction: better = +1 (higher is better: each cell is
 * tested one-tailed for cell > baseline, p = P(T >= t)) or −1 (lower is
 * better: cell < baseline, p = P(T <= t)); it also sets rc->better and
 * rc->best. Δ, t, d_z and the confidence interval are cell − baseline in
 * both directions (stats_paired_t_tail). report_cells is better = +1. */
int report_cells_by(const Table *t, const char *metric, int better, const char *const *arms,
                    const char *const *stale, ReportCells *rc, char *err, size_t errn);

/* The rows of t sorted by run_id (column c_id of t), then by row index:
 * a malloc'd array of t->nrows entries (the caller frees), NULL when out of
 * memory. */
typedef struct {
    const char *id;
    int row;
} ReportIdRow;
ReportIdRow *report_rows_by_id(const Table *t, int c_id);

/* Index k of the identity key called name in rc->keys, or -1. */
int report_key_index(const ReportCells *rc, const char *name);

/* Free everything in rc and zero it. Safe on a zeroed ReportCells. */
void report_cells_free(ReportCells *rc);

/* Index of the first cell of rc whose arm is arm and whose value of every
 * "key=value" in where (space-separated, NULL or "" = none; values compare
 * as report_cmp_val, a key that is not an identity key never matches)
 * agrees; -1 if none. */
int report_cell_find(const ReportCells *rc, const char *arm, const char *where);

/* The settings lines of the report (Markdown, each followed by a blank
 * line): "Common settings (not default): `key=value` ..." (keys equal in
 * every cell and not at their default), and "Arm settings: ARM: `key=value`
 * ...; ..." (keys fixed within each arm but differing between arms). Writes
 * nothing when there is nothing to say or no cells. */
void report_settings(StrBuf *b, const ReportCells *rc);

/* ---- the metric (report_metric.c) ---- */

/* Whether column name of t is a numeric result column, a metric the report
 * can test: not run_id, grid, arm, status or a config key, not a known text
 * column (git_commit, build_type, host, start_time, end_time, *_sha256,
 * probe_sv, and the provenance columns compiler, compiler_flags, cpu_model,
 * blas, blas_core, engine_version, command_line, error), and in the rows of
 * status "ok" every non-empty value is a number (strtod reads all of it;
 * "nan" counts) and at least one is finite. Returns 1 or 0. */
int report_metric_ok(const Table *t, const char *name);

/* Check metric against t: 0, or -1 with a message in err (size errn):
 * "'NAME' is not a column of the results table; available: acc_exact,
 * acc_startswith, ..." (or "is not a numeric result column with a value in
 * an ok run" for a column t has; the available ones are the
 * report_metric_ok columns in table order, or "none (...)"). */
int report_metric_check(const Table *t, const char *metric, char *err, size_t errn);

/* The default direction of metric: −1 (lower is better) for ntp_loss,
 * jepa_dist and any name ending in "_loss", else +1. */
int report_metric_default_better(const char *metric);

/* Whether metric is one of the accuracies in % (acc_exact, acc_startswith):
 * shown with 2 decimals and Δ in percentage points. */
int report_metric_is_pct(const char *metric);

/* ---- the report ---- */

typedef enum { REPORT_MD, REPORT_TEX, REPORT_CSV } ReportFormat;

typedef struct ReportOpts {
    const char *metric; /* the tested column (NULL: acc_exact) */
    int better;         /* +1 higher is better, −1 lower (0: report_metric_default_better) */
    ReportFormat format;
} ReportOpts;

/* Write the report of table t for grid grid_name (see report_markdown for
 * its contents) with the tests on o->metric in o->better's direction, as
 * Markdown, LaTeX (a booktabs tabular, the header and legend as "% "
 * comment lines; needs \usepackage{booktabs}) or CSV (one row per cell,
 * every number unrounded: the shortest text that reads back the same; "inf"
 * for an infinite t or d_z; empty where there is none). *out is malloc'd.
 * Returns 0, or -1 with a message in err: o->metric not a numeric result
 * column of t (report_metric_check, when t has rows), a needed column
 * missing, out of memory; *out is then NULL. */
int report_render(const Table *t, const char *grid_name, const char *const *stale, const ReportOpts *o,
                  char **out, char *err, size_t errn);

/* The table of the report (report_table.c), for report_render: one row
 * per cell of rc as Markdown, LaTeX booktabs or CSV (grid: its first
 * column) on metric. -1 when out of memory. */
int report_put_table(StrBuf *b, const Table *t, const ReportCells *rc, const char *grid, const char *metric,
                     ReportFormat f);

/* The legend under the table (Markdown list): what each column means, the
 * direction, the edge cases, Holm's family size and the best cell rule. */
void report_put_legend(StrBuf *b, const ReportCells *rc, const char *metric);

/* Write the report of table t for grid grid_name into *out (a malloc'd
 * NUL-terminated Markdown string, which the caller frees): heading
 * "# Report: <grid>", a line counting the ok runs and failed / diverged
 * ones, the data notes, the settings shared by the cells, one table row per
 * cell (n, exact-match and startswith accuracy as mean ± sd in %, seeds, the
 * paired baseline cell, Δ in percentage points, its 95% confidence
 * interval, Cohen's d_z, t, df, one-tailed p, Holm-adjusted p, note; "—"
 * for the test columns of a cell with fewer than 2 pairs), the best cell in
 * bold with "best" in its note, and a legend. The tests use acc_exact,
 * higher is better: report_render with the defaults, as Markdown. A table
 * with no rows gives a report saying so.
 *
 * Data notes: how many runs were re-run because their data changed (a run
 * whose last row's train_sha256 or test_sha256 differs from an earlier ok or
 * diverged row's); how many finished runs were recorded before data hashes
 * were kept (empty train_sha256: unknown, reused, never stale); whether the
 * file had an older header (t->filled); and the STALE runs, listed with
 * stale[r]: stale (NULL, or t->nrows entries) gives for each row why its
 * data changed since it was recorded (record_data_changed), NULL when it did
 * not or is unknown. A cell's note counts its stale runs.
 *
 * Returns 0, or -1 with a message in err (size errn) when t has rows but
 * lacks a needed column (run_id, arm, status, acc_exact) or on out of
 * memory; *out is then NULL. */
int report_markdown(const Table *t, const char *grid_name, const char *const *stale, char **out, char *err,
                    size_t errn);

#endif
