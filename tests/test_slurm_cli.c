/* harness slurm and harness status without a cluster: the sbatch script, a
 * dry run, sbatch missing or failing (a fake sbatch in PATH), a submission,
 * and every run state of harness status (a held lock file, a fake squeue).
 * tests/slurm/test_slurm.sh runs them against a real SLURM. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "grid.h"
#include "slurm.h"
#include "store.h"

static void write_file(const char *path, const char *text, int mode) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
    chmod(path, (mode_t)mode);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static const char *GRID = "dataset = synth\nmodel = pico\nepochs = 1\ntrain_limit = 16\ntest_limit = 4\n"
                          "seeds = 82, 23\n[baseline]\nloss = ntp\n[jepa]\nloss = jepa\n";

typedef struct Dir { char dir[64], grid[128], res[128], bin[128], out[128], err[128]; } Dir;

/* A temporary directory with tiny.grid, results/ and bin/ (for fake SLURM programs). */
static void make_dir(Dir *d) {
    snprintf(d->dir, sizeof d->dir, "/tmp/jepa_slurm_XXXXXX");
    cr_assert_not_null(mkdtemp(d->dir));
    snprintf(d->grid, sizeof d->grid, "%s/tiny.grid", d->dir);
    snprintf(d->res, sizeof d->res, "%s/results", d->dir);
    snprintf(d->bin, sizeof d->bin, "%s/bin", d->dir);
    snprintf(d->out, sizeof d->out, "%s/out", d->dir);
    snprintf(d->err, sizeof d->err, "%s/err", d->dir);
    write_file(d->grid, GRID, 0644);
    cr_assert_eq(mkdir_p(d->bin), 0);
}

/* Run `harness ARGS` with PATH=path (NULL: unchanged), stdout/stderr to d->out/d->err. */
static int harness(const Dir *d, const char *path, const char *args) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s%s%s %s %s >%s 2>%s", path ? "PATH='" : "", path ? path : "", path ? "' " : "",
             HARNESS_BIN, args, d->out, d->err);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void cleanup(const Dir *d) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", d->dir);
    cr_expect_eq(system(cmd), 0);
}

Test(slurm, script_has_the_array_and_the_slice) {
    SlurmOpts o = {"grids/x.grid", "x", "/r", "/b/harness", "/w", "short", "2:00:00", 4, 3};
    char buf[4096], err[256];
    cr_assert_eq(slurm_script(&o, buf, sizeof buf, err, sizeof err), 0, "%s", err);
    cr_expect(strstr(buf, "#SBATCH --array=0-3\n"), "%s", buf);
    cr_expect(strstr(buf, "#SBATCH --cpus-per-task=3\n"), "%s", buf);
    cr_expect(strstr(buf, "#SBATCH --partition=short\n"), "%s", buf);
    cr_expect(strstr(buf, "#SBATCH --time=2:00:00\n"), "%s", buf);
    cr_expect(strstr(buf, "#SBATCH --job-name=harness-x\n"), "%s", buf);
    cr_expect(strstr(buf, "#SBATCH --output=/r/x/slurm/%A_%a.out\n"), "%s", buf);
    cr_expect(strstr(buf, "cd '/w'\nexec '/b/harness' run 'grids/x.grid' --results '/r' -j 1 --slice "
                          "\"$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT\"\n"), "%s", buf);
    o.partition = o.time_limit = NULL;
    cr_assert_eq(slurm_script(&o, buf, sizeof buf, err, sizeof err), 0, "%s", err);
    cr_expect_null(strstr(buf, "--partition"));
    cr_expect_null(strstr(buf, "--time"));
    /* what a script cannot carry */
    o.workdir = "/it's";
    cr_expect_eq(slurm_script(&o, buf, sizeof buf, err, sizeof err), -1);
    cr_expect(strstr(err, "quote"), "%s", err);
    o.workdir = "/w";
    o.partition = "a b";
    cr_expect_eq(slurm_script(&o, buf, sizeof buf, err, sizeof err), -1);
    cr_expect(strstr(err, "--partition"), "%s", err);
    o.partition = NULL;
    cr_expect_eq(slurm_script(&o, buf, 64, err, sizeof err), -1);
    cr_expect(strstr(err, "does not fit"), "%s", err);
}

Test(slurm, dry_run_prints_and_submits_nothing) {
    Dir d;
    make_dir(&d);
    char args[512], path[256];
    snprintf(args, sizeof args, "slurm %s --results %s --tasks 3 --dry-run", d.grid, d.res);
    cr_assert_eq(harness(&d, NULL, args), 0);
    char *out = slurp(d.out);
    cr_expect(strstr(out, "#SBATCH --array=0-2") && strstr(out, "# would run: sbatch --parsable"), "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/tiny/slurm/submit.sh", d.res);
    cr_expect_neq(access(path, F_OK), 0, "a dry run wrote %s", path);
    /* more tasks than runs: one run each */
    snprintf(args, sizeof args, "slurm %s --results %s --tasks 9 --dry-run", d.grid, d.res);
    cr_assert_eq(harness(&d, NULL, args), 0);
    out = slurp(d.out);
    cr_expect(strstr(out, "#SBATCH --array=0-3\n"), "%s", out);
    free(out);
    cleanup(&d);
}

