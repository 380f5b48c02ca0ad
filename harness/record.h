/* One results row (ARCHITECTURE.md "results/<grid>/runs.csv") from a run's
 * config, its result and its provenance, appended through the store. */
#ifndef HARNESS_RECORD_H
#define HARNESS_RECORD_H

#include <stddef.h>

#include "config.h"
#include "train.h"

/* Append the row of one run to csv_path. res->status is ok, diverged or
 * failed; metrics of a run that did not finish are left empty. start/end
 * are ISO 8601 times. Returns 0 or -1 with err. */
int record_run(const char *csv_path, const char *grid, const char *arm, const Config *c, const TrainResult *res,
               const char *start, const char *end, char *err, size_t errn);

#endif
