/* The harness program end to end: resume after a kill, diverged runs,
 * command-line errors, harness loss. Runs the built `harness` binary. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "grid.h"
#include "hash.h"
#include "store.h"
#include "cpuinfo.h"

static const char *GRID =
    "# a tiny grid\n"
    "dataset = synth\n"
    "model = pico\n"
    "epochs = 1\n"
    "batch_size = 16\n"
    "train_limit = 96\n"
    "test_limit = 8\n"
    "max_new_tokens = 24\n"
    "epoch_eval_limit = 0\n"
    "seeds = 82, 23\n"
    "[baseline]\n"
    "loss = ntp\n"
    "[jepa]\n"
    "loss = jepa\n"
    "k = 1, 2\n";

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static int sh(const char *fmt, const char *a, const char *b) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int rows_in(const char *csv) {
    Table t;
    char err[256];
    if (store_read(csv, &t, err, sizeof err)) return -1;
    int n = t.nrows;
    table_free(&t);
    return n;
}

/* A temporary directory holding tiny.grid and a results/ folder. */
typedef struct GridDir { char dir[64], grid[600], res[600], csv[700]; } GridDir;

static void grid_dir(GridDir *d, const char *tag) {
    snprintf(d->dir, sizeof d->dir, "/tmp/jepa_%s_XXXXXX", tag);
    cr_assert_not_null(mkdtemp(d->dir));
    snprintf(d->grid, sizeof d->grid, "%s/tiny.grid", d->dir);
    snprintf(d->res, sizeof d->res, "%s/results", d->dir);
    snprintf(d->csv, sizeof d->csv, "%s/tiny/runs.csv", d->res);
    write_file(d->grid, GRID);
}

/* Start `harness run GRID -j 1 --results RES` in the background (stderr to
 * /dev/null), in a process group of its own when own_group. */
static pid_t start_run(const GridDir *d, int own_group) {
    pid_t pid = fork();
    if (pid == 0) {
        if (own_group) setpgid(0, 0);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl(HARNESS_BIN, HARNESS_BIN, "run", d->grid, "-j", "1", "--results", d->res, (char *)NULL);
        _exit(127);
    }
    if (own_group) setpgid(pid, pid);
    return pid;
}

Test(harness, resume_after_kill_and_partial_line, .timeout = 240) {
    GridDir d;
    grid_dir(&d, "resume");
    const char *dir = d.dir, *grid = d.grid, *res = d.res, *csv = d.csv;
    /* Start the grid, kill the whole process group once a row is recorded. */
    pid_t pid = start_run(&d, 1);
    time_t t0 = time(NULL);
    while (rows_in(csv) < 1 && time(NULL) - t0 < 120) usleep(50000);
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    int before = rows_in(csv);
    cr_assert(before >= 1 && before < 6, "killed grid recorded %d rows", before);
    /* A killed writer's partial last line must be ignored, not fatal. */
    FILE *f = fopen(csv, "a");
    fputs("deadbeefdeadbeef,tiny,jepa,nano,syn", f);
    fclose(f);
    cr_assert_eq(sh(HARNESS_BIN " run %s -j 2 --results %s 2>/dev/null", grid, res), 0);
    Table t;
    char err[256];
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_expect_eq(t.nrows, 6, "expected 6 rows after resume, got %d", t.nrows);
    cr_expect_eq(t.skipped, 1, "the partial line should be skipped once");
    Grid g;
    cr_assert_eq(grid_parse_file(grid, &g, err, sizeof err), 0, "%s", err);
    cr_assert_eq(g.nruns, 6);
    for (int r = 0; r < g.nruns; r++) {
        int count = 0;
        for (int i = 0; i < t.nrows; i++)
            if (!strcmp(table_get(&t, i, "run_id"), g.runs[r].run_id)) {
                count++;
                cr_expect_str_eq(table_get(&t, i, "status"), "ok");
            }
        cr_expect_eq(count, 1, "run %s recorded %d times", g.runs[r].run_id, count);
        char done[900];
        snprintf(done, sizeof done, "%s/tiny/runs/%s/DONE", res, g.runs[r].run_id);
        cr_expect_eq(access(done, F_OK), 0, "%s missing", done);
    }
    table_free(&t);
    /* A finished grid: nothing to do, nothing appended. */
    cr_assert_eq(sh(HARNESS_BIN " run %s --results %s 2>/dev/null", grid, res), 0);
    cr_expect_eq(rows_in(csv), 6);
    /* The report has the paired tests of both jepa cells. */
    char md[800];
    snprintf(md, sizeof md, "%s/tiny/report.md", res);
    cr_assert_eq(sh(HARNESS_BIN " report %s >/dev/null 2>&1", csv, ""), 0);
    FILE *rf = fopen(md, "r");
    cr_assert_not_null(rf);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, rf);
    buf[n] = 0;
    fclose(rf);
    cr_expect(strstr(buf, "jepa k=1") && strstr(buf, "jepa k=2"), "report lacks the jepa cells:\n%s", buf);
    grid_free(&g);
    sh("rm -rf %s%s", dir, "");
}

