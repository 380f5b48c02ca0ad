/* Tests of the harness command line (harness/main.c, harness/cmd_report.c):
 * help, --version, "did you mean" for an unknown command, and harness
 * report's options (--metric, --format, --better), its output files and its
 * answer for a grid with no runs. Each runs the built program (HARNESS_BIN)
 * in a temp dir and checks its exit status, stdout and stderr. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "version.h"

static char tmp[64];
static char *out_s, *err_s;

static void setup(void) {
    snprintf(tmp, sizeof tmp, "/tmp/test_cli_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    out_s = err_s = NULL;
}

static void teardown(void) {
    free(out_s);
    free(err_s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmp);
}

TestSuite(cli, .init = setup, .fini = teardown);

/* Malloc'd contents of path ("" when it cannot be read). */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    char *s = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&s, &n);
    int c;
    while ((c = fgetc(f)) != EOF) fputc(c, m);
    fclose(f);
    fclose(m);
    return s;
}

static int sh(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run `harness ARGS` in the temp dir; its stdout and stderr go to out_s and
 * err_s. Returns the exit status. */
static int harness(const char *args) {
    free(out_s);
    free(err_s);
    char cmd[2048], path[128];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >'%s/.out' 2>'%s/.err' </dev/null", tmp, HARNESS_BIN, args, tmp,
             tmp);
    int rc = sh(cmd);
    snprintf(path, sizeof path, "%s/.out", tmp);
    out_s = slurp(path);
    snprintf(path, sizeof path, "%s/.err", tmp);
    err_s = slurp(path);
    return rc;
}

Test(cli, version) {
    cr_assert_eq(harness("--version"), 0, "%s", err_s);
    char want[256];
    harness_version_line(want, sizeof want);
    cr_assert_eq(strncmp(out_s, want, strlen(want)), 0, "'%s' vs '%s'", out_s, want);
    char head[64];
    snprintf(head, sizeof head, "harness %s (commit ", HARNESS_VERSION);
    cr_assert_eq(strncmp(out_s, head, strlen(head)), 0, "%s", out_s);
    cr_assert_not_null(strstr(out_s, " build)"), "%s", out_s);
    cr_assert_str_neq(harness_build_type(), "unknown", "BUILD_TYPE is compiled in");
    cr_assert_gt(strlen(harness_git_commit()), 0);
}

Test(cli, help_lists_every_command) {
    static const char *const cmds[] = {"run", "train", "report", "loss", "probe", "plot", "paper",
                                       "show", "rescore", "status", "verify", "slurm", "help"};
    cr_assert_eq(harness("help"), 0, "%s", err_s);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "\n  harness %s", cmds[i]);
        cr_expect_not_null(strstr(out_s, want), "'%s' missing from:\n%s", cmds[i], out_s);
    }
    cr_assert_not_null(strstr(out_s, "harness --version"), "%s", out_s);
    char *first = strdup(out_s);
    cr_assert_eq(harness("--help"), 0);
    cr_assert_str_eq(out_s, first, "harness --help and harness help differ");
    free(first);
    cr_assert_eq(harness(""), 2, "no command is a usage error");
    cr_assert_not_null(strstr(err_s, "usage:"), "%s", err_s);
}

Test(cli, help_command_is_its_help) {
    cr_assert_eq(harness("help report"), 0, "%s", err_s);
    cr_assert_eq(strncmp(out_s, "usage: harness report", 21), 0, "%s", out_s);
    cr_assert_not_null(strstr(out_s, "--metric"), "%s", out_s);
    char *via_help = strdup(out_s);
    cr_assert_eq(harness("report --help"), 0);
    cr_assert_str_eq(out_s, via_help);
    free(via_help);
    cr_assert_eq(harness("help run"), 0, "%s", err_s);
    cr_assert_eq(strncmp(out_s, "usage: harness run", 18), 0, "%s", out_s);
    cr_assert_eq(harness("help nosuch"), 2);
    cr_assert_not_null(strstr(err_s, "unknown command 'nosuch'"), "%s", err_s);
}

