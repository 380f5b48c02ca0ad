/* Build and append one runs.csv row and a run's provenance.json; check recorded data
 * hashes. */
#define _GNU_SOURCE /* strdup */
#include "record.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "errmsg.h"
#include "provenance.h"
#include "rowfmt.h"

/* The value of provenance column k (compiler .. command_line) of p; v is left as it is
 * for any other column. */
static void provenance_value(const char *k, const Provenance *p, char *v, size_t vn) {
    const char *x = !strcmp(k, "compiler")         ? p->compiler
                    : !strcmp(k, "compiler_flags") ? p->compiler_flags
                    : !strcmp(k, "cpu_model")      ? p->cpu_model
                    : !strcmp(k, "blas")           ? p->blas
                    : !strcmp(k, "blas_core")      ? p->blas_core
                    : !strcmp(k, "engine_version") ? p->engine_version
                    : !strcmp(k, "command_line")   ? p->command_line
                                                   : NULL;
    if (x) snprintf(v, vn, "%s", x);
}

/* The value of result column k for a run (v, size vn; left "" when the run
 * did not produce it). */
static void result_value(const char *k, const TrainResult *res, const Provenance *p, const char *start,
                         const char *end, char *v, size_t vn) {
    int ok = strcmp(res->status, "ok") == 0, finished = ok || !strcmp(res->status, "diverged");
    if (!strcmp(k, "status")) snprintf(v, vn, "%s", res->status);
    else if (!strncmp(k, "acc_", 4)) {
        double a = eval_acc(&res->eval, k + 4);
        if (ok && !isnan(a)) snprintf(v, vn, "%.4f", a);
    }
    else if (!strcmp(k, "ntp_loss") && finished) snprintf(v, vn, "%.6f", res->ntp_loss);
    else if (!strcmp(k, "jepa_dist") && finished) snprintf(v, vn, "%.6f", res->jepa_dist);
    else if (!strcmp(k, "steps") && finished) snprintf(v, vn, "%ld", res->steps);
    else if (!strcmp(k, "train_s") && finished) snprintf(v, vn, "%.2f", res->train_s);
    else if (!strcmp(k, "eval_s") && ok) snprintf(v, vn, "%.2f", res->eval_s);
    else if (!strcmp(k, "train_tok_s") && finished) snprintf(v, vn, "%.0f", res->train_tok_s);
    else if (!strcmp(k, "ntp_step_ms") && ok) snprintf(v, vn, "%.2f", res->ntp_step_ms);
    else if (!strcmp(k, "jepa_step_ms") && ok) snprintf(v, vn, "%.2f", res->jepa_step_ms);
    else if (!strcmp(k, "jepa_ntp_ratio") && ok) snprintf(v, vn, "%.3f", res->jepa_ntp_ratio);
    else if (!strcmp(k, "git_commit")) snprintf(v, vn, "%s", p->git_commit);
    else if (!strcmp(k, "git_dirty")) snprintf(v, vn, "%s", p->git_dirty);
    else if (!strcmp(k, "build_type")) snprintf(v, vn, "%s", p->build_type);
    else if (!strcmp(k, "host")) snprintf(v, vn, "%s", p->host);
    else if (!strcmp(k, "threads_used")) snprintf(v, vn, "%d", res->threads_used);
    else if (!strcmp(k, "start_time")) snprintf(v, vn, "%s", start ? start : "");
    else if (!strcmp(k, "end_time")) snprintf(v, vn, "%s", end ? end : "");
    else if (!strcmp(k, "peak_rss_mb") && res->peak_rss_mb > 0) snprintf(v, vn, "%.1f", res->peak_rss_mb);
    else if (!strcmp(k, "params") && res->params > 0) snprintf(v, vn, "%ld", res->params);
    else if (!strcmp(k, "trainable_params") && res->trainable_params > 0) snprintf(v, vn, "%ld", res->trainable_params);
    else if (!strcmp(k, "error") && !ok) snprintf(v, vn, "%s", res->message);
    else provenance_value(k, p, v, vn);
}

/* The value of probe column k (probe.h's probe_csv_columns) of probe (NULL: ""). */
static void probe_value(const char *k, const ProbeResult *probe, char *v, size_t vn) {
    for (int j = 0; j < PROBE_CSV_COLUMNS; j++)
        if (!strcmp(k, probe_csv_columns[j])) probe_csv_value(probe, j, v, vn);
}

/* The content hash columns of c: train_sha256, test_sha256, init_sha256 ("" when unknown). */
static void hash_value(const char *k, const Config *c, HashCache *hc, char *v, size_t vn) {
    char path[1100], hex[65] = "", err[512];
    if (!strcmp(k, "init_sha256")) {
        if (c->init[0] && hash_cache_checkpoint(hc, c->init, hex, err, sizeof err)) hex[0] = 0;
    } else {
        dataset_path(c->dataset, !strcmp(k, "train_sha256") ? "train" : "test", path, sizeof path);
        if (hash_cache_file(hc, path, hex, err, sizeof err)) hex[0] = 0;
    }
    snprintf(v, vn, "%s", hex);
}

