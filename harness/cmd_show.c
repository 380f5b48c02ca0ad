/* harness show RUN_ID [--results DIR]: one recorded run, found by a unique prefix of
 * its run_id in DIR/<grid>/runs.csv: its grid and arm, status, config, provenance,
 * metrics and the files of its run directory. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "hash.h"
#include "rowfmt.h"
#include "runfiles.h"
#include "store.h"

/* One match: the last row of a run in one grid's runs.csv. */
typedef struct Match {
    char grid[256];
    char run_id[64];
    int table; /* index into the tables read */
    int row;
} Match;

typedef struct Found {
    Table *t;
    char (*grid)[256];
    int ntables;
    Match *m;
    int nm, cap;
} Found;

static void found_free(Found *f) {
    for (int i = 0; i < f->ntables; i++) table_free(&f->t[i]);
    free(f->t);
    free(f->grid);
    free(f->m);
}

static int add_match(Found *f, const char *id, int table, int row) {
    for (int i = 0; i < f->nm; i++)
        if (f->m[i].table == table && !strcmp(f->m[i].run_id, id)) {
            f->m[i].row = row; /* a later row of the run in the same file: its state */
            return 0;
        }
    if (f->nm == f->cap) {
        int nc = f->cap ? 2 * f->cap : 8;
        Match *nm = realloc(f->m, (size_t)nc * sizeof *nm);
        if (!nm) return -1;
        f->m = nm;
        f->cap = nc;
    }
    Match *m = &f->m[f->nm++];
    snprintf(m->grid, sizeof m->grid, "%s", f->grid[table]);
    snprintf(m->run_id, sizeof m->run_id, "%s", id);
    m->table = table;
    m->row = row;
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read every DIR/<grid>/runs.csv (grids in name order) and collect the runs whose
 * run_id starts with prefix. Returns the number of files read, or -1 (message printed). */
static int find_runs(const char *results, const char *prefix, Found *f) {
    DIR *d = opendir(results);
    if (!d) {
        fprintf(stderr, "harness show: %s: cannot open the results directory\n", results);
        return -1;
    }
    char **names = NULL;
    int nn = 0, cap = 0, rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (nn == cap) {
            cap = cap ? 2 * cap : 16;
            char **nb = realloc(names, (size_t)cap * sizeof *nb);
            if (!nb) break;
            names = nb;
        }
        if (!(names[nn] = strdup(e->d_name))) break;
        nn++;
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof *names, by_name);
    f->t = calloc((size_t)nn + 1, sizeof *f->t);
    f->grid = calloc((size_t)nn + 1, sizeof *f->grid);
    for (int i = 0; i < nn && f->t && f->grid && rc == 0; i++) {
        char csv[1400], err[1024];
        snprintf(csv, sizeof csv, "%s/%s/runs.csv", results, names[i]);
        if (access(csv, F_OK)) continue;
        Table *t = &f->t[f->ntables];
        if (store_read(csv, t, err, sizeof err)) {
            fprintf(stderr, "harness show: %s\n", err);
            continue;
        }
        snprintf(f->grid[f->ntables], sizeof f->grid[0], "%s", names[i]);
        int ci = table_col(t, "run_id");
        for (int r = 0; ci >= 0 && r < t->nrows && rc == 0; r++)
            if (!strncmp(t->rows[r][ci], prefix, strlen(prefix))) rc = add_match(f, t->rows[r][ci], f->ntables, r);
        f->ntables++;
    }
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
    if (!f->t || !f->grid || rc) {
        fprintf(stderr, "harness show: out of memory\n");
        return -1;
    }
    return f->ntables;
}

/* The value of column col in match m's row ("" when the file lacks it). */
static const char *val(const Found *f, const Match *m, const char *col) {
    const char *v = table_get(&f->t[m->table], m->row, col);
    return v ? v : "";
}

/* The run's config rebuilt from its row (defaults for empty values) into c; prints the
 * values that do not parse. */
static void row_config(const Found *f, const Match *m, Config *c) {
    int ns;
    const CfgKey *s = config_schema(&ns);
    config_defaults(c);
    for (int i = 0; i < ns; i++) {
        const char *v = val(f, m, s[i].name);
        char err[512];
        if (*v && config_set(c, s[i].name, v, err, sizeof err)) printf("  (recorded value not valid now: %s)\n", err);
    }
}

/* The config section: every key of the run identity, then the other keys not at their
 * default; * marks values that differ from the default. Then whether run_id still
 * matches the config. */
static void show_config(const Found *f, const Match *m) {
    Config c, dflt;
    int ns;
    const CfgKey *s = config_schema(&ns);
    config_defaults(&dflt);
    printf("\nconfig (identity: what run_id hashes; * = not the default)\n");
    row_config(f, m, &c);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) printf("other settings, not part of run_id (not the default)\n");
        for (int i = 0; i < ns; i++) {
            char raw[CFG_PATH_MAX], d[CFG_PATH_MAX];
            const char *v = val(f, m, s[i].name);
            config_get(&dflt, &s[i], raw, sizeof raw);
            rowfmt_value(&s[i], raw, d, sizeof d);
            int differs = strcmp(v, d) != 0, ident = config_in_identity(&c, &s[i]);
            if (pass == 0 && ident) printf("  %s %s = %s\n", differs ? "*" : " ", s[i].name, v);
            if (pass == 1 && !ident && differs && *v) printf("  * %s = %s\n", s[i].name, v);
        }
    }
    HashCache hc = {0};
    char id[17], err[1024];
    const char *init_hash = val(f, m, "init_sha256");
    if (c.init[0] && *init_hash) hash_cache_put_checkpoint(&hc, c.init, init_hash);
    if (config_run_id_cached(&c, &hc, id, err, sizeof err)) printf("run_id check: cannot recompute (%s)\n", err);
    else if (!strcmp(id, m->run_id)) printf("run_id check: this config hashes to %s\n", id);
    else printf("run_id check: this config hashes to %s, not %s (recorded with another identity rule?)\n", id, m->run_id);
    hash_cache_free(&hc);
}

