/* `harness report`: the Markdown summary of one grid's results table
 * (ARCHITECTURE.md "Statistics").
 *
 * Which rows count: the last row of each run_id is that run's state (as in
 * store_status_of); only runs whose state is status "ok" with a numeric
 * acc_exact enter the statistics.
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
 * one-tailed t-test of cell > baseline on exact-match accuracy
 * (stats_paired_t). Cells with at least 2 pairs form the family for Holm's
 * adjustment (stats_holm) across the grid. */
#ifndef HARNESS_REPORT_H
#define HARNESS_REPORT_H

#include <stddef.h>

#include "store.h"

/* Write the report of table t for grid grid_name into *out (a malloc'd
 * NUL-terminated Markdown string, which the caller frees): heading
 * "# Report: <grid>", a line counting the ok runs and failed / diverged
 * ones, the data notes, the settings shared by the cells, one table row per
 * cell (n, exact-match and startswith accuracy as mean ± sd in %, seeds, the
 * paired baseline cell, Δ in percentage points, t, df, one-tailed p,
 * Holm-adjusted p, note), and a legend. A table with no rows gives a report
 * saying so.
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
