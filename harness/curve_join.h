/* The collapse diagnostics of each run's curve.csv joined onto its runs.csv
 * row, so that `harness report --metric pred_text_cos` (or pred_top1,
 * pred_code_gap, jepa_reg_loss, ...) tests them like any result column.
 *
 * A run's curve.csv (engine/train.c, in <grid dir>/runs/<run_id>/) has a row
 * of kind "epoch" after each epoch's evaluation, carrying the DIAG_CSV_FIELDS
 * collapse diagnostics (engine/diagnostics.h DIAG_CSV_HEADER, README
 * "Collapse diagnostics"; empty where not computed, e.g. the pred_ ones of an
 * NTP run) and jepa_reg (the mean regulariser value of the window, empty
 * without one). runs.csv does not hold them. Curves written by older builds
 * may lack some of these columns; they read as empty. The joined names are
 * those of curve.csv except jepa_reg's (see CURVE_JOIN_COLUMNS). */
#ifndef HARNESS_CURVE_JOIN_H
#define HARNESS_CURVE_JOIN_H

#include <stddef.h>

#include "store.h"

/* The joined columns, in order: the DIAG_CSV_FIELDS names of diag_csv_names,
 * each read from curve.csv's column of that name, then "jepa_reg_loss", read
 * from curve.csv's "jepa_reg" (the regulariser's mean R: runs.csv's own
 * "jepa_reg" is the config key naming the regulariser, which a join must not
 * shadow; "_loss" makes `harness report` test it lower-is-better). */
#define CURVE_JOIN_COLUMNS 16

/* Whether name is one of the joined columns. Returns 1 or 0. */
int curve_join_is_column(const char *name);

/* Adds to t (a runs.csv read by store_read) the collapse-diagnostic columns of
 * each run's final epoch row: the joined columns that t lacks (a column t
 * already has is never overwritten: it is skipped), appended in that order to
 * t->cols and to every row, as strings that table_free frees.
 *
 * For every row of t whose status is "ok", reads
 * grid_dir/runs/<run_id>/curve.csv (store_read: the header is kept as it is,
 * rows with the wrong field count are skipped), takes its LAST row whose
 * "kind" is "epoch" and copies the value of each added column from it (from
 * its curve column, see CURVE_JOIN_COLUMNS), "" where the curve has no such
 * column. Rows that are not ok get "", and so do ok rows whose run directory
 * or curve.csv is missing (a fresh clone holds only runs.csv: not an error),
 * whose curve has no epoch row (or no "kind" column), or whose run_id cannot
 * name a run directory (empty, starting with '.', or holding '/'). A table
 * without a run_id or status column is left as it is.
 *
 * *njoined (may be NULL): how many rows of t got an epoch row of a curve.
 * Returns 0, or -1 with a message in err (size errn) when a curve.csv exists
 * but cannot be read ("cannot open PATH: ...", "cannot read PATH: Is a
 * directory", "PATH: cannot parse its header line"; store_read's messages,
 * each naming the file) or out of memory; t is then unchanged and *njoined
 * is 0. */
int curve_join(Table *t, const char *grid_dir, int *njoined, char *err, size_t errn);

#endif