int record_run(const char *csv_path, const char *grid, const char *arm, const Config *c, const TrainResult *res,
               const char *start, const char *end, const ProbeResult *probe, const Provenance *prov, HashCache *hc,
               char *err, size_t errn) {
    char run_id[17];
    if (config_run_id_cached(c, hc, run_id, err, errn)) return -1;
    const char *const *cols;
    int n = store_columns(&cols);
    size_t vn = PROVENANCE_CMDLINE_MAX + 64; /* the longest value: the command line */
    char **vals = calloc((size_t)n, sizeof *vals), *v = malloc(vn);
    Provenance *own = prov ? NULL : malloc(sizeof *own);
    if (!vals || !v || (!prov && !own)) {
        free(vals);
        free(v);
        free(own);
        return errf(err, errn, "out of memory");
    }
    if (!prov) provenance_get(own);
    const Provenance *p = prov ? prov : own;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const char *k = cols[i];
        const CfgKey *ck = config_key(k);
        v[0] = 0;
        if (ck) rowfmt_config_value(c, ck, v, vn);
        else if (!strcmp(k, "run_id")) snprintf(v, vn, "%s", run_id);
        else if (!strcmp(k, "grid")) snprintf(v, vn, "%s", grid);
        else if (!strcmp(k, "arm")) snprintf(v, vn, "%s", arm);
        else if (strstr(k, "_sha256")) hash_value(k, c, hc, v, vn);
        else if (!strncmp(k, "probe_", 6)) probe_value(k, probe, v, vn);
        else result_value(k, res, p, start, end, v, vn);
        if (!(vals[i] = strdup(v))) rc = -1;
    }
    if (rc) errf(err, errn, "out of memory");
    else rc = store_append(csv_path, (const char *const *)vals, n, err, errn);
    for (int i = 0; i < n; i++) free(vals[i]);
    free(vals);
    free(v);
    free(own);
    return rc;
}

/* Add {"path": path, "sha256": hex or null} to o under name. */
static void json_file(cJSON *o, const char *name, const char *path, const char *hex) {
    cJSON *f = cJSON_AddObjectToObject(o, name);
    cJSON_AddStringToObject(f, "path", path);
    if (hex[0]) cJSON_AddStringToObject(f, "sha256", hex);
    else cJSON_AddNullToObject(f, "sha256");
}

int record_provenance_json(const char *path, const Config *c, const Provenance *p, const char *start,
                           HashCache *hc, char *err, size_t errn) {
    char run_id[17], dpath[1100], hex[65];
    if (config_run_id_cached(c, hc, run_id, err, errn)) return -1;
    cJSON *o = cJSON_CreateObject();
    if (!o) return errf(err, errn, "out of memory");
    cJSON_AddStringToObject(o, "run_id", run_id);
    cJSON_AddStringToObject(o, "engine_version", p->engine_version);
    cJSON_AddStringToObject(o, "git_commit", p->git_commit);
    cJSON_AddStringToObject(o, "git_dirty", p->git_dirty);
    cJSON_AddStringToObject(o, "build_type", p->build_type);
    cJSON_AddStringToObject(o, "compiler", p->compiler);
    cJSON_AddStringToObject(o, "compiler_flags", p->compiler_flags);
    cJSON_AddStringToObject(o, "cpu_model", p->cpu_model);
    cJSON_AddStringToObject(o, "blas", p->blas);
    cJSON_AddStringToObject(o, "blas_core", p->blas_core);
    cJSON_AddStringToObject(o, "host", p->host);
    cJSON_AddStringToObject(o, "start_time", start ? start : "");
    cJSON_AddStringToObject(o, "command_line", p->command_line);
    static const char *const splits[] = {"train", "test"};
    for (int s = 0; s < 2; s++) {
        char col[32];
        snprintf(col, sizeof col, "%s_sha256", splits[s]);
        dataset_path(c->dataset, splits[s], dpath, sizeof dpath);
        hash_value(col, c, hc, hex, sizeof hex);
        json_file(o, s ? "test_data" : "train_data", dpath, hex);
    }
    if (c->init[0]) {
        hash_value("init_sha256", c, hc, hex, sizeof hex);
        json_file(o, "init", c->init, hex);
    } else {
        cJSON_AddNullToObject(o, "init");
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return errf(err, errn, "out of memory");
    FILE *f = fopen(path, "w");
    int rc = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF ? 0 : -1;
    if (f && fclose(f)) rc = -1;
    free(text);
    return rc ? errf(err, errn, "%s: cannot write: %s", path, strerror(errno)) : 0;
}

int record_data_changed(const Table *t, int r, HashCache *hc, char *why, size_t whyn) {
    static const char *const splits[] = {"train", "test"};
    const char *ds = table_get(t, r, "dataset");
    if (whyn) why[0] = 0;
    for (int s = 0; s < 2 && ds; s++) {
        char col[32], path[1100], hex[65], err[512];
        snprintf(col, sizeof col, "%s_sha256", splits[s]);
        const char *was = table_get(t, r, col);
        if (!was || !*was) continue; /* unknown: recorded before data hashes were */
        dataset_path(ds, splits[s], path, sizeof path);
        if (hash_cache_file(hc, path, hex, err, sizeof err) || !strcmp(hex, was)) continue;
        snprintf(why, whyn, "data changed since it was recorded: %s sha256 %.8s… → %.8s…", path, was, hex);
        return 1;
    }
    return 0;
}

int record_run_done(const Table *t, const char *run_id, HashCache *hc, char *why, size_t whyn) {
    if (whyn) why[0] = 0;
    int r = store_last_row(t, run_id);
    const char *st = r >= 0 ? table_get(t, r, "status") : NULL;
    if (!st || (strcmp(st, "ok") && strcmp(st, "diverged"))) return 0;
    return !record_data_changed(t, r, hc, why, whyn);
}
