/* harness run: schedule a grid's runs as child processes (`harness train`),
 * N at a time, skipping runs already recorded, with a progress line. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "failure.h"
#include "fsutil.h"
#include "grid.h"
#include "probe_run.h"
#include "provenance.h"
#include "record.h"
#include "reuse.h"
#include "store.h"
#include "train.h"

typedef struct Slot {
    pid_t pid;
    int lock_fd;     /* flock on runs/<run_id>/lock, held while the run is ours */
    int run;         /* index into the grid's runs */
    double t0;
    char start[32];
    char *cmdline;   /* the child's command line, shell-quoted (provenance of a row recorded here) */
} Slot;

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

/* The cores this process may run on (its CPU affinity: a SLURM allocation or a
 * taskset), else the online cores, at most SLURM_CPUS_PER_TASK when set; at least 1. */
static int usable_cores(void) {
    cpu_set_t set;
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n < 1) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    /* a SLURM task without CPU binding (TaskPlugin=task/none) sees the whole node */
    const char *c = getenv("SLURM_CPUS_PER_TASK");
    if (c && atoi(c) > 0 && atoi(c) < n) n = atoi(c);
    return n < 1 ? 1 : n;
}

/* Start `self train ...` for run gr; its stdout and stderr go to log.txt. Its command
 * line, quoted, goes to *cmdline (malloc'd; NULL when out of memory). */
static pid_t spawn(const char *self, const char *results, Grid *g, const GridRun *gr, int threads,
                   const char *dir, char **cmdline) {
    int n;
    const CfgKey *s = config_schema(&n);
    char **argv = calloc((size_t)n + 16, sizeof *argv);
    int a = 0;
    argv[a++] = (char *)self;
    argv[a++] = "train";
    argv[a++] = "--quiet";
    argv[a++] = "--results";
    argv[a++] = (char *)results;
    argv[a++] = "--grid";
    argv[a++] = (char *)g->name;
    argv[a++] = "--arm";
    argv[a++] = (char *)gr->arm;
    argv[a++] = "--out";
    argv[a++] = (char *)dir;
    int first_owned = a;
    char hex[65], herr[256];
    if (gr->cfg.init[0] && hash_cache_checkpoint(&g->hashes, gr->cfg.init, hex, herr, sizeof herr) == 0) {
        argv[a++] = "--init-sha256"; /* hashed when the grid was parsed: the child need not hash it again */
        argv[a++] = strdup(hex);
        first_owned = a - 1;
    }
    for (int i = 0; i < n; i++) {
        char v[CFG_PATH_MAX], kv[CFG_PATH_MAX + 64];
        if (!strcmp(s[i].name, "threads") && gr->cfg.threads == 0) snprintf(v, sizeof v, "%d", threads);
        else config_get(&gr->cfg, &s[i], v, sizeof v);
        snprintf(kv, sizeof kv, "%s=%s", s[i].name, v);
        argv[a++] = strdup(kv);
    }
    argv[a] = NULL;
    if ((*cmdline = malloc(PROVENANCE_CMDLINE_MAX))) provenance_quote_argv(a, argv, *cmdline, PROVENANCE_CMDLINE_MAX);
    pid_t pid = fork();
    if (pid == 0) {
        char path[1300];
        snprintf(path, sizeof path, "%s/log.txt", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) { dup2(devnull, 0); close(devnull); }
        execv(self, argv);
        fprintf(stderr, "harness run: cannot execute %s: %s\n", self, strerror(errno));
        _exit(127);
    }
    for (int i = first_owned; i < a; i++) free(argv[i]);
    free(argv);
    return pid;
}

/* Fraction of a running run's training done, from the last "step N/T" line
 * of its log.txt (0 when unknown). Evaluation time is not counted. */
static double run_fraction(const char *gdir, const char *run_id) {
    char path[1300];
    snprintf(path, sizeof path, "%s/runs/%s/log.txt", gdir, run_id);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char buf[4096];
    fseek(f, 0, SEEK_END);
    long size = ftell(f), from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    double frac = 0;
    for (char *p = buf; (p = strstr(p, "step ")); p += 5) {
        long a, b;
        if (sscanf(p, "step %ld/%ld", &a, &b) == 2 && b > 0) frac = (double)a / b;
    }
    return frac;
}