Test(cli, did_you_mean) {
    static const char *const typo[][2] = {{"reprot", "report"}, {"stauts", "status"}, {"paer", "paper"},
                                          {"trian", "train"},   {"verfy", "verify"},  {"rum", "run"},
                                          {"hlep", "help"}};
    for (size_t i = 0; i < sizeof typo / sizeof typo[0]; i++) {
        cr_expect_eq(harness(typo[i][0]), 2, "%s", typo[i][0]);
        char want[128];
        snprintf(want, sizeof want, "unknown command '%s'; did you mean '%s'?", typo[i][0], typo[i][1]);
        cr_expect_not_null(strstr(err_s, want), "%s: %s", typo[i][0], err_s);
    }
    cr_expect_eq(harness("xyzzy"), 2);
    cr_expect_not_null(strstr(err_s, "unknown command 'xyzzy'"), "%s", err_s);
    cr_expect_null(strstr(err_s, "did you mean"), "nothing is close to xyzzy: %s", err_s);
    cr_expect_eq(harness("help reprot"), 2);
    cr_expect_not_null(strstr(err_s, "did you mean 'report'?"), "%s", err_s);
}

Test(cli, report_no_runs_prints_the_run_command) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/grids' && echo 'seeds = 1' > '%s/grids/foo.grid'", tmp, tmp);
    cr_assert_eq(sh(cmd), 0);
    cr_assert_eq(harness("report foo"), 1);
    cr_assert_not_null(strstr(err_s, "no runs recorded for grid 'foo' (results/foo/runs.csv does not exist)"), "%s",
                       err_s);
    cr_assert_not_null(strstr(err_s, "\n  harness run grids/foo.grid\n"), "%s", err_s);
    cr_assert_eq(harness("report grids/foo.grid --results elsewhere"), 1);
    cr_assert_not_null(strstr(err_s, "\n  harness run grids/foo.grid --results elsewhere\n"), "%s", err_s);
    /* no grid file to name: the grid's name */
    cr_assert_eq(harness("report bar"), 1);
    cr_assert_not_null(strstr(err_s, "\n  harness run bar\n"), "%s", err_s);
    /* a runs.csv with its header and no rows */
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/results/foo' && echo 'run_id,grid,arm,status' > '%s/results/foo/runs.csv'",
             tmp, tmp);
    cr_assert_eq(sh(cmd), 0);
    cr_assert_eq(harness("report foo"), 1);
    cr_assert_not_null(strstr(err_s, "results/foo/runs.csv has no rows"), "%s", err_s);
    cr_assert_not_null(strstr(err_s, "harness run grids/foo.grid"), "%s", err_s);
    cr_assert_eq(out_s[0], 0, "nothing on stdout: %s", out_s);
}

/* A copy of the fixture's fig3 results (committed, tiny real runs) as
 * results/t1/runs.csv in the temp dir. */
static void copy_fixture(void) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/results/t1' && cp '%s/tests/fixtures/paper/results/fig3/runs.csv' "
             "'%s/results/t1/runs.csv'", tmp, SOURCE_DIR, tmp);
    cr_assert_eq(sh(cmd), 0, "%s", cmd);
}

Test(cli, report_formats_write_their_files) {
    copy_fixture();
    char path[256];
    cr_assert_eq(harness("report t1"), 0, "%s", err_s);
    cr_assert_eq(strncmp(out_s, "# Report: t1\n", 13), 0, "%s", out_s);
    snprintf(path, sizeof path, "%s/results/t1/report.md", tmp);
    char *f = slurp(path);
    cr_assert_str_eq(f, out_s, "report.md is what was printed");
    free(f);

    cr_assert_eq(harness("report t1 --format tex"), 0, "%s", err_s);
    cr_assert_not_null(strstr(out_s, "\\toprule"), "%s", out_s);
    snprintf(path, sizeof path, "%s/results/t1/report.tex", tmp);
    f = slurp(path);
    cr_assert_str_eq(f, out_s);
    free(f);

    cr_assert_eq(harness("report results/t1/runs.csv --format csv --out r.csv"), 0, "%s", err_s);
    cr_assert_eq(strncmp(out_s, "grid,metric,better,cell,", 24), 0, "%s", out_s);
    cr_assert_not_null(strstr(out_s, "\nt1,acc_exact,higher,"), "%s", out_s);
    snprintf(path, sizeof path, "%s/r.csv", tmp);
    f = slurp(path);
    cr_assert_str_eq(f, out_s);
    free(f);
}

