/* Tests of harness/report.c: cells, pairing with the baseline, t-tests, Holm,
 * and which rows count. Tables are written with store_append into a temp dir
 * and read back, as `harness report` does. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "report.h"
#include "store.h"
#include "runs_row.h"

static char tmpdir[64];
static char csv[256];

static void mk_tmp(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_report_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(csv, sizeof csv, "%s/results/fig/runs.csv", tmpdir);
}

static void rm_tmp(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* Append one row: arm, "key=value,key=value" config overrides, seed,
 * status, exact and startswith accuracy in %, and one more result column
 * col set to val (col NULL: none). Other result columns are "0". */
static void add_col(const char *arm, const char *set, unsigned seed, const char *status, double exact, double sw,
                    const char *col, const char *val) {
    static char buf[RUNS_ROW_MAX][128];
    const char *v[RUNS_ROW_MAX];
    char id[17], err[256];
    int n = runs_row(set, seed, arm, status, id, v, buf);
    snprintf(buf[store_column_index("acc_exact")], 128, "%.6f", exact);
    snprintf(buf[store_column_index("acc_startswith")], 128, "%.6f", sw);
    if (col) v[store_column_index(col)] = val;
    cr_assert_eq(store_append(csv, v, n, err, sizeof err), 0, "%s", err);
}

static void add(const char *arm, const char *set, unsigned seed, const char *status, double exact, double sw) {
    add_col(arm, set, seed, status, exact, sw, NULL, NULL);
}

