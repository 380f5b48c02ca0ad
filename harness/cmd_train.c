/* harness train: one run, in its run directory, recorded in runs.csv. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "task.h"
#include "grid.h"
#include "config.h"
#include "fsutil.h"
#include "probe.h"
#include "probe_run.h"
#include "provenance.h"
#include "record.h"
#include "train.h"

/* A FILE that writes to two FILEs (log.txt and stderr). */
typedef struct Tee { FILE *a, *b; } Tee;

static ssize_t tee_write(void *c, const char *buf, size_t n) {
    Tee *t = c;
    fwrite(buf, 1, n, t->a);
    fflush(t->a);
    if (t->b) { fwrite(buf, 1, n, t->b); fflush(t->b); }
    return (ssize_t)n;
}

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* The run of c once its arguments are read: run directory, config.txt,
 * log, train_run, DONE, the row. Returns the exit code. */
static int train_one(const Config *cp, const char *out, const char *results, const char *grid, const char *arm,
                        int quiet, HashCache *hc) {
    Config c = *cp;
    char run_id[17], dir[1024], csv[1024], path[1100], err[1024];
    if (c.probe && strcmp(c.checkpoint, "final")) {
        fprintf(stderr, "harness train: probe=1 needs checkpoint=final (the probe reads the run's checkpoint)\n");
        return 2;
    }
    if (config_run_id_cached(&c, hc, run_id, err, sizeof err)) { fprintf(stderr, "harness train: %s\n", err); return 2; }
    if (out) snprintf(dir, sizeof dir, "%s", out);
    else snprintf(dir, sizeof dir, "%s/%s/runs/%s", results, grid, run_id);
    snprintf(csv, sizeof csv, "%s/%s/runs.csv", results, grid);
    if (mkdir_p(dir)) { fprintf(stderr, "harness train: %s: cannot create: %s\n", dir, strerror(errno)); return 1; }
    snprintf(path, sizeof path, "%s/DONE", dir);
    unlink(path); /* a rerun is not done until it is */
    char *canon = NULL;
    snprintf(path, sizeof path, "%s/config.txt", dir);
    if (config_canonical(&c, 0, NULL, &canon, err, sizeof err) || write_text(path, canon)) {
        fprintf(stderr, "harness train: %s: cannot write\n", path);
        free(canon);
        return 1;
    }
    free(canon);
    char start[32], end[32];
    iso_time_now(start, sizeof start);
    Provenance prov;
    provenance_get(&prov);
    snprintf(path, sizeof path, "%s/provenance.json", dir);
    if (record_provenance_json(path, &c, &prov, start, hc, err, sizeof err)) {
        fprintf(stderr, "harness train: %s\n", err);
        return 1;
    }
    snprintf(path, sizeof path, "%s/log.txt", dir);
    FILE *logf = NULL, *log = stderr;
    Tee tee;
    if (!quiet) {
        if (!(logf = fopen(path, "w"))) { fprintf(stderr, "harness train: %s: cannot write\n", path); return 1; }
        tee.a = logf;
        tee.b = stderr;
        cookie_io_functions_t io = {NULL, tee_write, NULL, NULL};
        log = fopencookie(&tee, "w", io);
        setvbuf(log, NULL, _IOLBF, 0);
    }
    fprintf(log, "run %s -> %s\n", run_id, dir);
    TrainResult res;
    int rc = train_run(&c, dir, log, &res, err, sizeof err);
    iso_time_now(end, sizeof end);
    int exitc = 0;
    if (rc) {
        fprintf(log, "error: %s\n", err);
        snprintf(res.status, sizeof res.status, "failed");
        snprintf(res.message, sizeof res.message, "%.255s", err);
        exitc = 1;
    } else if (!strcmp(res.status, "diverged")) {
        exitc = 3;
    }
    char rerr[1024];
    ProbeResult pr;
    int probed = 0;
    if (exitc == 0 && c.probe && !strcmp(res.status, "ok")) {
        if (probe_run_dir(&c, dir, log, &pr, rerr, sizeof rerr)) {
            fprintf(log, "error: probe: %s\n", rerr);
            snprintf(res.status, sizeof res.status, "failed");
            snprintf(res.message, sizeof res.message, "probe: %.240s", rerr);
            exitc = 1;
        } else {
            probed = 1;
        }
        iso_time_now(end, sizeof end);
    }
    /* DONE is the run directory's last file and is written before the row, so
     * a recorded run always has it; a kill between the two only makes the
     * next `harness run` redo the run. */
    snprintf(path, sizeof path, "%s/DONE", dir);
    if (exitc != 1 && write_text(path, res.status)) {
        fprintf(log, "error: %s: cannot write\n", path);
        snprintf(res.status, sizeof res.status, "failed");
        snprintf(res.message, sizeof res.message, "%.230s: cannot write", path);
        exitc = 1;
    }
    if (record_run(csv, grid, arm, &c, &res, start, end, probed ? &pr : NULL, &prov, hc, rerr, sizeof rerr)) {
        fprintf(log, "error: recording the run: %s\n", rerr);
        unlink(path);
        exitc = 1;
    }
    if (log != stderr) fclose(log);
    if (logf) fclose(logf);
    if (rc) fprintf(stderr, "harness train: %s\n", err);
    return exitc;
}

