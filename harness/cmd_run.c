/* harness run: schedule a grid's runs as child processes (`harness train`),
 * N at a time, skipping runs already recorded, with a progress line. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
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
#include "fsutil.h"
#include "grid.h"
#include "probe_run.h"
#include "provenance.h"
#include "record.h"
#include "store.h"
#include "train.h"

typedef struct Slot {
    pid_t pid;
    int lock_fd;     /* flock on runs/<run_id>/lock, held while the run is ours */
    int run;         /* index into the grid's runs */
    double t0;
    char start[32];
} Slot;

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

/* Start `self train ...` for run gr; its stdout and stderr go to log.txt. */
static pid_t spawn(const char *self, const char *results, Grid *g, const GridRun *gr, int threads,
                   const char *dir) {
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
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) { close(fd); return -1; }
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

int cmd_run(int argc, char **argv, const char *argv0) {
    const char *gpath = NULL, *results = "results";
    int jobs = 1, dry = 0, slice_i = 0, slice_n = 1, probe = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-j") || !strcmp(a, "--jobs")) {
            if (i + 1 >= argc || (jobs = atoi(argv[i + 1])) < 1) {
                fprintf(stderr, "harness run: %s needs a positive number\n", a);
                return 2;
            }
            i++;
        } else if (!strncmp(a, "-j", 2) && a[2]) {
            if ((jobs = atoi(a + 2)) < 1) { fprintf(stderr, "harness run: -jN needs a positive N\n"); return 2; }
        } else if (!strcmp(a, "--results")) {
            if (i + 1 >= argc) { fprintf(stderr, "harness run: --results needs a directory\n"); return 2; }
            results = argv[++i];
        } else if (!strcmp(a, "--slice")) {
            if (i + 1 >= argc || sscanf(argv[i + 1], "%d/%d", &slice_i, &slice_n) != 2 || slice_n < 1 ||
                slice_i < 0 || slice_i >= slice_n) {
                fprintf(stderr, "harness run: --slice needs I/N with 0 <= I < N\n");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--dry-run")) {
            dry = 1;
        } else if (!strcmp(a, "--probe")) {
            probe = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: harness run GRID [-j N] [--results DIR] [--slice I/N] [--dry-run] [--probe]\n"
                   "  Runs every (cell x seed) of GRID not yet recorded with status ok or diverged in\n"
                   "  DIR/<grid>/runs.csv (DIR defaults to results), N at a time, the cores split between\n"
                   "  them. --slice I/N runs only the runs whose index %% N == I (a SLURM array task: by\n"
                   "  default SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT). --dry-run lists the runs.\n"
                   "  A recorded run whose train or test data file changed since (its train_sha256 or\n"
                   "  test_sha256 differs from the file's now) is run again; its new row supersedes the old.\n"
                   "  --probe (or probe = 1 in the grid): probe every run after training (harness probe) and\n"
                   "  record Table 10's numbers in runs.csv; runs recorded without them are probed first.\n");
            return 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "harness run: unknown option '%s'\n", a);
            return 2;
        } else if (!gpath) {
            gpath = a;
        } else {
            fprintf(stderr, "harness run: one grid at a time ('%s' and '%s')\n", gpath, a);
            return 2;
        }
    }
    if (!gpath) { fprintf(stderr, "usage: harness run GRID [-j N] [--results DIR] [--slice I/N]\n"); return 2; }
    const char *tid = getenv("SLURM_ARRAY_TASK_ID"), *tcount = getenv("SLURM_ARRAY_TASK_COUNT");
    if (slice_n == 1 && tid && tcount && atoi(tcount) > 1) {
        slice_i = atoi(tid);
        slice_n = atoi(tcount);
    }
    char err[1024];
    Grid g;
    if (grid_parse_file(gpath, &g, err, sizeof err)) { fprintf(stderr, "harness run: %s\n", err); return 1; }
    for (int r = 0; probe && r < g.nruns; r++) g.runs[r].cfg.probe = 1; /* not in the identity: run_ids stay */
    char gdir[1024], csv[1100];
    snprintf(gdir, sizeof gdir, "%s/%s", results, g.name);
    snprintf(csv, sizeof csv, "%s/runs.csv", gdir);
    Table t;
    if (store_read(csv, &t, err, sizeof err)) {
        fprintf(stderr, "harness run: %s\n", err);
        grid_free(&g);
        return 1;
    }
    if (t.skipped) fprintf(stderr, "harness run: %s: ignoring %d malformed or partial line(s)\n", csv, t.skipped);
    int *todo = malloc((size_t)g.nruns * sizeof(int)), ntodo = 0, nmine = 0, ndone_before = 0, nchanged = 0;
    for (int r = 0; r < g.nruns; r++) {
        if (r % slice_n != slice_i) continue;
        nmine++;
        char why[512];
        if (record_run_done(&t, g.runs[r].run_id, &g.hashes, why, sizeof why)) {
            ndone_before++;
            continue;
        }
        if (why[0]) { /* recorded, but its data changed since: run it again; its new row supersedes the old */
            fprintf(stderr, "  rerun    %s  %-10s seed %-6llu %s\n", g.runs[r].run_id, g.runs[r].arm,
                    (unsigned long long)g.runs[r].cfg.seed, why);
            nchanged++;
        }
        todo[ntodo++] = r;
    }
    int ncores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    int threads = ncores / jobs > 0 ? ncores / jobs : 1;
    int nprobe_fail = dry ? 0 : probe_recorded(&g, &t, gdir, slice_i, slice_n, ncores);
    if (nprobe_fail) fprintf(stderr, "grid %s: %d probe(s) of recorded runs failed\n", g.name, nprobe_fail);
    table_free(&t);
    char changed[96] = "";
    if (nchanged) snprintf(changed, sizeof changed, " (%d because their data changed)", nchanged);
    fprintf(stderr, "grid %s: %d runs (%d cells x seeds)%s; %d already recorded, %d to run%s, %d at a time, %d thread%s each\n",
            g.name, nmine, g.ncells, slice_n > 1 ? " in this slice" : "", ndone_before, ntodo, changed, jobs, threads,
            threads > 1 ? "s" : "");
    if (ntodo == 0) {
        fprintf(stderr, "grid %s: nothing to do: every run is recorded in %s\n", g.name, csv);
        free(todo);
        grid_free(&g);
        return nprobe_fail ? 1 : 0;
    }
    if (dry) {
        for (int k = 0; k < ntodo; k++) {
            GridRun *gr = &g.runs[todo[k]];
            printf("%s %s cell %d seed %llu\n", gr->run_id, gr->arm, gr->cell, (unsigned long long)gr->cfg.seed);
        }
        free(todo);
        grid_free(&g);
        return 0;
    }
    char self[1024];
    self_path(argv0, self, sizeof self);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    Slot *slots = calloc((size_t)jobs, sizeof *slots);
    int next = 0, running = 0, nok = 0, nfail = 0, ndiv = 0, nskip = 0, finished = 0, tty = isatty(2);
    double t_start = now_seconds(), last_draw = 0;
    double *done_dur = calloc((size_t)g.nruns, sizeof *done_dur); /* seconds of runs finished here, 0 = not */
    int need_draw = 1;
    while ((next < ntodo || running > 0) && !g_stop) {
        while (running < jobs && next < ntodo && !g_stop) {
            GridRun *gr = &g.runs[todo[next]];
            char dir[1200];
            snprintf(dir, sizeof dir, "%s/runs/%s", gdir, gr->run_id);
            if (mkdir_p(dir)) {
                fprintf(stderr, "harness run: %s: cannot create: %s\n", dir, strerror(errno));
                g_stop = 1;
                break;
            }
            int s = 0;
            while (slots[s].pid) s++;
            int lock_fd = claim_run(dir, csv, gr->run_id, &g.hashes);
            if (lock_fd < 0) { /* another harness run has it, or finished it */
                fprintf(stderr, "%s  skipped  %s  (running or recorded by another harness run)\n", tty ? "\r\033[K" : "",
                        gr->run_id);
                nskip++;
                next++;
                continue;
            }
            slots[s].lock_fd = lock_fd;
            slots[s].run = todo[next];
            slots[s].t0 = now_seconds();
            iso_time_now(slots[s].start, sizeof slots[s].start);
            slots[s].pid = spawn(self, results, &g, gr, threads, dir);
            int flags = fcntl(lock_fd, F_GETFD); /* later children must not inherit it */
            if (flags >= 0) fcntl(lock_fd, F_SETFD, flags | FD_CLOEXEC);
            if (slots[s].pid < 0) {
                close(lock_fd);
                fprintf(stderr, "harness run: fork failed: %s\n", strerror(errno));
                slots[s].pid = 0;
                g_stop = 1;
                break;
            }
            running++;
            next++;
        }
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            int s = 0;
            while (s < jobs && slots[s].pid != pid) s++;
            if (s == jobs) continue;
            GridRun *gr = &g.runs[slots[s].run];
            double dur = now_seconds() - slots[s].t0;
            const char *what;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) { nok++; what = "ok"; }
            else if (WIFEXITED(status) && WEXITSTATUS(status) == 3) { ndiv++; what = "diverged"; }
            else {
                nfail++;
                what = "failed";
                /* exit 1: the child recorded its failure; a signal or any other code: record it here */
                if (!(WIFEXITED(status) && WEXITSTATUS(status) == 1) && !g_stop) {
                    TrainResult res = {0};
                    snprintf(res.status, sizeof res.status, "failed");
                    char end[32];
                    iso_time_now(end, sizeof end);
                    if (record_run(csv, g.name, gr->arm, &gr->cfg, &res, slots[s].start, end, NULL, &g.hashes, err, sizeof err))
                        fprintf(stderr, "\nharness run: recording the failed run %s: %s\n", gr->run_id, err);
                }
            }
            done_dur[slots[s].run] = dur;
            finished++;
            slots[s].pid = 0;
            close(slots[s].lock_fd);
            running--;
            char d[32];
            fmt_duration(dur, d, sizeof d);
            if (tty) fprintf(stderr, "\r\033[K");
            fprintf(stderr, "  %-8s %s  %-10s seed %-6llu %s  (%s/runs/%s/log.txt)\n", what, gr->run_id, gr->arm,
                    (unsigned long long)gr->cfg.seed, d, gdir, gr->run_id);
            need_draw = 1;
            continue; /* refill the free slot before drawing */
        } else if (pid < 0 && errno != EINTR && running > 0) {
            break;
        }
        double now = now_seconds();
        if ((tty && now - last_draw >= 1.0) || need_draw) {
            double el = now - t_start;
            double eta = grid_eta(&g, todo, ntodo, next, slots, jobs, done_dur, gdir, now);
            char e1[32], e2[32];
            fmt_duration(el, e1, sizeof e1);
            fmt_duration(eta, e2, sizeof e2);
            {
                fprintf(stderr, "%s[%s] %d/%d done (ok %d, failed %d, diverged %d) | running %d | elapsed %s | ETA %s%s",
                        tty ? "\r\033[K" : "", g.name, finished + nskip, ntodo, nok, nfail, ndiv, running, e1, e2,
                        tty ? "" : "\n");
                fflush(stderr);
            }
            last_draw = now;
            need_draw = 0;
        }
        if (pid == 0) usleep(100000);
    }
    if (g_stop) {
        for (int s = 0; s < jobs; s++)
            if (slots[s].pid) kill(slots[s].pid, SIGTERM);
        for (int s = 0; s < jobs; s++)
            if (slots[s].pid) waitpid(slots[s].pid, NULL, 0);
        fprintf(stderr, "\nharness run: interrupted; %d run(s) stopped unrecorded; rerun the same command to resume\n",
                running);
    } else {
        if (tty) fprintf(stderr, "\n");
        char e1[32];
        fmt_duration(now_seconds() - t_start, e1, sizeof e1);
        fprintf(stderr, "grid %s: %d ok, %d failed, %d diverged, %d skipped in %s; results in %s\n", g.name, nok, nfail,
                ndiv, nskip, e1, csv);
    }
    free(slots);
    free(done_dur);
    free(todo);
    grid_free(&g);
    return g_stop ? 130 : (nfail || nprobe_fail ? 1 : 0);
}