/* Expected seconds of a run of `arm`: the mean of this session's finished
 * runs of that arm, else the running runs of that arm extrapolated from their
 * progress, else the same over all arms; NAN when nothing is known yet. */
static double expected_run_seconds(const Grid *g, const char *arm, const Slot *slots, int jobs, const double *done_dur,
                                   const char *gdir, double now) {
    for (int pass = 0; pass < 2; pass++) { /* pass 0: same arm; pass 1: any arm */
        double sum = 0;
        int n = 0;
        for (int r = 0; r < g->nruns; r++)
            if (done_dur[r] > 0 && (pass || !strcmp(g->runs[r].arm, arm))) { sum += done_dur[r]; n++; }
        if (n) return sum / n;
        for (int s = 0; s < jobs; s++) {
            double f;
            if (!slots[s].pid || (!pass && strcmp(g->runs[slots[s].run].arm, arm))) continue;
            if ((f = run_fraction(gdir, g->runs[slots[s].run].run_id)) > 0.02) { sum += (now - slots[s].t0) / f; n++; }
        }
        if (n) return sum / n;
    }
    return NAN;
}

/* Seconds until the grid is done: expected time of the runs not started
 * plus what is left of the running ones, spread over the job slots. */
static double grid_eta(const Grid *g, const int *todo, int ntodo, int next, const Slot *slots, int jobs,
                       const double *done_dur, const char *gdir, double now) {
    double work = 0;
    for (int k = next; k < ntodo; k++)
        work += expected_run_seconds(g, g->runs[todo[k]].arm, slots, jobs, done_dur, gdir, now);
    for (int s = 0; s < jobs; s++)
        if (slots[s].pid) {
            double e = expected_run_seconds(g, g->runs[slots[s].run].arm, slots, jobs, done_dur, gdir, now);
            work += fmax(0, e - (now - slots[s].t0));
        }
    return work / jobs;
}

/* Claim a run for this process: an exclusive, non-blocking flock on
 * dir/lock (inherited by the child, so it is held until both let go), then a
 * fresh look at runs.csv in case another `harness run` of the same grid
 * finished it meanwhile (record_run_done: a run whose data changed is not
 * finished). Returns the lock's fd, or -1 when the run is being
 * run or was recorded elsewhere (the caller skips it). */
static int claim_run(const char *dir, const char *csv, const char *run_id, HashCache *hc) {
    char path[1300];
    snprintf(path, sizeof path, "%s/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    /* harness status probes a lock by taking it for an instant: try once more before giving up */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 && (usleep(50000), flock(fd, LOCK_EX | LOCK_NB) != 0)) {
        close(fd);
        return -1;
    }
    Table t;
    char err[256], why[512];
    if (store_read(csv, &t, err, sizeof err) == 0) {
        int done = record_run_done(&t, run_id, hc, why, sizeof why);
        table_free(&t);
        if (done) { close(fd); return -1; }
    }
    int flags = fcntl(fd, F_GETFD); /* the child keeps the lock across exec */
    if (flags >= 0) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
    return fd;
}

/* Path of this executable, so children run the same build. */
static void self_path(const char *argv0, char *out, size_t n) {
    ssize_t len = readlink("/proc/self/exe", out, n - 1);
    if (len > 0) out[len] = 0;
    else snprintf(out, n, "%s", argv0);
}

/* Probe the runs of this slice that are recorded ok, have probe=1 (grid key
 * or --probe) and whose last row lacks the probe columns: their checkpoints
 * are probed in this process, one at a time, and their rows appended again
 * with the probe columns (probe_record). Returns the number that failed. */