Test(slurm, sbatch_missing_or_failing_says_why) {
    Dir d;
    make_dir(&d);
    char args[512], fake[256];
    snprintf(args, sizeof args, "slurm %s --results %s", d.grid, d.res);
    cr_assert_eq(harness(&d, d.bin, args), 1); /* PATH holds no sbatch */
    char *err = slurp(d.err);
    cr_expect(strstr(err, "sbatch not found in PATH"), "%s", err);
    free(err);
    snprintf(fake, sizeof fake, "%s/sbatch", d.bin);
    /* its exit status counts, even after it printed something like a job id */
    write_file(fake, "#!/bin/sh\necho 4242\necho 'sbatch: error: invalid partition specified: nope' >&2\nexit 1\n", 0755);
    char path[512];
    snprintf(path, sizeof path, "%s:/usr/bin:/bin", d.bin);
    cr_assert_eq(harness(&d, path, args), 1);
    err = slurp(d.err);
    cr_expect(strstr(err, "sbatch failed (exit 1): sbatch: error: invalid partition specified: nope"), "%s", err);
    cr_expect(strstr(err, "it printed: 4242"), "%s", err);
    free(err);
    cleanup(&d);
}

Test(slurm, submits_the_script_and_prints_the_job_id) {
    Dir d;
    make_dir(&d);
    char args[512], fake[256], path[512], text[512];
    snprintf(fake, sizeof fake, "%s/sbatch", d.bin);
    snprintf(text, sizeof text, "#!/bin/sh\necho \"$@\" > %s/sbatch_args\necho '4242;cluster'\n", d.dir);
    write_file(fake, text, 0755);
    snprintf(path, sizeof path, "%s:/usr/bin:/bin", d.bin);
    snprintf(args, sizeof args, "slurm %s --results %s --tasks 2 --cpus-per-task 1", d.grid, d.res);
    cr_assert_eq(harness(&d, path, args), 0);
    char *out = slurp(d.out);
    cr_expect(strstr(out, "job 4242: 2 array tasks of grid tiny (4 runs)"), "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/sbatch_args", d.dir);
    out = slurp(path);
    cr_expect(strstr(out, "--parsable") && strstr(out, "/tiny/slurm/submit.sh"), "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/tiny/slurm/submit.sh", d.res);
    out = slurp(path);
    cr_expect(strstr(out, "#SBATCH --array=0-1\n") && strstr(out, "#SBATCH --cpus-per-task=1\n"), "%s", out);
    free(out);
    snprintf(path, sizeof path, "%s/tiny/slurm/jobs.txt", d.res);
    out = slurp(path);
    cr_expect(!strncmp(out, "4242\t", 5), "%s", out);
    free(out);
    cleanup(&d);
}

/* Append a row for run gr with status st to csv. */
static void record(const char *csv, const GridRun *gr, const char *st) {
    int n = store_columns(NULL);
    const char **v = calloc((size_t)n, sizeof *v);
    v[store_column_index("run_id")] = gr->run_id;
    v[store_column_index("arm")] = gr->arm;
    v[store_column_index("status")] = st;
    char err[256];
    cr_assert_eq(store_append(csv, v, n, err, sizeof err), 0, "%s", err);
    free(v);
}

Test(status, done_running_failed_pending_and_squeue) {
    Dir d;
    make_dir(&d);
    Grid g;
    char err[512], csv[256], lock[512], args[512], fake[256], path[512];
    cr_assert_eq(grid_parse_file(d.grid, &g, err, sizeof err), 0, "%s", err);
    cr_assert_eq(g.nruns, 4);
    snprintf(csv, sizeof csv, "%s/tiny/runs.csv", d.res);
    record(csv, &g.runs[0], "ok");
    record(csv, &g.runs[1], "failed");
    record(csv, &g.runs[2], "failed"); /* recorded failed, but being run again: running */
    snprintf(lock, sizeof lock, "%s/tiny/runs/%s", d.res, g.runs[2].run_id);
    cr_assert_eq(mkdir_p(lock), 0);
    strcat(lock, "/lock");
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    snprintf(fake, sizeof fake, "%s/squeue", d.bin);
    write_file(fake, "#!/bin/sh\necho '77_0|RUNNING|0:42|node1'\necho '77_1|PENDING|0:00|(Resources)'\n", 0755);
    snprintf(path, sizeof path, "%s:/usr/bin:/bin", d.bin);
    snprintf(args, sizeof args, "status %s --results %s", d.grid, d.res);
    cr_assert_eq(harness(&d, path, args), 0);
    char *out = slurp(d.out);
    cr_expect(strstr(out, "4 runs: 1 done (1 ok, 0 diverged), 1 running, 1 failed, 1 pending"), "%s", out);
    cr_expect(strstr(out, "| baseline | 2 | 1 | 0 | 1 | 0 |"), "%s", out);
    cr_expect(strstr(out, "| jepa | 2 | 0 | 1 | 0 | 1 |"), "%s", out);
    char line[256];
    snprintf(line, sizeof line, "| %s | jepa | 82 | running |", g.runs[2].run_id);
    cr_expect(strstr(out, line), "%s", out);
    snprintf(line, sizeof line, "| %s | jepa | 23 | pending |", g.runs[3].run_id);
    cr_expect(strstr(out, line), "%s", out);
    cr_expect(strstr(out, "| 77_0 | RUNNING | 0:42 | node1 |"), "%s", out);
    free(out);
    /* the lock let go: that run is failed again; the status probe took no lock of its own */
    close(fd);
    cr_assert_eq(harness(&d, "/nonexistent", args), 0); /* no squeue in PATH: no SLURM section */
    out = slurp(d.out);
    cr_expect(strstr(out, "0 running, 2 failed, 1 pending"), "%s", out);
    cr_expect_null(strstr(out, "SLURM"), "%s", out);
    free(out);
    grid_free(&g);
    cleanup(&d);
}