static void train_usage(FILE *f) {
    fprintf(f, "usage: harness train [--out DIR] [--results DIR] [--grid NAME] [--arm NAME] [--quiet] key=value...\n"
               "  Trains and evaluates one run. Files go to DIR (default RESULTS/GRID/runs/<run_id>);\n"
               "  the row goes to RESULTS/GRID/runs.csv. Exit 0 ok, 3 diverged, 1 failed, 2 usage.\n"
               "  --init-sha256 HEX: the content hash of init's directory, already computed (harness run\n"
               "  passes it so that a grid hashes each init checkpoint once).\n"
               "  A run at every default (a full nano run) needs at least one key=value or option,\n"
               "  e.g. `harness train model=nano`.\n");
}

/* The task table (engine/task.h): what dataset=NAME trains on, how it is scored. */
static void print_tasks(FILE *f) {
    fprintf(f, "\nTasks (dataset=NAME; files under data/, data/README.md):\n");
    for (int i = 0; i < task_count(); i++) {
        const Task *t = task_at(i);
        fprintf(f, "  %-16s %s\n  %-16s train: %s, test: %s; %s; metrics", t->name, t->doc, "",
                t->train ? t->train : "none (epochs=0 only)", t->test,
                t->eval == TASK_CHOICE ? "choice scoring" : "greedy decoding");
        for (int j = 0; j < task_nmetrics(t); j++) fprintf(f, "%s acc_%s", j ? "," : "", t->metrics[j]);
        fprintf(f, "\n");
    }
    const Metric *m;
    int nm = task_metrics(&m);
    fprintf(f, "\nMetrics (runs.csv column acc_NAME, percent of the test examples; harness report --metric):\n");
    for (int i = 0; i < nm; i++) fprintf(f, "  acc_%-14s %s\n", m[i].name, m[i].doc);
}

int cmd_train(int argc, char **argv) {
    const char *out = NULL, *results = "results", *grid = "train", *arm = "main", *init_hash = NULL;
    int quiet = 0;
    Config c;
    config_defaults(&c);
    char err[1024];
    if (argc == 0) { /* no key and no option: say how, rather than start a full run */
        train_usage(stderr);
        fprintf(stderr, "  harness train --help lists every config key, its default and range.\n");
        return 2;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            train_usage(stdout);
            printf("\n");
            config_print_help(stdout);
            print_tasks(stdout);
            return 0;
        }
        if (!strcmp(a, "--out") || !strcmp(a, "--results") || !strcmp(a, "--grid") || !strcmp(a, "--arm") ||
            !strcmp(a, "--init-sha256")) {
            if (i + 1 >= argc) { fprintf(stderr, "harness train: %s needs a value\n", a); return 2; }
            const char *v = argv[++i];
            if (!strcmp(a, "--out")) out = v;
            else if (!strcmp(a, "--results")) results = v;
            else if (!strcmp(a, "--grid")) {
                if (!grid_name_ok(v)) {
                    fprintf(stderr, "harness train: bad grid name '%s': expected 1 to 127 letters, digits, '_', '-' or "
                            "'.', not starting with '.' and without \"..\"\n", v);
                    return 2;
                }
                grid = v;
            }
            else if (!strcmp(a, "--init-sha256")) init_hash = v;
            else arm = v;
            continue;
        }
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        const char *eq = strchr(a, '=');
        if (!eq || eq == a) {
            fprintf(stderr, "harness train: argument %d '%s': expected key=value or an option\n", i + 1, a);
            return 2;
        }
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)(eq - a), a);
        if (config_set(&c, key, eq + 1, err, sizeof err)) {
            fprintf(stderr, "harness train: argument %d: %s\n", i + 1, err);
            return 2;
        }
    }
    if (config_validate(&c, err, sizeof err)) { fprintf(stderr, "harness train: %s\n", err); return 2; }
    HashCache hc = {0}; /* init and data hashed once for run_id and the row */
    if (init_hash && hash_cache_put_checkpoint(&hc, c.init, init_hash)) {
        fprintf(stderr, "harness train: --init-sha256: expected 64 lowercase hex digits, got '%s'\n", init_hash);
        return 2;
    }
    int exitc = train_one(&c, out, results, grid, arm, quiet, &hc);
    hash_cache_free(&hc);
    return exitc;
}
