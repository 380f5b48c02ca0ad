/* Reusing a run another grid recorded (harness run --reuse). A run is a function of its
 * config: the same run_id under the same build and thread count gives the same bits
 * (ALGORITHM.md §6), so a fig3 baseline need not be trained again for Table 3. A reused
 * run gets a copy of the other grid's run directory and of its last row, with this grid's
 * name and arm; the row keeps the original's provenance (git_commit, host, start_time). */
#ifndef HARNESS_REUSE_H
#define HARNESS_REUSE_H

#include <stddef.h>

#include "hash.h"
#include "store.h"

/* The runs.csv of every other grid under one results directory. */
typedef struct ReuseIndex {
    int n;
    char **grid;   /* grid names (directory names under results) */
    Table *t;      /* their runs.csv */
} ReuseIndex;

/* Read RESULTS/<g>/runs.csv for every g other than `self`. Unreadable files are skipped
 * with a warning on stderr. Returns 0, or -1 with err when out of memory. Free with
 * reuse_index_free. */
int reuse_index_load(const char *results, const char *self, ReuseIndex *ix, char *err, size_t errn);
void reuse_index_free(ReuseIndex *ix);

/* The grid (index into ix) whose last row for run_id has status ok, whose data files are
 * unchanged since (record_run_done) and whose run directory RESULTS/<g>/runs/<run_id>
 * holds DONE; -1 when none does. */
int reuse_lookup(const ReuseIndex *ix, const char *results, const char *run_id, HashCache *hc);

/* Copy run run_id of grid ix->grid[src] into grid `grid`, arm `arm`: its run directory into
 * dst_dir (files other than the lock, DONE last) and its last row, with grid and arm
 * replaced, appended to dst_csv. Returns 0, or -1 with err (copy or store errors; a
 * directory copied without its row is reused again by the next harness run). */
int reuse_copy(const ReuseIndex *ix, int src, const char *results, const char *run_id, const char *grid,
               const char *arm, const char *dst_dir, const char *dst_csv, char *err, size_t errn);

#endif
