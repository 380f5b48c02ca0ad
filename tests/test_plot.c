/* `harness plot RUN_DIR [--out DIR]` (harness/cmd_plot.c) on run
 * directories written here: the four files of curves.* appear where they
 * should, with the panels the run calls for and one accuracy curve per
 * acc_<metric> column, named by its metric; malformed curve.csv files are
 * refused with FILE:LINE; usage and a missing gnuplot are clear errors.
 * Drawing tests skip when gnuplot (pngcairo + svg) is not installed. */
#define _GNU_SOURCE /* mkdtemp */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "figure.h"

static char DIR_[] = "/tmp/test_plot_XXXXXX";

static void setup(void) { cr_assert_not_null(mkdtemp(DIR_)); }

/* rm -r DIR_ (two levels: DIR_/run/plots). */
static void rm_tree(const char *dir, int depth) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
        if (unlink(p) != 0 && depth < 3) rm_tree(p, depth + 1);
    }
    if (d) closedir(d);
    rmdir(dir);
}

static void teardown(void) { rm_tree(DIR_, 0); }

TestSuite(plot, .init = setup, .fini = teardown);

static void need_gnuplot(void) {
    char err[1024];
    if (fig_gnuplot_check(err, sizeof err)) {
        teardown(); /* .fini does not run after a skip */
        cr_skip_test("drawing test skipped: %s", err);
    }
}

/* Write text to DIR_/rel. */
static void put(const char *rel, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", DIR_, rel);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "cannot write %s", p);
    fputs(text, f);
    fclose(f);
}

static void mkrun(const char *rel) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", DIR_, rel);
    cr_assert_eq(mkdir(p, 0755), 0);
}

/* Run `[env] harness plot ARGS` with stdout/stderr into DIR_/out.txt and
 * DIR_/err.txt; returns the exit status (-1 if it did not exit). */