static char *report(void) {
    Table t;
    char err[256] = "";
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0, "%s", err);
    char *md = NULL;
    cr_assert_eq(report_markdown(&t, "fig", NULL, &md, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(md);
    table_free(&t);
    return md;
}

/* report_render of the table with metric (NULL: default), direction and
 * format; NULL with the message in err when it fails. */
static char *render(const char *metric, int better, ReportFormat f, char *err, size_t errn) {
    Table t;
    cr_assert_eq(store_read(csv, &t, err, errn), 0, "%s", err);
    ReportOpts o = {metric, better, f};
    char *out = NULL;
    int rc = report_render(&t, "fig", NULL, &o, &out, err, errn);
    table_free(&t);
    cr_assert((rc == 0) == (out != NULL));
    return out;
}

/* The cells of a Markdown table row, checked in order. */
static void expect_cells(const char *row, const char *const *want, int n) {
    char *copy = strdup(row);
    char *save = NULL;
    int i = 0;
    for (char *tok = strtok_r(copy, "|", &save); tok && i < n; tok = strtok_r(NULL, "|", &save), i++) {
        while (*tok == ' ') tok++;
        char *e = tok + strlen(tok);
        while (e > tok && e[-1] == ' ') *--e = 0;
        if (want[i]) cr_expect_str_eq(tok, want[i], "cell %d of row '%s'", i, row);
    }
    cr_expect_eq(i, n, "row '%s' has %d cells", row, i);
    free(copy);
}

static const unsigned SEEDS[5] = {82, 23, 37, 84, 4};
static const double BASE[5] = {70.1, 69.0, 71.6, 70.2, 70.9};
static const double K1[5] = {71.2, 69.8, 73.1, 70.5, 72.0};
static const double K2[5] = {70.4, 69.5, 71.3, 70.8, 71.2};

static void golden_table(void) {
    /* a failed attempt first: the later ok row of the same run wins */
    add("baseline", "loss=ntp,lr=8e-5", 82, "failed", 0, 0);
    for (int s = 0; s < 5; s++) {
        add("baseline", "loss=ntp,lr=8e-5", SEEDS[s], "ok", BASE[s], BASE[s] + 5);
        add("jepa", "loss=jepa,k=1,lr=8e-5", SEEDS[s], "ok", K1[s], K1[s] + 5);
        add("jepa", "loss=jepa,k=2,lr=8e-5", SEEDS[s], "ok", K2[s], K2[s] + 5);
    }
    /* a failed run and a diverged run are not counted */
    add("jepa", "loss=jepa,k=1,lr=8e-5", 5, "failed", 99, 99);
    add("jepa", "loss=jepa,k=2,lr=8e-5", 6, "diverged", 99, 99);
    /* an ok run whose last row failed does not count either */
    add("jepa", "loss=jepa,k=2,lr=8e-5", 7, "ok", 99, 99);
    add("jepa", "loss=jepa,k=2,lr=8e-5", 7, "failed", 0, 0);
}

Test(report, golden_t_p_and_holm, .init = mk_tmp, .fini = rm_tmp) {
    golden_table();
    char *md = report();
    cr_assert_eq(strncmp(md, "# Report: fig\n", 14), 0, "%s", md);
    cr_assert_not_null(strstr(md, "15 ok runs, 2 failed, 1 diverged"), "%s", md);
    cr_assert_not_null(strstr(md, "`lr=8e-05`"), "common settings: %s", md);

    char *b = row_of(md, "baseline");
    const char *wb[] = {"baseline", "5", "70.36 ± 0.97", "75.36 ± 0.97", "4 23 37 82 84", "—"};
    expect_cells(b, wb, 6);
    free(b);

    /* k=1: d = 1.1 0.8 1.5 0.3 1.1, t = 4.8242, p = 0.0042486; Holm over 2
     * tests: 2p = 0.0084971; d_z = 0.96 / 0.444972 = 2.1574; 95% CI 0.96 -+
     * 2.776445 * 0.444972 / sqrt 5 = [0.4075, 1.5125] (t quantile: closed
     * form of the df = 4 CDF, see test_stats.c). The best cell (bold). */
    char *r1 = row_of(md, "jepa k=1");
    const char *w1[] = {"jepa k=1",       "5",    "**71.32 ± 1.29**", "76.32 ± 1.29", "4 23 37 82 84",
                        "baseline",       "+0.96", "[+0.41, +1.51]",  "2.16",         "4.824",
                        "4",              "0.004249", "0.008497",     "best"};
    expect_cells(r1, w1, 14);
    free(r1);

    /* k=2: d = 0.3 0.5 -0.3 0.6 0.3, t = 1.7925, p = 0.073759; its Holm value
     * is its own p; d_z = 0.28 / 0.349285 = 0.8016; CI [-0.1537, 0.7137] */
    char *r2 = row_of(md, "jepa k=2");
    const char *w2[] = {"jepa k=2", "5",     "70.64 ± 0.73", "75.64 ± 0.73", "4 23 37 82 84", "baseline", "+0.28",
                        "[-0.15, +0.71]", "0.80", "1.793", "4", "0.07376", "0.07376"};
    expect_cells(r2, w2, 13);
    cr_assert_null(strstr(r2, "best"), "%s", r2);
    free(r2);
    cr_assert_null(strstr(md, "99.00"), "a row that is not ok was counted:\n%s", md);
    free(md);
}

Test(report, baseline_per_varying_key_and_edge_cases, .init = mk_tmp, .fini = rm_tmp) {
    /* baseline varies lr; jepa cells pair with the baseline of their lr */
    for (int s = 0; s < 3; s++) {
        add("baseline", "lr=1e-3", SEEDS[s], "ok", 50 + s, 60);
        add("baseline", "lr=1e-4", SEEDS[s], "ok", 40 + s, 60);
        add("jepa", "loss=jepa,lr=1e-3", SEEDS[s], "ok", 52 + s, 60);   /* +2 each: zero variance */
        add("jepa", "loss=jepa,lr=1e-4", SEEDS[s], "ok", 40 + s, 60);   /* identical */
        add("jepa", "loss=jepa,lr=0.5", SEEDS[s], "ok", 40, 60);        /* no baseline with lr=0.5 */
    }
    add("jepa", "loss=jepa,lr=1e-3,k=3", SEEDS[0], "ok", 60, 60);       /* one pair only */
    add("other", "loss=jepa,lr=1e-4,k=4", SEEDS[3], "ok", 60, 60);      /* no seed in common */
    char *md = report();
    char *r;
    r = row_of(md, "jepa k=1 lr=0.001");
    cr_assert_not_null(strstr(r, "| baseline lr=0.001 |"), "%s", r);
    cr_assert_not_null(strstr(r, "| inf |"), "%s", r);
    cr_assert_not_null(strstr(r, "zero variance"), "%s", r);
    free(r);
    r = row_of(md, "jepa k=1 lr=0.0001");
    cr_assert_not_null(strstr(r, "| baseline lr=0.0001 |"), "%s", r);
    cr_assert_not_null(strstr(r, "| 0.5 |"), "%s", r);
    cr_assert_not_null(strstr(r, "identical"), "%s", r);
    free(r);
    r = row_of(md, "jepa k=1 lr=0.5");
    cr_assert_not_null(strstr(r, "no matching baseline cell"), "%s", r);
    free(r);
    /* one pair: Δ is shown, the test columns are "—", not t = 0 / p = 1 */
    r = row_of(md, "jepa k=3 lr=0.001");
    const char *w3[] = {"jepa k=3 lr=0.001", "1", "**60.00**", NULL, "82", "baseline lr=0.001", "+10.00", "—", "—", "—",
                        "—", "—", "—"};
    expect_cells(r, w3, 13);
    cr_assert_not_null(strstr(r, "1 pair: not tested"), "%s", r);
    cr_assert_null(strstr(r, "| 0.000 |"), "%s", r);
    free(r);
    r = row_of(md, "other");
    cr_assert_not_null(strstr(r, "0 seeds paired (cell 1, baseline 3)"), "%s", r);
    /* equal best means (60, n = 1 each): the first listed cell is best */
    cr_assert_not_null(strstr(r, "| 60.00 |"), "%s", r);
    cr_assert_null(strstr(r, "best"), "%s", r);
    free(r);
    /* zero variance: t and d_z inf, the CI is Δ itself; identical: 0, [0, 0] */
    r = row_of(md, "jepa k=1 lr=0.001");
    cr_assert_not_null(strstr(r, "| +2.00 | [+2.00, +2.00] | inf | inf | 2 | 0 |"), "%s", r);
    free(r);
    r = row_of(md, "jepa k=1 lr=0.0001");
    cr_assert_not_null(strstr(r, "| +0.00 | [+0.00, +0.00] | 0.00 | 0.000 | 2 | 0.5 |"), "%s", r);
    free(r);
    cr_assert_not_null(strstr(md, "2 tested cells"), "%s", md);
    cr_assert_null(strstr(md, "nan"), "%s", md);
    free(md);
}

Test(report, no_baseline_arm, .init = mk_tmp, .fini = rm_tmp) {
    for (int s = 0; s < 2; s++) add("jepa", "loss=jepa", SEEDS[s], "ok", 50, 60);
    char *md = report();
    char *r = row_of(md, "jepa");
    cr_assert_not_null(strstr(r, "no baseline arm"), "%s", r);
    free(r);
    free(md);
}

Test(report, empty_and_bad_tables) {
    Table t = {0};
    char *md = NULL;
    char err[256] = "";
    cr_assert_eq(report_markdown(&t, "g", NULL, &md, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(strstr(md, "# Report: g"));
    cr_assert_not_null(strstr(md, "No runs"), "%s", md);
    free(md);

    char *cols[] = {"run_id", "arm"};
    char *row[] = {"x", "a"};
    char **rows[] = {row};
    Table bad = {2, cols, 1, rows, 0, 0};
    md = (char *)1;
    cr_assert_eq(report_markdown(&bad, "g", NULL, &md, err, sizeof err), -1);
    cr_assert_null(md);
    cr_assert_not_null(strstr(err, "status"), "%s", err);
}

/* The field of a CSV line (no quoted commas before it) by index, copied. */
static char *csv_field_at(const char *line, int idx) {
    const char *p = line;
    for (int i = 0; i < idx; i++) {
        p = strchr(p, ',');
        cr_assert_not_null(p, "field %d of %s", idx, line);
        p++;
    }
    return strndup(p, strcspn(p, ",\n"));
}

static double csv_num_at(const char *line, int idx) {
    char *f = csv_field_at(line, idx);
    char *end;
    double v = strtod(f, &end);
    cr_assert(*f && !*end, "field %d '%s' of %s is not a number", idx, f, line);
    free(f);
    return v;
}

#define REL_EQ(x, e, rel) cr_expect(fabs((x) - (e)) <= (rel) * fabs(e), "%s = %.17g, expected %.17g", #x, (x), (e))

Test(report, csv_one_row_per_cell_unrounded, .init = mk_tmp, .fini = rm_tmp) {
    golden_table();
    char err[256] = "";
    char *c = render(NULL, 0, REPORT_CSV, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    const char *head = "grid,metric,better,cell,arm,n,mean,sd,seeds,vs,npaired,delta,ci_lo,ci_hi,d_z,t,df,p,p_holm,"
                       "best,stale,note\n";
    cr_assert_eq(strncmp(c, head, strlen(head)), 0, "%s", c);
    int lines = 0;
    for (const char *p = c; *p; p++) lines += *p == '\n';
    cr_assert_eq(lines, 4, "header + 3 cells:\n%s", c);
    const char *k1 = strstr(c, "\nfig,acc_exact,higher,jepa k=1,jepa,5,");
    cr_assert_not_null(k1, "%s", c);
    k1++;
    /* golden values of test_stats.c (Python statistics module, t quantile
     * from the closed form of the df = 4 CDF), to 1e-9: unrounded */
    REL_EQ(csv_num_at(k1, 6), 71.32, 1e-12);
    REL_EQ(csv_num_at(k1, 11), 0.96, 1e-9);
    REL_EQ(csv_num_at(k1, 12), 0.4074944001024031, 1e-9);
    REL_EQ(csv_num_at(k1, 13), 1.5125055998975956, 1e-9);
    REL_EQ(csv_num_at(k1, 14), 2.157439559882366, 1e-9);
    REL_EQ(csv_num_at(k1, 15), 4.8241815132441985, 1e-9);
    REL_EQ(csv_num_at(k1, 16), 4.0, 0);
    REL_EQ(csv_num_at(k1, 17), 0.00424856885584135, 1e-8);
    REL_EQ(csv_num_at(k1, 18), 2 * 0.00424856885584135, 1e-8);
    cr_expect_eq(csv_num_at(k1, 19), 1.0, "best: %s", k1);
    char *f = csv_field_at(k1, 11);
    cr_expect_gt(strlen(f), 6, "delta is not rounded to 2 decimals: %s", f);
    free(f);
    /* the baseline row has no test: empty fields, not 0 */
    const char *b = strstr(c, "\nfig,acc_exact,higher,baseline,baseline,5,");
    cr_assert_not_null(b, "%s", c);
    f = csv_field_at(b + 1, 15);
    cr_expect_str_eq(f, "");
    free(f);
    free(c);
}

Test(report, tex_booktabs, .init = mk_tmp, .fini = rm_tmp) {
    golden_table();
    char err[256] = "";
    char *t = render(NULL, 0, REPORT_TEX, err, sizeof err);
    cr_assert_not_null(t, "%s", err);
    cr_assert_not_null(strstr(t, "\\begin{tabular}{lrrrllrrrrrrrl}\n\\toprule\n"), "%s", t);
    cr_assert_not_null(strstr(t, "cell & n & exact \\% & startswith \\% & seeds & vs & $\\Delta$ exact (pp) & 95\\% "
                                 "CI & d\\_z & t & df & p & p (Holm) & note \\\\\n\\midrule\n"), "%s", t);
    cr_assert_not_null(strstr(t, "jepa k=1 & 5 & \\textbf{71.32 $\\pm$ 1.29} & 76.32 $\\pm$ 1.29"), "%s", t);
    cr_assert_not_null(strstr(t, "\\bottomrule\n\\end{tabular}\n"), "%s", t);
    cr_assert_not_null(strstr(t, "% 15 ok runs"), "the header is a comment: %s", t);
    cr_assert_null(strstr(t, "| "), "no Markdown table: %s", t);
    for (const char *l = t; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != 0))
        if (*l != '%') cr_assert(strcspn(l, "\n") <= strcspn(l, "±"), "unescaped ± outside a comment: %s", l);
    free(t);
}

Test(report, metric_startswith, .init = mk_tmp, .fini = rm_tmp) {
    golden_table(); /* startswith = exact + 5: the same tests, other means */
    char err[256] = "";
    char *md = render("acc_startswith", 0, REPORT_MD, err, sizeof err);
    cr_assert_not_null(md, "%s", err);
    cr_assert_not_null(strstr(md, "| cell | n | startswith % | exact % | seeds | vs | Δ startswith (pp) |"), "%s", md);
    char *r1 = row_of(md, "jepa k=1");
    const char *w1[] = {"jepa k=1", "5", "**76.32 ± 1.29**", "71.32 ± 1.29", NULL, "baseline", "+0.96"};
    expect_cells(r1, w1, 7);
    free(r1);
    cr_assert_not_null(strstr(md, "t-test of `acc_startswith`, cell > baseline (higher is better)"), "%s", md);
    free(md);
}

/* ntp_loss: lower is better by default; cell − baseline d = -0.1 -0.05
 * -0.12 -0.02 -0.08: mean -0.074, sd 0.0397492, t = -4.16283, p = P(T_4 <=
 * t) = 0.0070564 (closed-form df = 4 CDF), d_z = -1.86167, CI [-0.123355,
 * -0.0246448] (Python statistics module). */
static void loss_table(void) {
    static const char *const B[] = {"1.0", "1.2", "0.9", "1.1", "1.05"};
    static const char *const C[] = {"0.9", "1.15", "0.78", "1.08", "0.97"};
    for (int s = 0; s < 5; s++) {
        add_col("baseline", "loss=ntp", SEEDS[s], "ok", 50, 50, "ntp_loss", B[s]);
        add_col("jepa", "loss=jepa", SEEDS[s], "ok", 50, 50, "ntp_loss", C[s]);
    }
}

Test(report, metric_loss_lower_is_better, .init = mk_tmp, .fini = rm_tmp) {
    loss_table();
    cr_assert_eq(report_metric_default_better("ntp_loss"), -1);
    cr_assert_eq(report_metric_default_better("acc_exact"), 1);
    char err[256] = "";
    char *c = render("ntp_loss", 0, REPORT_CSV, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    const char *j = strstr(c, "\nfig,ntp_loss,lower,jepa,jepa,5,");
    cr_assert_not_null(j, "%s", c);
    j++;
    REL_EQ(csv_num_at(j, 11), -0.074, 1e-9);
    REL_EQ(csv_num_at(j, 12), -0.1233551677680044, 1e-8);
    REL_EQ(csv_num_at(j, 13), -0.024644832231995595, 1e-8);
    REL_EQ(csv_num_at(j, 14), -1.861672040078523, 1e-8);
    REL_EQ(csv_num_at(j, 15), -4.1628252334262905, 1e-8);
    REL_EQ(csv_num_at(j, 17), 0.007056430226837718, 1e-7);
    cr_expect_eq(csv_num_at(j, 19), 1.0, "the lower loss is best: %s", j);
    free(c);
    /* --better higher on the same column: p = P(T >= t) = 1 - 0.0070564 */
    c = render("ntp_loss", +1, REPORT_CSV, err, sizeof err);
    cr_assert_not_null(c, "%s", err);
    j = strstr(c, "\nfig,ntp_loss,higher,jepa,jepa,5,");
    cr_assert_not_null(j, "%s", c);
    REL_EQ(csv_num_at(j + 1, 17), 1 - 0.007056430226837718, 1e-9);
    free(c);
    char *md = render("ntp_loss", 0, REPORT_MD, err, sizeof err);
    cr_assert_not_null(md, "%s", err);
    cr_assert_not_null(strstr(md, "| cell | n | ntp_loss | seeds | vs | Δ ntp_loss | 95% CI |"), "%s", md);
    cr_assert_not_null(strstr(md, "cell < baseline (lower is better)"), "%s", md);
    cr_assert_not_null(strstr(md, "p = P(T ≤ t)"), "%s", md);
    cr_assert_not_null(strstr(md, "| **0.976 ± 0.146** |"), "%s", md);
    free(md);
}

Test(report, metric_not_a_result_column, .init = mk_tmp, .fini = rm_tmp) {
    golden_table();
    static const char *const bad[] = {"lr", "git_commit", "status", "train_sha256", "nosuch", "run_id"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[1024] = "";
        char *out = render(bad[i], 0, REPORT_MD, err, sizeof err);
        cr_expect_null(out, "%s accepted", bad[i]);
        free(out);
        cr_expect_not_null(strstr(err, bad[i]), "%s", err);
        cr_expect_not_null(strstr(err, "available: acc_exact, acc_startswith, acc_dfa"), "%s", err);
        cr_expect_null(strstr(err, "git_commit,"), "%s", err);
    }
    /* numeric result columns with a value in an ok run are accepted */
    static const char *const good[] = {"acc_exact", "acc_startswith", "ntp_loss", "steps", "train_s"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char err[1024] = "";
        char *out = render(good[i], 0, REPORT_MD, err, sizeof err);
        cr_expect_not_null(out, "%s: %s", good[i], err);
        free(out);
    }
}

Test(report, best_cell_ties_go_to_more_runs, .init = mk_tmp, .fini = rm_tmp) {
    /* k=1 and k=2 have the same mean (60); k=2 has 3 runs, k=1 two */
    for (int s = 0; s < 3; s++) add("baseline", "loss=ntp", SEEDS[s], "ok", 70, 50);
    add("jepa", "loss=jepa,k=1", SEEDS[0], "ok", 59, 50);
    add("jepa", "loss=jepa,k=1", SEEDS[1], "ok", 61, 50);
    for (int s = 0; s < 3; s++) add("jepa", "loss=jepa,k=2", SEEDS[s], "ok", 60, 50);
    add("jepa", "loss=jepa,k=3", SEEDS[0], "ok", 10, 50);
    char *md = report();
    char *r = row_of(md, "jepa k=2");
    cr_assert_not_null(strstr(r, "| **60.00 ± 0.00** |"), "%s", r);
    cr_assert_not_null(strstr(r, "| best"), "%s", r);
    free(r);
    r = row_of(md, "jepa k=1");
    cr_assert_null(strstr(r, "**"), "%s", r);
    free(r);
    /* a baseline cell is never the best, even with the highest mean */
    cr_assert_null(strstr(md, "| baseline | 3 | **"), "%s", md);
    free(md);
    Table t;
    char err[256];
    cr_assert_eq(store_read(csv, &t, err, sizeof err), 0);
    ReportCells rc;
    cr_assert_eq(report_cells_by(&t, "acc_exact", -1, NULL, NULL, &rc, err, sizeof err), 0, "%s", err);
    cr_assert_geq(rc.best, 0);
    cr_assert_str_eq(rc.cells[rc.best].label, "jepa k=3", "lower is better: the lowest mean");
    report_cells_free(&rc);
    table_free(&t);
}
