/* harness verify: run a grid (by default grids/nightly.grid) into a fresh
 * results directory and compare every run with a committed reference
 * (verify.h); --update rewrites the reference and says what moved. */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "commands.h"
#include "grid.h"
#include "store.h"
#include "verify.h"

typedef struct VerifyOpts {
    const char *gpath, *ref, *results;
    int update, jobs;
} VerifyOpts;

static void verify_usage(FILE *f) {
    fprintf(f,
            "usage: harness verify [GRID] [--reference FILE] [--results DIR] [--update] [-j N]\n"
            "  Runs GRID (default grids/nightly.grid) into a fresh temporary results directory and\n"
            "  compares every run with the row of the same run_id in FILE (default\n"
            "  results/<grid>/reference.csv): bit-identical when both record the same build type,\n"
            "  thread count, BLAS, CPU and compiler (the determinism contract), else within per-column\n"
            "  tolerances. Prints a Markdown verdict per run and column; exit 0 when every run passes,\n"
            "  1 when one differs, is missing from the reference, or a reference row no run made.\n"
            "  --results DIR: run into DIR instead (runs already recorded there are not run again),\n"
            "  and keep it. The temporary directory is removed after a pass and kept after a failure.\n"
            "  --update: write the new rows as the reference (after a deliberate change) and list\n"
            "  what moved, old -> new. -j N: runs at a time (default: the number of cores).\n");
}

/* Returns -1 to go on, else the exit code. */
static int parse_verify_args(int argc, char **argv, VerifyOpts *o) {
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (VerifyOpts){.gpath = "grids/nightly.grid", .jobs = nc > 0 ? (int)nc : 1};
    int have_grid = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { verify_usage(stdout); return 0; }
        else if (!strcmp(a, "--update")) o->update = 1;
        else if (!strcmp(a, "--reference") && more) o->ref = argv[++i];
        else if (!strcmp(a, "--results") && more) o->results = argv[++i];
        else if ((!strcmp(a, "-j") || !strcmp(a, "--jobs")) && more) {
            if ((o->jobs = atoi(argv[++i])) < 1) { fprintf(stderr, "harness verify: -j needs a positive number\n"); return 2; }
        } else if (a[0] == '-') {
            fprintf(stderr, "harness verify: unknown option or missing value: '%s'\n", a);
            verify_usage(stderr);
            return 2;
        } else if (!have_grid) {
            o->gpath = a;
            have_grid = 1;
        } else {
            fprintf(stderr, "harness verify: one grid at a time ('%s' and '%s')\n", o->gpath, a);
            return 2;
        }
    }
    return -1;
}

