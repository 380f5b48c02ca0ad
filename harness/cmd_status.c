/* harness status: where each run of a grid stands (runs.csv, the run
 * directories' lock files) and, where squeue exists, the grid's SLURM jobs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "commands.h"
#include "grid.h"
#include "record.h"
#include "slurm.h"
#include "store.h"

enum { ST_DONE, ST_RUNNING, ST_FAILED, ST_PENDING, ST_N };
static const char *const ST_NAME[ST_N] = {"done", "running", "failed", "pending"};

/* Whether dir/lock is held by a harness run: a non-blocking exclusive flock
 * that fails because someone else holds it (taken and dropped at once when free). */
static int lock_held(const char *gdir, const char *run_id) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%.3000s/runs/%s/lock", gdir, run_id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd); /* drops our lock if we took it */
    return held;
}

/* The state of run gr, with a note (diverged, data changed) in note (size n). */
static int run_state(const Table *t, const GridRun *gr, const char *gdir, HashCache *hc, char *note, size_t n) {
    char why[512] = "";
    note[0] = 0;
    if (lock_held(gdir, gr->run_id)) return ST_RUNNING;
    int row = store_last_row(t, gr->run_id);
    const char *st = row >= 0 ? table_get(t, row, "status") : NULL;
    if (!st) return ST_PENDING;
    if (record_run_done(t, gr->run_id, hc, why, sizeof why)) {
        if (!strcmp(st, "diverged")) snprintf(note, n, "diverged");
        return ST_DONE;
    }
    if (why[0]) { snprintf(note, n, "%s", why); return ST_PENDING; }
    return strcmp(st, "failed") ? ST_PENDING : ST_FAILED;
}

/* squeue's lines for the grid's jobs (job name harness-<grid>), if squeue exists. */
static void print_squeue(const char *grid_name) {
    char squeue[PATH_MAX], name[200], out[16384], errtxt[2048];
    if (slurm_find("squeue", squeue, sizeof squeue)) return;
    snprintf(name, sizeof name, "--name=harness-%s", grid_name);
    char *argv[] = {squeue, "-h", "-r", name, "-o", "%i|%T|%M|%R", NULL};
    int st;
    if (slurm_capture(argv, out, sizeof out, errtxt, sizeof errtxt, &st) || st) {
        printf("\nSLURM: squeue failed (exit %d): %s\n", st, errtxt);
        return;
    }
    if (!out[0]) { printf("\nSLURM: no job named harness-%s in the queue.\n", grid_name); return; }
    printf("\nSLURM jobs (squeue --name=harness-%s):\n\n| job | state | time | reason / node |\n|---|---|---|---|\n",
           grid_name);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        printf("|");
        for (char *f = line; f;) {
            char *bar = strchr(f, '|');
            if (bar) *bar = 0;
            printf(" %s |", f);
            f = bar ? bar + 1 : NULL;
        }
        printf("\n");
    }
}

/* The summary line, the per-arm table and the runs not done (every run with all). */
static void print_status(const Grid *g, const int *state, char (*notes)[600], const char *csv, int all) {
    int tot[ST_N] = {0}, ndiv = 0;
    for (int r = 0; r < g->nruns; r++) {
        tot[state[r]]++;
        ndiv += !strcmp(notes[r], "diverged");
    }
    printf("# harness status: %s\n\n%d runs: %d done (%d ok, %d diverged), %d running, %d failed, %d pending  (%s)\n\n",
           g->name, g->nruns, tot[ST_DONE], tot[ST_DONE] - ndiv, ndiv, tot[ST_RUNNING], tot[ST_FAILED], tot[ST_PENDING],
           csv);
    printf("| arm | runs | done | running | failed | pending |\n|---|---:|---:|---:|---:|---:|\n");
    for (int r = 0; r < g->nruns; r++) {
        int first = 1, c[ST_N] = {0}, n = 0;
        for (int q = 0; q < r && first; q++) first = strcmp(g->runs[q].arm, g->runs[r].arm) != 0;
        if (!first) continue;
        for (int q = r; q < g->nruns; q++)
            if (!strcmp(g->runs[q].arm, g->runs[r].arm)) { c[state[q]]++; n++; }
        printf("| %s | %d | %d | %d | %d | %d |\n", g->runs[r].arm, n, c[0], c[1], c[2], c[3]);
    }
    if (!all && tot[ST_DONE] == g->nruns) return;
    printf("\n| run | arm | seed | state | note |\n|---|---|---|---|---|\n");
    for (int r = 0; r < g->nruns; r++)
        if (all || state[r] != ST_DONE)
            printf("| %s | %s | %llu | %s | %s |\n", g->runs[r].run_id, g->runs[r].arm,
                   (unsigned long long)g->runs[r].cfg.seed, ST_NAME[state[r]], notes[r]);
}

int cmd_status(int argc, char **argv) {
    const char *gpath = NULL, *results = "results";
    int all = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: harness status GRID [--results DIR] [--all]\n"
                   "  Per run of GRID: done (recorded ok or diverged), running (its run directory's lock is\n"
                   "  held by a harness run), failed (recorded failed, not running), pending (not recorded,\n"
                   "  or its data changed since). A summary line, a per-arm table and the runs not done\n"
                   "  (--all: every run); with squeue in PATH, the grid's SLURM jobs (harness slurm).\n");
            return 0;
        } else if (!strcmp(argv[i], "--results") && i + 1 < argc) results = argv[++i];
        else if (!strcmp(argv[i], "--all")) all = 1;
        else if (argv[i][0] == '-' || gpath) {
            fprintf(stderr, "harness status: unexpected '%s'\nusage: harness status GRID [--results DIR] [--all]\n", argv[i]);
            return 2;
        } else gpath = argv[i];
    }
    if (!gpath) { fprintf(stderr, "usage: harness status GRID [--results DIR] [--all]\n"); return 2; }
    char err[1024], gdir[PATH_MAX], csv[PATH_MAX + 16];
    Grid g;
    if (grid_parse_file(gpath, &g, err, sizeof err)) { fprintf(stderr, "harness status: %s\n", err); return 1; }
    snprintf(gdir, sizeof gdir, "%.3000s/%s", results, g.name);
    snprintf(csv, sizeof csv, "%s/runs.csv", gdir);
    Table t;
    if (store_read(csv, &t, err, sizeof err)) { fprintf(stderr, "harness status: %s\n", err); grid_free(&g); return 1; }
    int *state = calloc((size_t)g.nruns + 1, sizeof *state);
    char (*notes)[600] = calloc((size_t)g.nruns + 1, sizeof *notes);
    if (!state || !notes) { fprintf(stderr, "harness status: out of memory\n"); free(state); free(notes); table_free(&t); grid_free(&g); return 1; }
    for (int r = 0; r < g.nruns; r++) state[r] = run_state(&t, &g.runs[r], gdir, &g.hashes, notes[r], sizeof notes[r]);
    print_status(&g, state, notes, csv, all);
    print_squeue(g.name);
    free(state);
    free(notes);
    table_free(&t);
    grid_free(&g);
    return 0;
}
