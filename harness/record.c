/* Build and append one runs.csv row. */
#include "record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provenance.h"
#include "store.h"

int record_run(const char *csv_path, const char *grid, const char *arm, const Config *c, const TrainResult *res,
               const char *start, const char *end, char *err, size_t errn) {
    const char *const *cols;
    int n = store_columns(&cols);
    char **vals = calloc((size_t)n, sizeof *vals);
    if (!vals) { snprintf(err, errn, "out of memory"); return -1; }
    Provenance p;
    provenance_get(&p);
    char run_id[17];
    config_run_id(c, run_id);
    int ok = strcmp(res->status, "ok") == 0, finished = ok || !strcmp(res->status, "diverged");
    for (int i = 0; i < n; i++) {
        char v[CFG_PATH_MAX] = "";
        const char *k = cols[i];
        const CfgKey *ck = config_key(k);
        if (ck) config_get(c, ck, v, sizeof v);
        else if (!strcmp(k, "run_id")) snprintf(v, sizeof v, "%s", run_id);
        else if (!strcmp(k, "grid")) snprintf(v, sizeof v, "%s", grid);
        else if (!strcmp(k, "arm")) snprintf(v, sizeof v, "%s", arm);
        else if (!strcmp(k, "status")) snprintf(v, sizeof v, "%s", res->status);
        else if (!strcmp(k, "acc_exact") && ok) snprintf(v, sizeof v, "%.4f", res->acc_exact);
        else if (!strcmp(k, "acc_startswith") && ok) snprintf(v, sizeof v, "%.4f", res->acc_startswith);
        else if (!strcmp(k, "ntp_loss") && finished) snprintf(v, sizeof v, "%.6f", res->ntp_loss);
        else if (!strcmp(k, "jepa_dist") && finished) snprintf(v, sizeof v, "%.6f", res->jepa_dist);
        else if (!strcmp(k, "steps") && finished) snprintf(v, sizeof v, "%ld", res->steps);
        else if (!strcmp(k, "train_s") && finished) snprintf(v, sizeof v, "%.2f", res->train_s);
        else if (!strcmp(k, "eval_s") && ok) snprintf(v, sizeof v, "%.2f", res->eval_s);
        else if (!strcmp(k, "train_tok_s") && finished) snprintf(v, sizeof v, "%.0f", res->train_tok_s);
        else if (!strcmp(k, "ntp_step_ms") && ok) snprintf(v, sizeof v, "%.2f", res->ntp_step_ms);
        else if (!strcmp(k, "jepa_step_ms") && ok) snprintf(v, sizeof v, "%.2f", res->jepa_step_ms);
        else if (!strcmp(k, "jepa_ntp_ratio") && ok) snprintf(v, sizeof v, "%.3f", res->jepa_ntp_ratio);
        else if (!strcmp(k, "git_commit")) snprintf(v, sizeof v, "%s", p.git_commit);
        else if (!strcmp(k, "git_dirty")) snprintf(v, sizeof v, "%s", p.git_dirty);
        else if (!strcmp(k, "build_type")) snprintf(v, sizeof v, "%s", p.build_type);
        else if (!strcmp(k, "host")) snprintf(v, sizeof v, "%s", p.host);
        else if (!strcmp(k, "threads_used")) snprintf(v, sizeof v, "%d", res->threads_used);
        else if (!strcmp(k, "start_time")) snprintf(v, sizeof v, "%s", start ? start : "");
        else if (!strcmp(k, "end_time")) snprintf(v, sizeof v, "%s", end ? end : "");
        vals[i] = strdup(v);
    }
    int rc = store_append(csv_path, (const char *const *)vals, n, err, errn);
    for (int i = 0; i < n; i++) free(vals[i]);
    free(vals);
    return rc;
}