Test(harness, diverged_run_is_recorded, .timeout = 120) {
    char dir[] = "/tmp/jepa_div_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    int rc = sh("HARNESS_INJECT_NAN_AT_STEP=2 " HARNESS_BIN " train --quiet --results %s model=pico train_limit=64 "
                "test_limit=4 batch_size=8 epochs=1 2>/dev/null%s", dir, "");
    cr_expect_eq(rc, 3, "a diverged run exits 3, got %d", rc);
    char csv[700];
    snprintf(csv, sizeof csv, "%s/train/runs.csv", dir);
    Table t;
    char err[256];
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.nrows, 1);
    cr_expect_str_eq(table_get(&t, 0, "status"), "diverged");
    cr_expect_str_eq(table_get(&t, 0, "acc_exact"), "");
    table_free(&t);
    sh("rm -rf %s%s", dir, "");
}

Test(harness, bad_arguments) {
    cr_expect_eq(sh(HARNESS_BIN " train lr=fast 2>/dev/null%s%s", "", ""), 2);
    cr_expect_eq(sh(HARNESS_BIN " train nosuchkey=1 2>/dev/null%s%s", "", ""), 2);
    cr_expect_eq(sh(HARNESS_BIN " train k=99 2>/dev/null%s%s", "", ""), 2);
    cr_expect_eq(sh(HARNESS_BIN " frobnicate 2>/dev/null%s%s", "", ""), 2);
    cr_expect_eq(sh(HARNESS_BIN " run /nonexistent.grid 2>/dev/null%s%s", "", ""), 1);
    cr_expect_eq(sh(HARNESS_BIN " train --help >/dev/null%s%s", "", ""), 0);
    /* the error names the key and the expectation */
    FILE *p = popen(HARNESS_BIN " train lambda=-1 2>&1", "r");
    char buf[512] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    pclose(p);
    cr_expect(strstr(buf, "lambda") && strstr(buf, "range"), "message: %s", buf);
}

Test(harness, malformed_grid_names_line) {
    char dir[] = "/tmp/jepa_badgrid_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char grid[600];
    snprintf(grid, sizeof grid, "%s/bad.grid", dir);
    write_file(grid, "model = pico\n\n[jepa\nloss = jepa\n");
    char cmd[900];
    snprintf(cmd, sizeof cmd, HARNESS_BIN " run %s --results %s 2>&1", grid, dir);
    FILE *p = popen(cmd, "r");
    char buf[1024] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    int st = pclose(p);
    cr_expect_eq(WEXITSTATUS(st), 1);
    char want[700];
    snprintf(want, sizeof want, "%s:3:", grid);
    cr_expect(strstr(buf, want) != NULL, "expected '%s' in: %s", want, buf);
    sh("rm -rf %s%s", dir, "");
}