static int probe_recorded(Grid *g, const Table *t, const char *gdir, int slice_i, int slice_n, int threads) {
    int nfail = 0;
    for (int r = 0; r < g->nruns; r++) {
        GridRun *gr = &g->runs[r];
        if (r % slice_n != slice_i || !gr->cfg.probe) continue;
        int row = store_last_row(t, gr->run_id);
        const char *st = row >= 0 ? table_get(t, row, "status") : NULL, *pv = row >= 0 ? table_get(t, row, "probe_sv_mean") : NULL;
        if (!st || strcmp(st, "ok") || (pv && *pv)) continue;
        char dir[1200], err[1024];
        snprintf(dir, sizeof dir, "%s/runs/%s", gdir, gr->run_id);
        Config c = gr->cfg;
        c.threads = threads;
        ProbeResult pr;
        fprintf(stderr, "  probe    %s  %-10s seed %-6llu (recorded without its probe)\n", gr->run_id, gr->arm,
                (unsigned long long)gr->cfg.seed);
        if (probe_run_dir(&c, dir, stderr, &pr, err, sizeof err) || probe_record(dir, &pr, err, sizeof err)) {
            fprintf(stderr, "harness run: probe of %s: %s\n", gr->run_id, err);
            nfail++;
        }
    }
    return nfail;
}

/* The options of harness run. */
typedef struct RunOpts {
    const char *gpath, *results;
    int jobs, dry, slice_i, slice_n, probe, reuse;
} RunOpts;

static void run_usage(void) {
    printf("usage: harness run GRID [-j N] [--results DIR] [--slice I/N] [--dry-run] [--probe] [--reuse]\n"
           "  Runs every (cell x seed) of GRID not yet recorded with status ok or diverged in\n"
           "  DIR/<grid>/runs.csv (DIR defaults to results), N at a time (default: one per core), the\n"
           "  cores split between them (N above the cores this process may use is capped to them, with a\n"
           "  warning). A failed\n"
           "  run's reason (exit status or signal, last error line of its log.txt) is printed and\n"
           "  recorded in runs.csv's error column. --slice I/N runs only the runs whose index %% N == I (a SLURM array task: by\n"
           "  default SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT). --dry-run lists the runs.\n"
           "  A recorded run whose train or test data file changed since (its train_sha256 or\n"
           "  test_sha256 differs from the file's now) is run again; its new row supersedes the old.\n"
           "  --probe (or probe = 1 in the grid): probe every run after training (harness probe) and\n"
           "  record Table 10's numbers in runs.csv; runs recorded without them are probed first.\n"
           "  --reuse: a run another grid under DIR recorded ok (same run_id: same config and seed)\n"
           "  is copied instead of trained again (its run directory, and its row with this grid's\n"
           "  name and arm; provenance columns stay the original's).\n");
}