static int plot(const char *env, const char *fmt, ...) {
    char args[1024], cmd[2400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s plot %s >%s/out.txt 2>%s/err.txt", env ? env : "", HARNESS_BIN, args, DIR_, DIR_);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Contents of DIR_/rel (static buffer; "" when unreadable). */
static const char *slurp(const char *rel) {
    static char buf[1 << 16];
    char p[512];
    snprintf(p, sizeof p, "%s/%s", DIR_, rel);
    FILE *f = fopen(p, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    return buf;
}

/* DIR_/rel is a PNG: signature and an IHDR with a positive size. */
static void expect_png(const char *rel) {
    char p[512];
    unsigned char b[24] = {0};
    snprintf(p, sizeof p, "%s/%s", DIR_, rel);
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f, "%s missing", p);
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    cr_assert_eq(n, sizeof b, "%s too short", p);
    cr_expect(!memcmp(b, "\x89PNG\r\n\x1a\n", 8) && !memcmp(b + 12, "IHDR", 4), "%s: not a PNG", p);
    cr_expect((b[16] | b[17] | b[18] | b[19]) && (b[20] | b[21] | b[22] | b[23]), "%s: empty size", p);
}

static const char *HEADER = "kind,step,epoch,ntp_loss,jepa_dist,lr,grad_norm,tokens,seconds,acc_exact,"
                            "acc_startswith,enc_text_cos,enc_code_cos,pred_text_cos,enc_text_erank,"
                            "enc_code_erank,pred_text_erank\n";

/* A JEPA run: three step rows, one epoch row (the format engine/train.c writes). */
static void jepa_run(const char *rel) {
    char p[256], text[2048];
    mkrun(rel);
    snprintf(text, sizeof text,
             "%sstep,10,1,5.038007,3.646459,0.000982,15.7297,63352,4.57,,,,,,,,\n"
             "step,20,1,4.109051,3.389409,0.000962,43.1395,126118,8.82,,,,,,,,\n"
             "step,30,1,3.5,2.9,0.000942,20.1,190000,12.1,,,,,,,,\n"
             "epoch,30,1,2.640047,1.018436,,,1573290,120.59,41.50,42.00,0.656528,0.023412,0.050589,26.55,48.90,48.78\n",
             HEADER);
    snprintf(p, sizeof p, "%s/curve.csv", rel);
    put(p, text);
    snprintf(p, sizeof p, "%s/config.txt", rel);
    put(p, "model=nano\nloss=jepa\nlambda=0.5\nk=2\nseed=7\n");
}

Test(plot, jepa_run_draws_four_panels_into_out) {
    need_gnuplot();
    jepa_run("r1");
    cr_assert_eq(plot(NULL, "%s/r1 --out %s/figs", DIR_, DIR_), 0, "%s", slurp("err.txt"));
    expect_png("figs/curves.png");
    cr_expect_not_null(strstr(slurp("figs/curves.svg"), "</svg>"));
    const char *gp = slurp("figs/curves.gp");
    cr_expect_not_null(strstr(gp, "'NTP loss per step'"));
    cr_expect_not_null(strstr(gp, "'JEPA distance per step'"), "a JEPA run has its distance panel");
    cr_expect_not_null(strstr(gp, "'learning rate per step'"));
    cr_expect_not_null(strstr(gp, "'test accuracy per epoch'"));
    cr_expect_not_null(strstr(gp, "run r1: model=nano, loss=jepa, λ=0.5, k=2, seed=7"), "title from config.txt");
    const char *dat = slurp("figs/curves.dat");
    cr_expect_not_null(strstr(dat, "\n20 4.109051\n"), "step 20's NTP loss");
    cr_expect_not_null(strstr(dat, "\n1 41.5\n"), "epoch 1's exact-match accuracy");
    const char *out = slurp("out.txt");
    char want[512];
    snprintf(want, sizeof want, "%s/figs/curves.png\n", DIR_);
    cr_expect_not_null(strstr(out, want), "paths printed: %s", out);
}

/* An NTP run of an older curve.csv (no collapse columns, empty jepa_dist):
 * three panels, drawn into RUN_DIR/plots by default. */
Test(plot, ntp_run_old_header_default_dir) {
    need_gnuplot();
    mkrun("r2");
    put("r2/curve.csv", "kind,step,epoch,ntp_loss,jepa_dist,lr,grad_norm,tokens,seconds,acc_exact,acc_startswith\n"
                        "step,10,1,5.0,,0.001,1,100,1,,\n"
                        "step,20,1,4.0,,0.0009,1,200,2,,\n"
                        "epoch,20,1,4.5,,,,200,3,10.00,12.50\n");
    cr_assert_eq(plot(NULL, "%s/r2/", DIR_), 0, "%s", slurp("err.txt"));
    expect_png("r2/plots/curves.png");
    const char *gp = slurp("r2/plots/curves.gp");
    cr_expect_null(strstr(gp, "JEPA distance"), "no JEPA panel without JEPA values");
    cr_expect_not_null(strstr(gp, "'run r2'"), "title without config.txt is the run id");
}

/* Malformed files exit 1 naming FILE:LINE; nothing is drawn. */
Test(plot, malformed_curve_is_refused_with_file_line) {
    static const struct {
        const char *body, *where, *what;
    } BAD[] = {
        {"step,10,1,5.0,1.0,0.001,1,100,1,,,,,,,,\nstep,20,1,4.0\n", "curve.csv:3:", "fields"},
        {"step,10,1,five,1.0,0.001,1,100,1,,,,,,,,\n", "curve.csv:2:", "ntp_loss"},
        {"stop,10,1,5.0,1.0,0.001,1,100,1,,,,,,,,\n", "curve.csv:2:", "kind"},
        {"step,,1,5.0,1.0,0.001,1,100,1,,,,,,,,\n", "curve.csv:2:", "step"},
        {"step,10,1,\"5.0,1.0,0.001,1,100,1,,,,,,,,\nstep,20,1,4.0,1,1,1,1,1,,,,,,,,\n", "curve.csv:2:", "malformed"},
    };
    mkrun("bad");
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s", HEADER, BAD[i].body);
        put("bad/curve.csv", text);
        cr_expect_eq(plot(NULL, "%s/bad --out %s/badfigs", DIR_, DIR_), 1, "case %zu", i);
        const char *err = slurp("err.txt");
        cr_expect_not_null(strstr(err, BAD[i].where), "case %zu: %s", i, err);
        cr_expect_not_null(strstr(err, BAD[i].what), "case %zu: %s", i, err);
    }
    put("bad/curve.csv", "step,ntp_loss\n");
    cr_expect_eq(plot(NULL, "%s/bad", DIR_), 1);
    cr_expect_not_null(strstr(slurp("err.txt"), "curve.csv:1: no column 'kind'"), "%s", slurp("err.txt"));
    cr_expect_eq(plot(NULL, "%s/nonexistent", DIR_), 1);
    cr_expect_not_null(strstr(slurp("err.txt"), "cannot read"), "%s", slurp("err.txt"));
}

/* A run still writing: the unfinished last line is skipped with a note. */
Test(plot, unfinished_last_line_is_skipped) {
    need_gnuplot();
    char text[1024];
    mkrun("live");
    snprintf(text, sizeof text, "%sstep,10,1,5.0,1.0,0.001,1,100,1,,,,,,,,\nstep,20,1,4.0,0.9,0.0", HEADER);
    put("live/curve.csv", text);
    cr_expect_eq(plot(NULL, "%s/live", DIR_), 0, "%s", slurp("err.txt"));
    const char *err = slurp("err.txt");
    cr_expect_not_null(strstr(err, "curve.csv:3: skipped an unfinished last line"), "%s", err);
    cr_expect_null(strstr(slurp("live/plots/curves.dat"), "\n20 "), "the unfinished row is not drawn");
}

Test(plot, usage) {
    cr_expect_eq(plot(NULL, ""), 2);
    cr_expect_eq(plot(NULL, "--frobnicate x"), 2);
    cr_expect_eq(plot(NULL, "--help"), 0);
    cr_expect_not_null(strstr(slurp("out.txt"), "usage: harness plot RUN_DIR"));
}

Test(plot, missing_gnuplot_is_a_clear_error) {
    jepa_run("r3");
    cr_expect_eq(plot("GNUPLOT=/nonexistent/gnuplot", "%s/r3", DIR_), 1);
    cr_expect_not_null(strstr(slurp("err.txt"), "gnuplot not found"), "%s", slurp("err.txt"));
}

/* A run of a task whose curve.csv carries the columns acc_<metric> of
 * metrics (comma-separated, e.g. "exact,dfa"), each epoch row's values
 * being accs (comma-separated, one per metric). */
static void task_run(const char *rel, const char *metrics, const char *accs1, const char *accs2) {
    char p[256], head[512], text[2048];
    char cols[256], *save = NULL;
    snprintf(cols, sizeof cols, "%s", metrics);
    int n = snprintf(head, sizeof head, "kind,step,epoch,ntp_loss,jepa_dist,lr,grad_norm,tokens,seconds,");
    for (char *m = strtok_r(cols, ",", &save); m; m = strtok_r(NULL, ",", &save))
        n += snprintf(head + n, sizeof head - (size_t)n, "acc_%s,", m);
    snprintf(head + n, sizeof head - (size_t)n, "enc_text_cos");
    int nm = 1;
    for (const char *c = metrics; *c; c++) nm += *c == ',';
    char empty[16] = "";
    for (int i = 0; i <= nm; i++) strcat(empty, ","); /* the metrics and enc_text_cos */
    mkrun(rel);
    snprintf(text, sizeof text,
             "%s\nstep,10,1,5.0,,0.001,1,100,1%s\nepoch,10,1,4.5,,,,100,2,%s,0.5\n"
             "step,20,2,4.0,,0.0009,1,200,3%s\nepoch,20,2,3.5,,,,200,4,%s,0.4\n",
             head, empty, accs1, empty, accs2);
    snprintf(p, sizeof p, "%s/curve.csv", rel);
    put(p, text);
}

/* NL-RX's exact and dfa: one curve each, named by the metric, its values
 * in the data file; no startswith curve when the header has none. */
Test(plot, accuracy_curves_follow_the_header) {
    need_gnuplot();
    task_run("nlrx", "exact,dfa", "41.50,47.25", "50.00,55.75");
    cr_assert_eq(plot(NULL, "%s/nlrx", DIR_), 0, "%s", slurp("err.txt"));
    expect_png("nlrx/plots/curves.png");
    const char *gp = slurp("nlrx/plots/curves.gp");
    cr_expect_not_null(strstr(gp, "'test accuracy per epoch'"));
    cr_expect_not_null(strstr(gp, "title 'exact'"), "exact curve named: %s", gp);
    cr_expect_not_null(strstr(gp, "title 'dfa'"), "dfa curve named");
    cr_expect_null(strstr(gp, "startswith"), "no curve for a metric the run does not have");
    const char *dat = slurp("nlrx/plots/curves.dat");
    const char *ex = strstr(dat, "series 1 'exact'"), *dfa = strstr(dat, "series 2 'dfa'");
    cr_assert(ex && dfa && ex < dfa, "blocks in header order: %s", dat);
    cr_expect_not_null(strstr(ex, "\n1 41.5\n2 50\n"), "exact per epoch");
    cr_expect_not_null(strstr(dfa, "\n1 47.25\n2 55.75\n"), "dfa per epoch");
}

/* HellaSwag's single metric: one curve, choice, and nothing else. */
Test(plot, single_choice_metric) {
    need_gnuplot();
    task_run("hs", "choice", "25.00", "31.50");
    cr_assert_eq(plot(NULL, "%s/hs", DIR_), 0, "%s", slurp("err.txt"));
    const char *gp = slurp("hs/plots/curves.gp");
    cr_expect_not_null(strstr(gp, "title 'choice'"), "choice curve named: %s", gp);
    cr_expect_null(strstr(gp, "exact"));
    const char *dat = slurp("hs/plots/curves.dat");
    const char *ch = strstr(dat, "'test accuracy per epoch', series 1 'choice'");
    cr_assert_not_null(ch, "%s", dat);
    cr_expect_not_null(strstr(ch, "\n1 25\n2 31.5\n"), "choice per epoch: %s", ch);
    cr_expect_null(strstr(dat, "series 2"), "one accuracy series");
}

/* No accuracy column: no accuracy panel. */
Test(plot, no_accuracy_columns_no_panel) {
    need_gnuplot();
    mkrun("na");
    put("na/curve.csv", "kind,step,epoch,ntp_loss,jepa_dist,lr\nstep,10,1,5.0,,0.001\nstep,20,1,4.0,,0.0009\n");
    cr_assert_eq(plot(NULL, "%s/na", DIR_), 0, "%s", slurp("err.txt"));
    cr_expect_null(strstr(slurp("na/plots/curves.gp"), "test accuracy per epoch"));
}

/* An accuracy column named twice, or a non-number in one: exit 1 with FILE:LINE. */
Test(plot, bad_accuracy_columns_are_refused) {
    task_run("dup", "exact,exact", "1,2", "3,4");
    cr_expect_eq(plot(NULL, "%s/dup", DIR_), 1);
    cr_expect_not_null(strstr(slurp("err.txt"), "curve.csv:1: column 'acc_exact' appears twice"), "%s",
                       slurp("err.txt"));
    task_run("nan", "exact,dfa", "41.50,47.25", "50.00,lots");
    cr_expect_eq(plot(NULL, "%s/nan", DIR_), 1);
    cr_expect_not_null(strstr(slurp("err.txt"), "curve.csv:5: column 'acc_dfa': 'lots' is not a number"), "%s",
                       slurp("err.txt"));
}