Test(harness, loss_command_json, .timeout = 120) {
    char dir[] = "/tmp/jepa_losscmd_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char out[600];
    snprintf(out, sizeof out, "%s/run", dir);
    cr_assert_eq(sh(HARNESS_BIN " train --quiet --out %s --results %s model=pico loss=jepa k=2 train_limit=64 "
                    "test_limit=4 epochs=1 2>/dev/null", out, dir), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, HARNESS_BIN " loss %s/checkpoint " SOURCE_DIR "/data/synth_test.jsonl 10", out);
    FILE *p = popen(cmd, "r");
    char buf[4096] = "";
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    cr_assert_eq(pclose(p), 0, "harness loss failed: %s", buf);
    double ntp = -1, jd = -1;
    char *a = strstr(buf, "\"ntp_loss\":"), *b = strstr(buf, "\"jepa_dist\":");
    cr_assert(a && b, "JSON lacks fields: %s", buf);
    sscanf(a + 11, "%lf", &ntp);
    sscanf(b + 12, "%lf", &jd);
    cr_expect(ntp > 0.1 && ntp < 7.0, "ntp_loss %g", ntp);
    cr_expect(jd >= 0.0 && jd <= 2.0, "cosine distance %g", jd);
    cr_expect(strstr(buf, "\"k\":\t\"2\"") || strstr(buf, "\"k\": \"2\""), "loss options of the run: %s", buf);
    sh("rm -rf %s%s", dir, "");
}

/* Two `harness run` of one grid at once share the runs: none twice, none lost. */
Test(harness, concurrent_runs_share_a_grid, .timeout = 240) {
    GridDir d;
    grid_dir(&d, "conc");
    const char *dir = d.dir, *grid = d.grid, *res = d.res, *csv = d.csv;
    pid_t other = start_run(&d, 0);
    int rc = sh(HARNESS_BIN " run %s -j 1 --results %s 2>/dev/null", grid, res);
    int st;
    waitpid(other, &st, 0);
    cr_expect_eq(rc, 0);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    Table t;
    char err[256];
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_expect_eq(t.nrows, 6, "6 runs, each once: got %d rows", t.nrows);
    for (int i = 0; i < t.nrows; i++)
        for (int j = i + 1; j < t.nrows; j++)
            cr_expect_str_neq(table_get(&t, i, "run_id"), table_get(&t, j, "run_id"), "run recorded twice");
    table_free(&t);
    sh("rm -rf %s%s", dir, "");
}

/* ---- data provenance ---- */

/* Output (stdout and stderr) of a shell command into buf; returns its exit code. */
static int capture(const char *cmd, char *buf, size_t n) {
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t got = fread(buf, 1, n - 1, p);
    buf[got] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The last row's value of column col for run_id in csv (copied into out). */
static void last_value(const char *csv, const char *run_id, const char *col, char *out, size_t n) {
    Table t;
    char err[256];
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    int r = store_last_row(&t, run_id);
    cr_assert(r >= 0, "run %s not recorded", run_id);
    snprintf(out, n, "%s", table_get(&t, r, col));
    table_free(&t);
}

/* Replace every occurrence of from in file path with to. */
static void replace_in_file(const char *path, const char *from, const char *to) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    static char buf[1 << 20], out[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f), o = 0;
    buf[n] = 0;
    fclose(f);
    for (char *p = buf; *p;) {
        char *hit = strstr(p, from);
        size_t keep = hit ? (size_t)(hit - p) : strlen(p);
        memcpy(out + o, p, keep);
        o += keep;
        if (!hit) break;
        memcpy(out + o, to, strlen(to));
        o += strlen(to);
        p = hit + strlen(from);
    }
    f = fopen(path, "wb");
    fwrite(out, 1, o, f);
    fclose(f);
}

/* A run whose data file changed after it was recorded is stale in the
 * report, then re-run by `harness run`, which says why; rows without data
 * hashes (recorded before they were kept) are reused. */