/* Parse argv into o. Returns -1 to go on, else the exit code (0 after --help, 2 on misuse). */
static int parse_run_args(int argc, char **argv, RunOpts *o) {
    *o = (RunOpts){.results = "results", .jobs = 0, .slice_n = 1}; /* 0: one per core */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-j") || !strcmp(a, "--jobs")) {
            if (i + 1 >= argc || (o->jobs = atoi(argv[i + 1])) < 1) {
                fprintf(stderr, "harness run: %s needs a positive number\n", a);
                return 2;
            }
            i++;
        } else if (!strncmp(a, "-j", 2) && a[2]) {
            if ((o->jobs = atoi(a + 2)) < 1) { fprintf(stderr, "harness run: -jN needs a positive N\n"); return 2; }
        } else if (!strcmp(a, "--results")) {
            if (i + 1 >= argc) { fprintf(stderr, "harness run: --results needs a directory\n"); return 2; }
            o->results = argv[++i];
        } else if (!strcmp(a, "--slice")) {
            if (i + 1 >= argc || sscanf(argv[i + 1], "%d/%d", &o->slice_i, &o->slice_n) != 2 || o->slice_n < 1 ||
                o->slice_i < 0 || o->slice_i >= o->slice_n) {
                fprintf(stderr, "harness run: --slice needs I/N with 0 <= I < N\n");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--dry-run")) {
            o->dry = 1;
        } else if (!strcmp(a, "--probe")) {
            o->probe = 1;
        } else if (!strcmp(a, "--reuse")) {
            o->reuse = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            run_usage();
            return 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "harness run: unknown option '%s'\n", a);
            return 2;
        } else if (!o->gpath) {
            o->gpath = a;
        } else {
            fprintf(stderr, "harness run: one grid at a time ('%s' and '%s')\n", o->gpath, a);
            return 2;
        }
    }
    if (!o->gpath) { fprintf(stderr, "usage: harness run GRID [-j N] [--results DIR] [--slice I/N]\n"); return 2; }
    int ncores = usable_cores();
    /* Default: one run per core, one thread each. Measured on the demo grid's two arms (2-core
     * EPYC, README "Speed"): -j 2 finished them in 137 s against 147 s for -j 1 (2 threads
     * per run), and keeps both cores busy through a long grid, where -j 1 leaves the second
     * thread idle in the serial parts of a step and of decoding. */
    if (o->jobs == 0) o->jobs = ncores;
    if (o->jobs > ncores) {
        fprintf(stderr, "harness run: warning: -j %d is more than the %d core%s this process may use; running %d at "
                "a time\n", o->jobs, ncores, ncores == 1 ? "" : "s", ncores);
        o->jobs = ncores;
    }
    const char *tid = getenv("SLURM_ARRAY_TASK_ID"), *tcount = getenv("SLURM_ARRAY_TASK_COUNT");
    if (o->slice_n == 1 && tid && tcount && atoi(tcount) > 1) {
        o->slice_i = atoi(tid);
        o->slice_n = atoi(tcount);
    }
    return -1;
}

/* Copy run gr from the grid ix says recorded it (--reuse), under this grid's lock of the
 * run. Returns 1 when reused, 0 when not (not found, locked by another harness run, or an
 * error, reported on stderr: the run is then trained). */
static int reuse_one(const ReuseIndex *ix, const RunOpts *o, Grid *g, const GridRun *gr, const char *gdir,
                     const char *csv) {
    int src = reuse_lookup(ix, o->results, gr->run_id, &g->hashes);
    if (src < 0) return 0;
    char dir[1200], err[1024];
    snprintf(dir, sizeof dir, "%s/runs/%s", gdir, gr->run_id);
    if (mkdir_p(dir)) return 0;
    int fd = claim_run(dir, csv, gr->run_id, &g->hashes);
    if (fd < 0) return 0;
    int rc = reuse_copy(ix, src, o->results, gr->run_id, g->name, gr->arm, dir, csv, err, sizeof err);
    close(fd);
    if (rc) {
        fprintf(stderr, "harness run: reusing %s from grid %s: %s; training it instead\n", gr->run_id, ix->grid[src], err);
        return 0;
    }
    fprintf(stderr, "  reused   %s  %-10s seed %-6llu (recorded by grid %s)\n", gr->run_id, gr->arm,
            (unsigned long long)gr->cfg.seed, ix->grid[src]);
    return 1;
}

/* The runs of this slice still to train, into todo (*ntodo of them): not recorded ok or
 * diverged with unchanged data, and not reused from another grid (--reuse, not with
 * --dry-run, which marks them instead). Prints the plan line. Returns the number of runs
 * of this slice. */
