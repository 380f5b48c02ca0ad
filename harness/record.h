/* One results row (ARCHITECTURE.md "results/<grid>/runs.csv") from a run's
 * config, its result and its provenance, appended through the store; and
 * whether a recorded run still matches the data it was trained on. */
#ifndef HARNESS_RECORD_H
#define HARNESS_RECORD_H

#include <stddef.h>

#include "config.h"
#include "hash.h"
#include "probe.h"
#include "provenance.h"
#include "store.h"
#include "train.h"

/* Append the row of one run to csv_path. res->status is ok, diverged or
 * failed; metrics of a run that did not finish are left empty, and its
 * `error` column is res->message. Config values are written in runs.csv
 * spelling (rowfmt.h: keys without effect empty, floats shortest). start/end
 * are ISO 8601 times. Content hashes (through hc, NULL: no cache):
 * train_sha256 and test_sha256 are the sha256_file of the data files the run
 * reads, dataset_path(c->dataset, "train" / "test") ("" when a file cannot
 * be read: the run failed on it); init_sha256 is the checkpoint_content_hash
 * of c->init ("" when init is ""). peak_rss_mb, params and trainable_params
 * come from res (empty when 0); the probe columns (probe.h) from probe
 * (NULL: empty); git_commit .. host and compiler .. command_line from prov
 * (NULL: provenance_get of this process). Returns 0, or -1 with err: the
 * run_id cannot be computed (init cannot be hashed), out of memory, or
 * store_append's errors. */
int record_run(const char *csv_path, const char *grid, const char *arm, const Config *c, const TrainResult *res,
               const char *start, const char *end, const ProbeResult *probe, const Provenance *prov, HashCache *hc,
               char *err, size_t errn);

/* Write the provenance of run c to path (a run directory's provenance.json): a JSON
 * object with run_id, engine_version, git_commit, git_dirty, build_type, compiler,
 * compiler_flags, cpu_model, blas, blas_core, host, start_time (start), command_line (all
 * strings, from p), and train_data, test_data, init: {"path": ..., "sha256": hex or null
 * when the file cannot be read} (init: null when the run starts from scratch), hashed
 * through hc as record_run hashes them. Returns 0, or -1 with err: the run_id cannot be
 * computed, out of memory, or path cannot be written. */
int record_provenance_json(const char *path, const Config *c, const Provenance *p, const char *start,
                           HashCache *hc, char *err, size_t errn);

/* Whether row r of t recorded data files that have changed since: for each
 * of train_sha256 and test_sha256 that the row holds (an empty value or a
 * missing column is unknown: a row written before the column existed, never
 * "changed"), the sha256_file of dataset_path(<row's dataset>, split) now
 * (through hc; a file that cannot be read now counts as unchanged). Returns
 * 1 with why = "data changed since it was recorded: PATH sha256 ab12cd34… →
 * 9f8e7d6c…" (size whyn), else 0 (why ""). */
int record_data_changed(const Table *t, int r, HashCache *hc, char *why, size_t whyn);

/* Whether run run_id is done in t: its last row has status ok or diverged
 * (a diverged run is deterministic) and record_data_changed is 0 for it.
 * Returns 1 done; 0 not recorded, failed, or its data changed (why then
 * says so, else why is ""). */
int record_run_done(const Table *t, const char *run_id, HashCache *hc, char *why, size_t whyn);

#endif