Test(harness, changed_data_reruns_the_run, .timeout = 240) {
    GridDir d;
    grid_dir(&d, "datahash");
    char data[700], train[800], cmd[2600], out[16384], want[900];
    snprintf(data, sizeof data, "%s/data", d.dir);
    snprintf(train, sizeof train, "%s/synth_train.jsonl", data);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && head -n 48 " SOURCE_DIR "/data/synth_train.jsonl > %s && head -n 8 "
             SOURCE_DIR "/data/synth_test.jsonl > %s/synth_test.jsonl", data, train, data);
    cr_assert_eq(system(cmd), 0);
    write_file(d.grid, "model = pico\nepochs = 1\nbatch_size = 16\ntrain_limit = 32\ntest_limit = 4\n"
                       "max_new_tokens = 16\nepoch_eval_limit = 0\ncheckpoint = none\nseeds = 5\n");
    const char *env = "HARNESS_DATA=";
    snprintf(cmd, sizeof cmd, "%s%s " HARNESS_BIN " run %s --results %s 2>&1", env, data, d.grid, d.res);
    cr_assert_eq(capture(cmd, out, sizeof out), 0, "%s", out);
    Grid g;
    char err[512], id[17], h1[80], h2[80], hex[65];
    cr_assert_eq(grid_parse_file(d.grid, &g, err, sizeof err), 0, "%s", err);
    snprintf(id, sizeof id, "%s", g.runs[0].run_id);
    grid_free(&g);
    last_value(d.csv, id, "train_sha256", h1, sizeof h1);
    cr_assert_eq(sha256_file(train, hex, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(h1, hex, "train_sha256 is the sha256 of the train file");
    last_value(d.csv, id, "test_sha256", h2, sizeof h2);
    cr_expect_eq(strlen(h2), 64);
    last_value(d.csv, id, "init_sha256", h2, sizeof h2);
    cr_expect_str_eq(h2, "");
    /* change the train file (a line the run does not even read) */
    snprintf(cmd, sizeof cmd, "sed -n 40p %s >> %s", train, train);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(sha256_file(train, hex, err, sizeof err), 0, "%s", err);
    snprintf(cmd, sizeof cmd, "%s%s " HARNESS_BIN " report %s --results %s 2>&1", env, data, d.grid, d.res);
    cr_assert_eq(capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(want, sizeof want, "`%s`", id);
    cr_expect(strstr(out, "1 stale run") && strstr(out, want) && strstr(out, "data changed since it was recorded"),
              "the report lists the stale run:\n%s", out);
    /* harness run re-runs it and says why */
    snprintf(cmd, sizeof cmd, "%s%s " HARNESS_BIN " run %s --results %s 2>&1", env, data, d.grid, d.res);
    cr_assert_eq(capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(want, sizeof want, "%s sha256 %.8s… → %.8s…", train, h1, hex);
    cr_expect(strstr(out, "data changed since it was recorded") && strstr(out, want), "want '%s' in:\n%s", want, out);
    cr_expect_eq(rows_in(d.csv), 2, "the re-run's row supersedes the old one");
    last_value(d.csv, id, "train_sha256", h2, sizeof h2);
    cr_expect_str_eq(h2, hex);
    snprintf(cmd, sizeof cmd, "%s%s " HARNESS_BIN " report %s --results %s 2>&1", env, data, d.grid, d.res);
    cr_assert_eq(capture(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "1 run was re-run because its data changed") && !strstr(out, "stale run"), "%s", out);
    cr_expect(strstr(out, "1 ok run,"), "the run counts once:\n%s", out);
    /* a row without data hashes is unknown, not stale: reused as it is */
    replace_in_file(d.csv, hex, "");
    snprintf(cmd, sizeof cmd, "sed -n 41p %s >> %s", train, train);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s%s " HARNESS_BIN " run %s --results %s 2>&1", env, data, d.grid, d.res);
    cr_assert_eq(capture(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "nothing to do"), "%s", out);
    cr_expect_eq(rows_in(d.csv), 2);
    snprintf(cmd, sizeof cmd, "%s%s " HARNESS_BIN " report %s --results %s 2>&1", env, data, d.grid, d.res);
    cr_assert_eq(capture(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "recorded before data hashes were kept") && !strstr(out, "stale run"), "%s", out);
    sh("rm -rf %s%s", d.dir, "");
}

/* harness run --reuse copies the runs another grid recorded (same run_id) instead of training
 * them again: their rows get this grid's name and arm and keep their results; their run
 * directories are copied; runs no grid recorded are trained. --dry-run says which it would
 * reuse. */
Test(harness, reuse_copies_runs_of_other_grids, .timeout = 240) {
    GridDir d;
    grid_dir(&d, "reuse");
    cr_assert_eq(sh(HARNESS_BIN " run %s -j 1 --results %s 2>/dev/null", d.grid, d.res), 0);
    char other[700], ocsv[700], cmd[2048], out[16384];
    snprintf(other, sizeof other, "%s/other.grid", d.dir);
    snprintf(ocsv, sizeof ocsv, "%s/other/runs.csv", d.res);
    const char *body = strstr(GRID, "dataset");
    char text[2048];
    snprintf(text, sizeof text, "%.*s[ntp]\nloss = ntp\n[jepa]\nloss = jepa\nk = 2, 3\n", (int)(strstr(body, "[baseline]") - body), body);
    write_file(other, text);
    snprintf(cmd, sizeof cmd, HARNESS_BIN " run %s --dry-run --reuse --results %s 2>&1", other, d.res);
    cr_assert_eq(capture(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "4 to be reused from other grids") != NULL, "%s", out);
    cr_expect(strstr(out, "reuse tiny") != NULL, "%s", out);
    cr_expect_leq(rows_in(ocsv), 0, "a dry run records nothing");
    snprintf(cmd, sizeof cmd, HARNESS_BIN " run %s -j 1 --reuse --results %s 2>&1", other, d.res);
    cr_assert_eq(capture(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "0 already recorded, 4 reused from other grids, 2 to run") != NULL, "%s", out);
    Table a, b;
    char err[256];
    cr_assert_eq(store_read(d.csv, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(store_read(ocsv, &b, err, sizeof err), 0, "%s", err);
    cr_expect_eq(b.nrows, 6);
    int reused = 0;
    for (int r = 0; r < b.nrows; r++) {
        const char *id = table_get(&b, r, "run_id");
        cr_expect_str_eq(table_get(&b, r, "grid"), "other");
        int ra = store_last_row(&a, id);
        if (ra < 0) continue;
        reused++;
        const char *arm = table_get(&b, r, "arm");
        cr_expect(!strcmp(arm, "ntp") || !strcmp(arm, "jepa"), "arm %s", arm);
        cr_expect_str_eq(table_get(&b, r, "acc_exact"), table_get(&a, ra, "acc_exact"));
        cr_expect_str_eq(table_get(&b, r, "start_time"), table_get(&a, ra, "start_time"), "provenance kept");
        char f[1200];
        snprintf(f, sizeof f, "%s/other/runs/%s/DONE", d.res, id);
        cr_expect_eq(access(f, F_OK), 0, "%s", f);
        snprintf(f, sizeof f, "%s/other/runs/%s/checkpoint/model.safetensors", d.res, id);
        cr_expect_eq(access(f, F_OK), 0, "%s", f);
    }
    cr_expect_eq(reused, 4);
    table_free(&a);
    table_free(&b);
    snprintf(cmd, sizeof cmd, HARNESS_BIN " run %s -j 1 --reuse --results %s 2>&1", other, d.res);
    cr_assert_eq(capture(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "nothing to do") != NULL, "%s", out);
    sh("rm -rf %s%s", d.dir, "");
}

/* ---- provenance, failure reasons, -j, harness train without keys, harness show ---- */


/* The text of file path (malloc'd; "" when missing). */
static char *file_text(const char *path) {
    FILE *f = fopen(path, "rb");
    char *b = calloc(1, 1 << 16);
    if (f) {
        size_t n = fread(b, 1, (1 << 16) - 1, f);
        b[n] = 0;
        fclose(f);
    }
    return b;
}

/* Every row and run directory records the compiler and its flags, the CPU, the BLAS
 * library and core, the engine version, the data hashes and the command line; harness
 * show prints the run, and finds it by a prefix of its run_id. */
Test(harness, provenance_is_recorded_and_shown, .timeout = 120) {
    char dir[] = "/tmp/jepa_prov_XXXXXX", cmd[2048], out[32768], csv[700], v[4096], want[700];
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(sh(HARNESS_BIN " train --quiet --results %s --grid g model=pico train_limit=32 test_limit=4 "
                    "max_new_tokens=8 epochs=1 batch_size=16 epoch_eval_limit=0 'system_prompt=omit' 2>/dev/null%s",
                    dir, ""), 0);
    snprintf(csv, sizeof csv, "%s/g/runs.csv", dir);
    Table t;
    char err[256];
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.nrows, 1);
    char id[17], model[256];
    snprintf(id, sizeof id, "%s", table_get(&t, 0, "run_id"));
    const char *comp = table_get(&t, 0, "compiler");
    cr_expect(!strncmp(comp, "gcc ", 4) || !strncmp(comp, "clang ", 6), "compiler '%s'", comp);
    cr_expect_neq(strlen(table_get(&t, 0, "compiler_flags")), 0);
    cpu_model_name(model, sizeof model);
    cr_expect_str_eq(table_get(&t, 0, "cpu_model"), model);
    cr_expect(!strncmp(table_get(&t, 0, "blas"), "OpenBLAS ", 9), "blas '%s'", table_get(&t, 0, "blas"));
    cr_expect_neq(strlen(table_get(&t, 0, "blas_core")), 0);
    cr_expect_neq(strlen(table_get(&t, 0, "engine_version")), 0);
    const char *cl = table_get(&t, 0, "command_line");
    cr_expect(strstr(cl, " train --quiet --results ") && strstr(cl, " model=pico ") && strstr(cl, " system_prompt=omit"),
              "command line '%s'", cl);
    cr_expect_str_eq(table_get(&t, 0, "error"), "");
    cr_expect_str_eq(table_get(&t, 0, "lambda"), "", "lambda has no effect under loss=ntp");
    cr_expect_str_eq(table_get(&t, 0, "lr"), "0.003");
    /* provenance.json beside config.txt says the same */
    snprintf(v, sizeof v, "%s/g/runs/%s/provenance.json", dir, id);
    char *json = file_text(v);
    const char *keys[] = {"compiler", "cpu_model", "blas", "blas_core", "engine_version", "train_sha256", NULL};
    for (int i = 0; keys[i]; i++) {
        const char *col = table_get(&t, 0, keys[i]);
        snprintf(want, sizeof want, "\"%s\"", col);
        cr_expect(strlen(col) > 0 && strstr(json, want), "provenance.json lacks %s %s:\n%s", keys[i], want, json);
    }
    cr_expect(strstr(json, "\"command_line\"") && strstr(json, "model=pico"), "%s", json);
    free(json);
    table_free(&t);
    /* harness show: a prefix is enough */
    snprintf(cmd, sizeof cmd, HARNESS_BIN " show %.6s --results %s 2>&1", id, dir);
    cr_assert_eq(capture(cmd, out, sizeof out), 0, "%s", out);
    const char *parts[] = {id, "grid g, arm main", "status ok", "model = pico", "system_prompt = omit", "run_id check",
                           "compiler", model, "acc_exact", "config.txt", "provenance.json", "DONE", NULL};
    for (int i = 0; parts[i]; i++) cr_expect(strstr(out, parts[i]) != NULL, "show lacks '%s':\n%s", parts[i], out);
    snprintf(cmd, sizeof cmd, HARNESS_BIN " show ffffffffffffffffff --results %s 2>&1", dir);
    cr_expect_eq(capture(cmd, out, sizeof out), 1);
    cr_expect(strstr(out, "no run_id starts with 'ffffffffffffffffff'") != NULL, "%s", out);
    /* two runs that share a prefix: ambiguous, both listed */
    const char *const *cols;
    int n = store_columns(&cols);
    const char **vals = calloc((size_t)n, sizeof *vals);
    snprintf(v, sizeof v, "%s/other/runs.csv", dir);
    const char *ids[] = {"abcd000000000001", "abcd000000000002"};
    for (int k = 0; k < 2; k++) {
        vals[store_column_index("run_id")] = ids[k];
        vals[store_column_index("status")] = "ok";
        cr_assert_eq(store_append(v, vals, n, err, sizeof err), 0, "%s", err);
    }
    free(vals);
    snprintf(cmd, sizeof cmd, HARNESS_BIN " show abcd --results %s 2>&1", dir);
    cr_expect_eq(capture(cmd, out, sizeof out), 1);
    cr_expect(strstr(out, "ambiguous") && strstr(out, ids[0]) && strstr(out, ids[1]), "%s", out);
    snprintf(cmd, sizeof cmd, HARNESS_BIN " show abcd000000000002 --results %s 2>&1", dir);
    cr_expect_eq(capture(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "no run directory") != NULL, "%s", out);
    sh("rm -rf %s%s", dir, "");
}

/* A run that fails on its own (an init checkpoint that cannot be read) records its error
 * message, and harness run prints the reason. */
Test(harness, failed_run_says_why, .timeout = 120) {
    GridDir d;
    grid_dir(&d, "fail");
    char ck[100], cmd[2048], out[16384];
    snprintf(ck, sizeof ck, "%.64s/ck", d.dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && echo '{}' > %s/config.json && echo x > %s/model.safetensors", ck, ck, ck);
    cr_assert_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "model = pico\ninit = %s\nepochs = 1\ntrain_limit = 32\ntest_limit = 4\nseeds = 5\n", ck);
    write_file(d.grid, cmd);
    snprintf(cmd, sizeof cmd, HARNESS_BIN " run %s --results %s 2>&1", d.grid, d.res);
    cr_expect_eq(capture(cmd, out, sizeof out), 1, "%s", out);
    cr_expect(strstr(out, "why: exit status 1: error: ") && strstr(out, "config.json"), "%s", out);
    Table t;
    char err[256];
    cr_assert_eq(store_read(d.csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.nrows, 1);
    cr_expect_str_eq(table_get(&t, 0, "status"), "failed");
    cr_expect(strstr(table_get(&t, 0, "error"), "config.json") != NULL, "error '%s'", table_get(&t, 0, "error"));
    table_free(&t);
    sh("rm -rf %s%s", d.dir, "");
}

/* The pid of a child of parent running `harness train`, or 0. */
/* The pid of parent's child whose command line has a "train" argument, or 0. Walks
 * /proc's entries rather than every possible pid, so that a scan stays cheap on a
 * loaded machine. */
static pid_t train_child(pid_t parent) {
    char path[300], buf[1024];
    DIR *dir = opendir("/proc");
    if (!dir) return 0;
    pid_t found = 0;
    struct dirent *e;
    while (!found && (e = readdir(dir))) {
        int pid = atoi(e->d_name);
        if (pid <= 1) continue;
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *rp = strrchr(buf, ')');
        int ppid = 0;
        if (!rp || sscanf(rp + 2, "%*c %d", &ppid) != 1 || ppid != parent) continue;
        snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
        if (!(f = fopen(path, "rb"))) continue;
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        if (n > 0 && memmem(buf, n, "train\0", 6)) found = pid;
    }
    closedir(dir);
    return found;
}

/* A run killed by a signal: harness run records it failed with the signal's name, and
 * prints it. */
Test(harness, killed_run_says_which_signal, .timeout = 240) {
    GridDir d;
    grid_dir(&d, "kill");
    write_file(d.grid, "model = pico\nepochs = 50\ntrain_limit = 512\ntest_limit = 4\ncheckpoint = none\nseeds = 5\n");
    char log[700];
    snprintf(log, sizeof log, "%s/run.log", d.dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        execl(HARNESS_BIN, HARNESS_BIN, "run", d.grid, "-j", "1", "--results", d.res, (char *)NULL);
        _exit(127);
    }
    pid_t child = 0;
    time_t t0 = time(NULL);
    while (!(child = train_child(pid)) && time(NULL) - t0 < 180) usleep(50000);
    cr_assert(child > 0, "no harness train child found");
    kill(child, SIGKILL);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "harness run exits 1 when a run failed");
    char *text = file_text(log);
    cr_expect(strstr(text, "why: killed by signal 9 (SIGKILL)") != NULL, "%s", text);
    free(text);
    Table t;
    char err[256];
    cr_assert_eq(store_read(d.csv, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.nrows, 1);
    cr_expect_str_eq(table_get(&t, 0, "status"), "failed");
    cr_expect(!strncmp(table_get(&t, 0, "error"), "killed by signal 9 (SIGKILL)", 28), "error '%s'",
              table_get(&t, 0, "error"));
    const char *cl = table_get(&t, 0, "command_line");
    cr_expect(strstr(cl, " train --quiet ") && strstr(cl, "epochs=50"), "the child's command line: '%s'", cl);
    table_free(&t);
    sh("rm -rf %s%s", d.dir, "");
}

/* The cores this process may run on, as harness run counts them. */
static int usable_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

Test(harness, jobs_above_the_core_count_are_capped, .timeout = 60) {
    GridDir d;
    grid_dir(&d, "jobs");
    char cmd[2048], out[16384], want[256];
    int nc = usable_cores();
    snprintf(cmd, sizeof cmd, HARNESS_BIN " run %s -j %d --dry-run --results %s 2>&1", d.grid, nc + 7, d.res);
    cr_assert_eq(capture(cmd, out, sizeof out), 0, "%s", out);
    snprintf(want, sizeof want, "warning: -j %d is more than the %d core", nc + 7, nc);
    cr_expect(strstr(out, want) != NULL, "want '%s' in:\n%s", want, out);
    snprintf(want, sizeof want, ", %d at a time, 1 thread each", nc);
    cr_expect(strstr(out, want) != NULL, "want '%s' in:\n%s", want, out);
    snprintf(cmd, sizeof cmd, HARNESS_BIN " run %s -j %d --dry-run --results %s 2>&1", d.grid, nc, d.res);
    cr_assert_eq(capture(cmd, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "warning") == NULL, "no warning at the core count:\n%s", out);
    sh("rm -rf %s%s", d.dir, "");
}

/* harness train with no key and no option prints its usage (exit 2) instead of starting
 * a full run (which would write results/ in the working directory). */
Test(harness, train_without_keys_prints_usage, .timeout = 60) {
    char dir[] = "/tmp/jepa_nokeys_XXXXXX", cmd[512], out[8192], res[600];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "cd %s && timeout 30 " HARNESS_BIN " train 2>&1", dir);
    cr_expect_eq(capture(cmd, out, sizeof out), 2, "%s", out);
    cr_expect(strstr(out, "usage: harness train") && strstr(out, "--help"), "%s", out);
    snprintf(res, sizeof res, "%s/results", dir);
    cr_expect_eq(access(res, F_OK), -1, "nothing was run");
    sh("rm -rf %s%s", dir, "");
}