/* Print "  name: value" for each column of cols the row holds; empty ones as
 * "(not recorded)" when show_empty, else skipped. */
static void show_cols(const Found *f, const Match *m, const char *const *cols, int show_empty) {
    for (int i = 0; cols[i]; i++) {
        const char *v = val(f, m, cols[i]);
        if (!*v && !show_empty) continue;
        int len = (int)strlen(v);
        printf("  %-16s %.*s%s\n", cols[i], len > 200 ? 200 : len, *v ? v : "(not recorded)", len > 200 ? "…" : "");
    }
}

static void show_one(const Found *f, const Match *m, const char *results) {
    static const char *const prov[] = {"engine_version", "git_commit", "git_dirty", "build_type", "compiler",
                                       "compiler_flags", "cpu_model", "blas", "blas_core", "host", "threads_used",
                                       "start_time", "end_time", "train_sha256", "test_sha256", "init_sha256",
                                       "command_line", NULL};
    static const char *const metrics[] = {"ntp_loss", "jepa_dist", "steps", "train_s",
                                          "eval_s", "train_tok_s", "ntp_step_ms", "jepa_step_ms", "jepa_ntp_ratio",
                                          "peak_rss_mb", "params", "trainable_params", NULL};
    char dir[1400];
    snprintf(dir, sizeof dir, "%s/%s/runs/%s", results, m->grid, m->run_id);
    printf("run %s\n  grid %s, arm %s (%s/%s/runs.csv, row %d of %d)\n  status %s\n", m->run_id, m->grid,
           val(f, m, "arm"), results, m->grid, m->row + 1, f->t[m->table].nrows, val(f, m, "status"));
    if (*val(f, m, "error")) printf("  error: %s\n", val(f, m, "error"));
    show_config(f, m);
    printf("\nprovenance\n");
    show_cols(f, m, prov, 1);
    printf("\nmetrics\n");
    const char *const *cols;
    int n = store_columns(&cols);
    for (int i = 0; i < n; i++) /* the task metrics the run recorded */
        if (!strncmp(cols[i], "acc_", 4)) show_cols(f, m, (const char *const[]){cols[i], NULL}, 0);
    show_cols(f, m, metrics, 0);
    for (int i = 0; i < n; i++)
        if (!strncmp(cols[i], "probe_", 6)) show_cols(f, m, (const char *const[]){cols[i], NULL}, 0);
    printf("\nfiles in %s\n", dir);
    runfiles_print(stdout, dir);
}

static void show_usage(FILE *o) {
    fprintf(o, "usage: harness show RUN_ID [--results DIR]\n"
               "  Prints one recorded run: grid, arm, status, config (identity keys, and other keys not at\n"
               "  their default), provenance, metrics and the files of its run directory. RUN_ID may be any\n"
               "  unique prefix of a run_id; the run is looked up in DIR/*/runs.csv (DIR defaults to results).\n"
               "  A run recorded by several grids (harness run --reuse) is shown once per grid.\n");
}

int cmd_show(int argc, char **argv) {
    const char *results = "results", *prefix = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { show_usage(stdout); return 0; }
        if (!strcmp(argv[i], "--results") && i + 1 < argc) results = argv[++i];
        else if (argv[i][0] == '-') { fprintf(stderr, "harness show: unknown option '%s'\n", argv[i]); return 2; }
        else if (!prefix) prefix = argv[i];
        else { fprintf(stderr, "harness show: one run at a time ('%s' and '%s')\n", prefix, argv[i]); return 2; }
    }
    if (!prefix || !*prefix) { show_usage(stderr); return 2; }
    Found f = {0};
    int nfiles = find_runs(results, prefix, &f), rc = 0, ndistinct = 0;
    for (int i = 0; i < f.nm; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(f.m[i].run_id, f.m[j].run_id);
        ndistinct += !seen;
    }
    if (nfiles < 0) rc = 1;
    else if (ndistinct == 0) {
        fprintf(stderr, "harness show: no run_id starts with '%s' in %s/*/runs.csv (%d file%s read)\n", prefix, results,
                nfiles, nfiles == 1 ? "" : "s");
        rc = 1;
    } else if (ndistinct > 1) {
        fprintf(stderr, "harness show: '%s' is ambiguous: %d runs start with it; give more of the run_id:\n", prefix,
                ndistinct);
        for (int i = 0; i < f.nm && i < 20; i++)
            fprintf(stderr, "  %s  grid %s, arm %s, seed %s\n", f.m[i].run_id, f.m[i].grid, val(&f, &f.m[i], "arm"),
                    val(&f, &f.m[i], "seed"));
        if (f.nm > 20) fprintf(stderr, "  ... and %d more\n", f.nm - 20);
        rc = 1;
    } else {
        for (int i = 0; i < f.nm; i++) {
            if (i) printf("\n----\n\n");
            show_one(&f, &f.m[i], results);
        }
    }
    found_free(&f);
    return rc;
}