static int plan_runs(Grid *g, const RunOpts *o, const Table *t, const char *gdir, const char *csv, int threads,
                     int *todo, int *ntodo, int *reused_from) {
    int nmine = 0, ndone = 0, nchanged = 0, nreused = 0;
    ReuseIndex ix = {0};
    char err[1024];
    if (o->reuse && reuse_index_load(o->results, g->name, &ix, err, sizeof err))
        fprintf(stderr, "harness run: --reuse: %s\n", err);
    *ntodo = 0;
    for (int r = 0; r < g->nruns; r++) {
        if (r % o->slice_n != o->slice_i) continue;
        nmine++;
        GridRun *gr = &g->runs[r];
        char why[512];
        reused_from[r] = -1;
        if (record_run_done(t, gr->run_id, &g->hashes, why, sizeof why)) { ndone++; continue; }
        if (o->reuse && o->dry && (reused_from[r] = reuse_lookup(&ix, o->results, gr->run_id, &g->hashes)) >= 0) {
            nreused++;
            continue;
        }
        if (o->reuse && !o->dry && reuse_one(&ix, o, g, gr, gdir, csv)) { nreused++; continue; }
        if (why[0]) { /* recorded, but its data changed since: run it again; its new row supersedes the old */
            fprintf(stderr, "  rerun    %s  %-10s seed %-6llu %s\n", gr->run_id, gr->arm,
                    (unsigned long long)gr->cfg.seed, why);
            nchanged++;
        }
        todo[(*ntodo)++] = r;
    }
    if (o->dry)
        for (int r = 0; r < g->nruns; r++)
            if (r % o->slice_n == o->slice_i && reused_from[r] >= 0)
                printf("%s %s cell %d seed %llu reuse %s\n", g->runs[r].run_id, g->runs[r].arm, g->runs[r].cell,
                       (unsigned long long)g->runs[r].cfg.seed, ix.grid[reused_from[r]]);
    reuse_index_free(&ix);
    char reused[96] = "", changed[96] = "";
    if (nreused) snprintf(reused, sizeof reused, ", %d %sreused from other grids", nreused, o->dry ? "to be " : "");
    if (nchanged) snprintf(changed, sizeof changed, " (%d because their data changed)", nchanged);
    fprintf(stderr, "grid %s: %d runs (%d cells x seeds)%s; %d already recorded%s, %d to run%s, %d at a time, %d thread%s each\n",
            g->name, nmine, g->ncells, o->slice_n > 1 ? " in this slice" : "", ndone, reused, *ntodo, changed, o->jobs,
            threads, threads > 1 ? "s" : "");
    return nmine;
}

/* Scheduling state of one harness run. */
typedef struct Sched {
    Grid *g;
    const RunOpts *o;
    const char *self, *gdir, *csv;
    int *todo, ntodo, next, running, threads;
    int nok, nfail, ndiv, nskip, finished, tty;
    Slot *slots;
    double t_start, *done_dur; /* seconds of runs finished here, 0 = not */
} Sched;

/* Start the next runs until every slot is busy. Returns -1 on a fatal error (g_stop set). */
static int fill_slots(Sched *S) {
    while (S->running < S->o->jobs && S->next < S->ntodo && !g_stop) {
        GridRun *gr = &S->g->runs[S->todo[S->next]];
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/runs/%s", S->gdir, gr->run_id);
        if (mkdir_p(dir)) {
            fprintf(stderr, "harness run: %s: cannot create: %s\n", dir, strerror(errno));
            g_stop = 1;
            return -1;
        }
        int s = 0;
        while (S->slots[s].pid) s++;
        int lock_fd = claim_run(dir, S->csv, gr->run_id, &S->g->hashes);
        if (lock_fd < 0) { /* another harness run has it, or finished it */
            fprintf(stderr, "%s  skipped  %s  (running or recorded by another harness run)\n", S->tty ? "\r\033[K" : "",
                    gr->run_id);
            S->nskip++;
            S->next++;
            continue;
        }
        Slot *sl = &S->slots[s];
        sl->lock_fd = lock_fd;
        sl->run = S->todo[S->next];
        sl->t0 = now_seconds();
        iso_time_now(sl->start, sizeof sl->start);
        sl->pid = spawn(S->self, S->o->results, S->g, gr, S->threads, dir, &sl->cmdline);
        int flags = fcntl(lock_fd, F_GETFD); /* later children must not inherit it */
        if (flags >= 0) fcntl(lock_fd, F_SETFD, flags | FD_CLOEXEC);
        if (sl->pid < 0) {
            close(lock_fd);
            free(sl->cmdline);
            sl->cmdline = NULL;
            fprintf(stderr, "harness run: fork failed: %s\n", strerror(errno));
            sl->pid = 0;
            g_stop = 1;
            return -1;
        }
        S->running++;
        S->next++;
    }
    return 0;
}