Test(cli, report_metric_and_option_errors) {
    copy_fixture();
    cr_assert_eq(harness("report t1 --metric ntp_loss --format csv --out x.csv"), 0, "%s", err_s);
    cr_assert_not_null(strstr(out_s, "\nt1,ntp_loss,lower,"), "ntp_loss: lower is better by default:\n%s", out_s);
    cr_assert_eq(harness("report t1 --metric ntp_loss --better higher --format csv --out x.csv"), 0, "%s", err_s);
    cr_assert_not_null(strstr(out_s, "\nt1,ntp_loss,higher,"), "%s", out_s);
    cr_assert_eq(harness("report t1 --metric lr"), 1);
    cr_assert_not_null(strstr(err_s, "'lr' is not a numeric result column"), "%s", err_s);
    cr_assert_not_null(strstr(err_s, "available: acc_exact, acc_startswith, ntp_loss"), "%s", err_s);
    cr_assert_eq(harness("report t1 --metric nosuch"), 1);
    cr_assert_not_null(strstr(err_s, "'nosuch' is not a column of the results table; available: acc_exact"), "%s",
                       err_s);
    cr_assert_eq(harness("report t1 --format html"), 2);
    cr_assert_not_null(strstr(err_s, "--format needs md, tex or csv, not 'html'"), "%s", err_s);
    cr_assert_eq(harness("report t1 --better up"), 2);
    cr_assert_not_null(strstr(err_s, "--better needs higher or lower"), "%s", err_s);
    cr_assert_eq(harness("report t1 --metric"), 2);
    cr_assert_not_null(strstr(err_s, "--metric needs a value"), "%s", err_s);
    cr_assert_eq(harness("report t1 --bogus"), 2);
    cr_assert_not_null(strstr(err_s, "unknown option '--bogus'"), "%s", err_s);
}

Test(cli, train_help_lists_every_task_and_metric) {
    cr_assert_eq(harness("train --help"), 0, "%s", err_s);
    const char *tasks[] = {"synth", "turk", "nlrx_base", "paraphrase", "gsm8k", "spider", "rotten_tomatoes", "yelp",
                           "nq_open", "hellaswag"};
    for (size_t i = 0; i < sizeof tasks / sizeof *tasks; i++) {
        char want[64];
        snprintf(want, sizeof want, "\n  %s ", tasks[i]);
        cr_expect_not_null(strstr(out_s, want), "task %s missing from train --help", tasks[i]);
    }
    cr_expect_not_null(strstr(out_s, "acc_dfa"), "the dfa metric is listed");
    cr_expect_not_null(strstr(out_s, "choice scoring"), "hellaswag's evaluation mode is listed");
}

/* Write text to tmp/rel. */
static void put(const char *rel, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

Test(cli, rescore_counts_string_match_against_language_equivalence) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/results/g/runs/00000000000000aa'", tmp);
    cr_assert_eq(sh(cmd), 0);
    put("results/g/runs.csv", "run_id,grid,arm,dataset,status\n00000000000000aa,g,baseline,synth,ok\n"
                              "00000000000000bb,g,baseline,synth,failed\n");
    put("results/g/runs/00000000000000aa/predictions.jsonl",
        "{\"prompt\":\"p\",\"target\":\"(dog)|(cat)\",\"generated\":\"(dog)|(cat)\"}\n"   /* both right */
        "{\"prompt\":\"p\",\"target\":\"(dog)|(cat)\",\"generated\":\"(cat)|(dog)\"}\n"   /* dfa only */
        "{\"prompt\":\"p\",\"target\":\"(dog)|(cat)\",\"generated\":\"(dog)|(cats)\"}\n"  /* wrong */
        "{\"prompt\":\"p\",\"target\":\"([0-9])+\",\"generated\":\"((\"}\n");              /* does not parse */
    cr_assert_eq(harness("rescore g"), 0, "%s", err_s);
    cr_expect_not_null(strstr(out_s, "| 00000000000000aa | baseline | 4 | 25.00 | 25.00 | 50.00 | 1 | 0 | 0 |"), "%s",
                       out_s);
    cr_expect_null(strstr(out_s, "00000000000000bb"), "a failed run is not rescored");
    put("results/g/runs/00000000000000aa/predictions.jsonl", "{\"prompt\":\"p\"}\n");
    cr_expect_eq(harness("rescore g"), 1);
    cr_expect_not_null(strstr(err_s, "predictions.jsonl:1:"), "%s", err_s);
}