/* Run `self run GRID --results DIR -j N`, its output on our stderr. Returns its exit code, -1 when it could not run. */
static int run_grid(const VerifyOpts *o, const char *dir) {
    char self[1024], jobs[16];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) return -1;
    self[len] = 0;
    snprintf(jobs, sizeof jobs, "%d", o->jobs);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(2, 1); /* stdout is the verdict's */
        execl(self, self, "run", o->gpath, "--results", dir, "-j", jobs, (char *)NULL);
        fprintf(stderr, "harness verify: cannot execute %s: %s\n", self, strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Write the last rows of the grid's runs (ids) in now to ref: a new file beside it, renamed over it. */
static int write_reference(const Table *now, const char *const *ids, int nids, const char *ref, char *err,
                           size_t errn) {
    char tmp[1200], lock[1300];
    snprintf(tmp, sizeof tmp, "%s.new.%d", ref, (int)getpid());
    snprintf(lock, sizeof lock, "%s.lock", tmp);
    unlink(tmp);
    int n = store_columns(NULL), rc = 0;
    for (int i = 0; i < nids && rc == 0; i++) {
        char **v = store_row_values(now, store_last_row(now, ids[i]));
        if (!v) { snprintf(err, errn, "out of memory"); rc = -1; break; }
        rc = store_append(tmp, (const char *const *)v, n, err, errn);
        store_values_free(v);
    }
    unlink(lock);
    if (rc == 0 && rename(tmp, ref) != 0) {
        snprintf(err, errn, "cannot rename %.400s to %.400s: %s", tmp, ref, strerror(errno));
        rc = -1;
    }
    if (rc) unlink(tmp);
    return rc;
}

/* --update: every run must be recorded ok or diverged; then say what moved and write the reference. */
static int update(const Table *old, const Table *now, const char *const *ids, int nids, const char *ref) {
    char err[1024];
    for (int i = 0; i < nids; i++) {
        int r = store_last_row(now, ids[i]);
        const char *st = r >= 0 ? table_get(now, r, "status") : NULL;
        if (!st || (strcmp(st, "ok") && strcmp(st, "diverged"))) {
            fprintf(stderr, "harness verify --update: run %s %s; the reference is left as it is\n", ids[i],
                    st ? "failed" : "recorded no row");
            return 1;
        }
    }
    VerifyReport rep;
    if (verify_compare(old, now, ids, nids, &rep, err, sizeof err)) { fprintf(stderr, "harness verify: %s\n", err); return 1; }
    int moved = verify_print_moved(stdout, &rep);
    verify_report_free(&rep);
    if (write_reference(now, ids, nids, ref, err, sizeof err)) {
        fprintf(stderr, "harness verify --update: %s\n", err);
        return 1;
    }
    printf("Wrote %s: %d runs, %d change(s).\n", ref, nids, moved);
    return 0;
}

/* Compare (or update) after the grid ran into results; returns the exit code. */
static int judge(const VerifyOpts *o, const Grid *g, const char *ref, const char *results) {
    char csv[1200], err[1024], title[300];
    snprintf(csv, sizeof csv, "%s/%s/runs.csv", results, g->name);
    Table old, now;
    if (store_read(ref, &old, err, sizeof err)) { fprintf(stderr, "harness verify: %s\n", err); return 1; }
    if (store_read(csv, &now, err, sizeof err)) {
        fprintf(stderr, "harness verify: %s\n", err);
        table_free(&old);
        return 1;
    }
    const char **ids = malloc(((size_t)g->nruns + 1) * sizeof *ids);
    for (int r = 0; ids && r < g->nruns; r++) ids[r] = g->runs[r].run_id;
    int rc = 1;
    if (!ids) fprintf(stderr, "harness verify: out of memory\n");
    else if (o->update) rc = update(&old, &now, ids, g->nruns, ref);
    else if (access(ref, F_OK) != 0)
        fprintf(stderr, "harness verify: no reference %s (make it with: harness verify %s --update)\n", ref, o->gpath);
    else {
        VerifyReport rep;
        if (verify_compare(&old, &now, ids, g->nruns, &rep, err, sizeof err)) fprintf(stderr, "harness verify: %s\n", err);
        else {
            snprintf(title, sizeof title, "%s (%d runs)", g->name, g->nruns);
            verify_print(stdout, &rep, title, ref, csv);
            rc = rep.npass == rep.nruns ? 0 : 1;
            verify_report_free(&rep);
        }
    }
    free(ids);
    table_free(&old);
    table_free(&now);
    return rc;
}

int cmd_verify(int argc, char **argv) {
    VerifyOpts o;
    int rc = parse_verify_args(argc, argv, &o);
    if (rc >= 0) return rc;
    char err[1024], ref[1024], tmp[600] = "";
    Grid g;
    if (grid_parse_file(o.gpath, &g, err, sizeof err)) { fprintf(stderr, "harness verify: %s\n", err); return 1; }
    if (o.ref) snprintf(ref, sizeof ref, "%s", o.ref);
    else snprintf(ref, sizeof ref, "results/%s/reference.csv", g.name);
    const char *results = o.results;
    if (!results) {
        const char *td = getenv("TMPDIR");
        snprintf(tmp, sizeof tmp, "%s/harness_verify_%s_XXXXXX", td && *td ? td : "/tmp", g.name);
        if (!mkdtemp(tmp)) {
            fprintf(stderr, "harness verify: cannot create a directory %s: %s\n", tmp, strerror(errno));
            grid_free(&g);
            return 1;
        }
        results = tmp;
    }
    fprintf(stderr, "harness verify: running %s into %s, %d at a time\n", o.gpath, results, o.jobs);
    int run_rc = run_grid(&o, results);
    if (run_rc < 0) fprintf(stderr, "harness verify: cannot run the grid: %s\n", strerror(errno));
    else if (run_rc) fprintf(stderr, "harness verify: harness run exited with %d (failed runs are compared as such)\n", run_rc);
    rc = run_rc < 0 || run_rc >= 128 ? 1 : judge(&o, &g, ref, results);
    if (tmp[0] && rc == 0) nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    else if (tmp[0]) fprintf(stderr, "harness verify: the runs are kept in %s\n", tmp);
    grid_free(&g);
    return rc;
}