/* Record failed run gr here (the child did not: killed, crashed, or it could not start),
 * its error column `why`, its command line the child's. */
static void record_failure(Sched *S, const Slot *sl, const GridRun *gr, const char *why) {
    TrainResult res = {0};
    snprintf(res.status, sizeof res.status, "failed");
    snprintf(res.message, sizeof res.message, "%s", why);
    char end[32], err[1024];
    iso_time_now(end, sizeof end);
    Provenance *p = malloc(sizeof *p);
    if (p) {
        provenance_get(p);
        snprintf(p->command_line, sizeof p->command_line, "%s", sl->cmdline ? sl->cmdline : "");
    }
    if (record_run(S->csv, S->g->name, gr->arm, &gr->cfg, &res, sl->start, end, NULL, p, &S->g->hashes, err,
                   sizeof err))
        fprintf(stderr, "\nharness run: recording the failed run %s: %s\n", gr->run_id, err);
    free(p);
}

/* Account for child pid's exit: counts, a failure row when the child could not write
 * one, the run's line, and for a failed run its reason (exit status or signal, and the
 * last error line of its log.txt). */
static void reap(Sched *S, pid_t pid, int status) {
    int s = 0;
    while (s < S->o->jobs && S->slots[s].pid != pid) s++;
    if (s == S->o->jobs) return;
    Slot *sl = &S->slots[s];
    GridRun *gr = &S->g->runs[sl->run];
    double dur = now_seconds() - sl->t0;
    const char *what;
    char log[1300], why[1024] = "";
    snprintf(log, sizeof log, "%s/runs/%s/log.txt", S->gdir, gr->run_id);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) { S->nok++; what = "ok"; }
    else if (WIFEXITED(status) && WEXITSTATUS(status) == 3) { S->ndiv++; what = "diverged"; }
    else {
        S->nfail++;
        what = "failed";
        failure_reason(status, log, why, sizeof why);
        /* exit 1: the child recorded its failure; a signal or any other code: record it here */
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 1) && !g_stop) record_failure(S, sl, gr, why);
    }
    S->done_dur[sl->run] = dur;
    S->finished++;
    sl->pid = 0;
    close(sl->lock_fd);
    free(sl->cmdline);
    sl->cmdline = NULL;
    S->running--;
    char d[32];
    fmt_duration(dur, d, sizeof d);
    if (S->tty) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "  %-8s %s  %-10s seed %-6llu %s  (%s)\n", what, gr->run_id, gr->arm,
            (unsigned long long)gr->cfg.seed, d, log);
    if (why[0]) fprintf(stderr, "           why: %s\n", why);
}

static void draw_progress(const Sched *S, double now) {
    char e1[32], e2[32];
    fmt_duration(now - S->t_start, e1, sizeof e1);
    fmt_duration(grid_eta(S->g, S->todo, S->ntodo, S->next, S->slots, S->o->jobs, S->done_dur, S->gdir, now), e2,
                 sizeof e2);
    fprintf(stderr, "%s[%s] %d/%d done (ok %d, failed %d, diverged %d) | running %d | elapsed %s | ETA %s%s",
            S->tty ? "\r\033[K" : "", S->g->name, S->finished + S->nskip, S->ntodo, S->nok, S->nfail, S->ndiv,
            S->running, e1, e2, S->tty ? "" : "\n");
    fflush(stderr);
}

