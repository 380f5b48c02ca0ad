/* harness slurm: write a grid's sbatch array script (slurm.h) into
 * <results>/<grid>/slurm/submit.sh and submit it with sbatch. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "fsutil.h"
#include "grid.h"
#include "provenance.h"
#include "slurm.h"

typedef struct SlurmArgs {
    const char *gpath, *partition, *time_limit, *results;
    int tasks, cpus, dry;
} SlurmArgs;

static void slurm_usage(FILE *f) {
    fprintf(f,
            "usage: harness slurm GRID [--tasks N] [--partition P] [--time T] [--cpus-per-task C]\n"
            "                          [--results DIR] [--dry-run]\n"
            "  Writes DIR/<grid>/slurm/submit.sh (DIR defaults to results), an sbatch array of N tasks\n"
            "  (default: one per run, at most 1000), each running `harness run GRID --slice I/N` into\n"
            "  DIR/<grid>/runs.csv, and submits it with sbatch from this directory (data/ and models/\n"
            "  resolve here); prints the job id. C cores per task (default 2). --time: sbatch's time\n"
            "  limit per task (e.g. 4:00:00). Task logs: DIR/<grid>/slurm/<job>_<task>.out.\n"
            "  --dry-run prints the script and the sbatch command and submits nothing.\n"
            "  Follow the grid with: harness status GRID [--results DIR]\n");
}

static int positive(const char *opt, const char *v, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < 1 || x > 1000000) {
        fprintf(stderr, "harness slurm: %s needs a positive integer, not '%s'\n", opt, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

/* Returns -1 to go on, else the exit code. */
static int parse_slurm_args(int argc, char **argv, SlurmArgs *a) {
    *a = (SlurmArgs){.results = "results", .cpus = 2};
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) { slurm_usage(stdout); return 0; }
        else if (!strcmp(s, "--dry-run")) a->dry = 1;
        else if (!strcmp(s, "--tasks") && more) { if (positive(s, argv[++i], &a->tasks)) return 2; }
        else if (!strcmp(s, "--cpus-per-task") && more) { if (positive(s, argv[++i], &a->cpus)) return 2; }
        else if (!strcmp(s, "--partition") && more) a->partition = argv[++i];
        else if (!strcmp(s, "--time") && more) a->time_limit = argv[++i];
        else if (!strcmp(s, "--results") && more) a->results = argv[++i];
        else if (s[0] == '-') {
            fprintf(stderr, "harness slurm: unknown option or missing value: '%s'\n", s);
            slurm_usage(stderr);
            return 2;
        } else if (!a->gpath) a->gpath = s;
        else { fprintf(stderr, "harness slurm: one grid at a time ('%s' and '%s')\n", a->gpath, s); return 2; }
    }
    if (!a->gpath) { slurm_usage(stderr); return 2; }
    return -1;
}

/* Write script to path (mode 0755). */
static int write_script(const char *path, const char *script) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(script, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "harness slurm: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    chmod(path, 0755);
    return 0;
}

/* sbatch --parsable script; prints the job id and records it in <slurm dir>/jobs.txt. */
static int submit(const char *sdir, const char *script, const SlurmOpts *so, int nruns) {
    char sbatch[PATH_MAX], out[4096], errtxt[8192];
    if (slurm_find("sbatch", sbatch, sizeof sbatch)) {
        fprintf(stderr, "harness slurm: sbatch not found in PATH: is this a SLURM submit host? The script is %s "
                        "(--dry-run prints it without submitting)\n", script);
        return 1;
    }
    char *argv[] = {sbatch, "--parsable", (char *)script, NULL};
    int st;
    if (slurm_capture(argv, out, sizeof out, errtxt, sizeof errtxt, &st)) {
        fprintf(stderr, "harness slurm: cannot run %s: %s\n", sbatch, strerror(errno));
        return 1;
    }
    long job = strtol(out, NULL, 10); /* "123" or "123;cluster" */
    if (st != 0 || job <= 0) {
        fprintf(stderr, "harness slurm: sbatch failed (exit %d): %s%s%s\n", st, errtxt[0] ? errtxt : "(no message)",
                out[0] ? "; it printed: " : "", out);
        return 1;
    }
    printf("job %ld: %d array tasks of grid %s (%d runs), %d cores each; logs in %s/%ld_<task>.out\n", job, so->tasks,
           so->grid_name, nruns, so->cpus_per_task, sdir, job);
    printf("follow it with: harness status %s --results %s\n", so->grid_path, so->results);
    char jobs[PATH_MAX + 16], now[32];
    snprintf(jobs, sizeof jobs, "%.*s/jobs.txt", PATH_MAX - 1, sdir);
    iso_time_now(now, sizeof now);
    FILE *f = fopen(jobs, "a");
    if (f) { fprintf(f, "%ld\t%s\t%d tasks\n", job, now, so->tasks); fclose(f); }
    return 0;
}

int cmd_slurm(int argc, char **argv) {
    SlurmArgs a;
    int rc = parse_slurm_args(argc, argv, &a);
    if (rc >= 0) return rc;
    char err[1024], results[PATH_MAX], self[PATH_MAX], cwd[PATH_MAX], sdir[PATH_MAX + 300], script[PATH_MAX + 320];
    Grid g;
    if (grid_parse_file(a.gpath, &g, err, sizeof err)) { fprintf(stderr, "harness slurm: %s\n", err); return 1; }
    int nruns = g.nruns, tasks = a.tasks ? a.tasks : (nruns < 1000 ? nruns : 1000);
    if (tasks > nruns) {
        fprintf(stderr, "harness slurm: %d tasks for %d runs: using %d (one run each)\n", tasks, nruns, nruns);
        tasks = nruns;
    }
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0 || !getcwd(cwd, sizeof cwd) || mkdir_p(a.results) || !realpath(a.results, results)) {
        fprintf(stderr, "harness slurm: %s: %s\n", a.results, strerror(errno));
        grid_free(&g);
        return 1;
    }
    self[len] = 0;
    SlurmOpts so = {a.gpath, g.name, results, self, cwd, a.partition, a.time_limit, tasks, a.cpus};
    char text[16384];
    snprintf(sdir, sizeof sdir, "%s/%s/slurm", results, g.name);
    snprintf(script, sizeof script, "%s/submit.sh", sdir);
    if (slurm_script(&so, text, sizeof text, err, sizeof err)) rc = (fprintf(stderr, "harness slurm: %s\n", err), 1);
    else if (a.dry) {
        fputs(text, stdout);
        printf("\n# would run: sbatch --parsable %s   (from %s; %d runs over %d tasks)\n", script, cwd, nruns, tasks);
        rc = 0;
    } else if (mkdir_p(sdir)) rc = (fprintf(stderr, "harness slurm: %s: %s\n", sdir, strerror(errno)), 1);
    else rc = write_script(script, text) ? 1 : submit(sdir, script, &so, nruns);
    grid_free(&g);
    return rc;
}