/* Run S->todo, S->o->jobs at a time, until done or interrupted (SIGINT, SIGTERM). */
static void schedule(Sched *S) {
    double last_draw = 0;
    int need_draw = 1;
    while ((S->next < S->ntodo || S->running > 0) && !g_stop) {
        if (fill_slots(S)) break;
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            reap(S, pid, status);
            need_draw = 1;
            continue; /* refill the free slot before drawing */
        } else if (pid < 0 && errno != EINTR && S->running > 0) {
            break;
        }
        double now = now_seconds();
        if ((S->tty && now - last_draw >= 1.0) || need_draw) {
            draw_progress(S, now);
            last_draw = now;
            need_draw = 0;
        }
        if (pid == 0) usleep(100000);
    }
    if (g_stop) {
        for (int s = 0; s < S->o->jobs; s++)
            if (S->slots[s].pid) kill(S->slots[s].pid, SIGTERM);
        for (int s = 0; s < S->o->jobs; s++)
            if (S->slots[s].pid) {
                waitpid(S->slots[s].pid, NULL, 0);
                free(S->slots[s].cmdline);
            }
        fprintf(stderr, "\nharness run: interrupted; %d run(s) stopped unrecorded; rerun the same command to resume\n",
                S->running);
    } else {
        if (S->tty) fprintf(stderr, "\n");
        char e1[32];
        fmt_duration(now_seconds() - S->t_start, e1, sizeof e1);
        fprintf(stderr, "grid %s: %d ok, %d failed, %d diverged, %d skipped in %s; results in %s\n", S->g->name, S->nok,
                S->nfail, S->ndiv, S->nskip, e1, S->csv);
    }
}

int cmd_run(int argc, char **argv, const char *argv0) {
    RunOpts o;
    int rc = parse_run_args(argc, argv, &o);
    if (rc >= 0) return rc;
    char err[1024];
    Grid g;
    if (grid_parse_file(o.gpath, &g, err, sizeof err)) { fprintf(stderr, "harness run: %s\n", err); return 1; }
    for (int r = 0; o.probe && r < g.nruns; r++) g.runs[r].cfg.probe = 1; /* not in the identity: run_ids stay */
    char gdir[1024], csv[1100];
    snprintf(gdir, sizeof gdir, "%s/%s", o.results, g.name);
    snprintf(csv, sizeof csv, "%s/runs.csv", gdir);
    Table t;
    if (store_read(csv, &t, err, sizeof err)) {
        fprintf(stderr, "harness run: %s\n", err);
        grid_free(&g);
        return 1;
    }
    if (t.skipped) fprintf(stderr, "harness run: %s: ignoring %d malformed or partial line(s)\n", csv, t.skipped);
    int ncores = usable_cores(), threads = ncores / o.jobs > 0 ? ncores / o.jobs : 1;
    int *todo = malloc((size_t)g.nruns * sizeof(int)), *reused_from = malloc((size_t)g.nruns * sizeof(int)), ntodo;
    plan_runs(&g, &o, &t, gdir, csv, threads, todo, &ntodo, reused_from);
    free(reused_from);
    table_free(&t);
    int nprobe_fail = 0;
    if (!o.dry && store_read(csv, &t, err, sizeof err) == 0) { /* again: reused rows may lack their probe */
        nprobe_fail = probe_recorded(&g, &t, gdir, o.slice_i, o.slice_n, ncores);
        table_free(&t);
    }
    if (nprobe_fail) fprintf(stderr, "grid %s: %d probe(s) of recorded runs failed\n", g.name, nprobe_fail);
    if (ntodo == 0 || o.dry) {
        if (ntodo == 0) fprintf(stderr, "grid %s: nothing to do: every run is recorded in %s\n", g.name, csv);
        for (int k = 0; k < ntodo; k++) {
            GridRun *gr = &g.runs[todo[k]];
            printf("%s %s cell %d seed %llu\n", gr->run_id, gr->arm, gr->cell, (unsigned long long)gr->cfg.seed);
        }
        free(todo);
        grid_free(&g);
        return nprobe_fail ? 1 : 0;
    }
    char self[1024];
    self_path(argv0, self, sizeof self);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    Sched S = {.g = &g, .o = &o, .self = self, .gdir = gdir, .csv = csv, .todo = todo, .ntodo = ntodo,
               .threads = threads, .tty = isatty(2), .t_start = now_seconds()};
    S.slots = calloc((size_t)o.jobs, sizeof *S.slots);
    S.done_dur = calloc((size_t)g.nruns, sizeof *S.done_dur);
    schedule(&S);
    free(S.slots);
    free(S.done_dur);
    free(todo);
    grid_free(&g);
    return g_stop ? 130 : (S.nfail || nprobe_fail ? 1 : 0);
}
