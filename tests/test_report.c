/* Tests of harness/report.c: cells, pairing with the baseline, t-tests, Holm,
 * and which rows count. Tables are written with store_append into a temp dir
 * and read back, as `harness report` does. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "report.h"
#include "store.h"

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
 * status, exact and startswith accuracy in %. */
static void add(const char *arm, const char *set, unsigned seed, const char *status, double exact,
                double sw) {
    Config c;
    config_defaults(&c);
    char err[256], kv[256];
    snprintf(kv, sizeof kv, "%s", set);
    for (char *tok = strtok(kv, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        cr_assert_not_null(eq);
        *eq = 0;
        cr_assert_eq(config_set(&c, tok, eq + 1, err, sizeof err), 0, "%s", err);
    }
    c.seed = seed;
    char id[17];
    cr_assert_eq(config_run_id(&c, id, err, sizeof err), 0, "%s", err);

    const char *const *cols;
    int n = store_columns(&cols);
    static char buf[256][128];
    const char *v[256];
    for (int i = 0; i < n; i++) {
        const CfgKey *k = config_key(cols[i]);
        if (k) config_get(&c, k, buf[i], sizeof buf[i]);
        else snprintf(buf[i], sizeof buf[i], "0");
        v[i] = buf[i];
    }
    v[store_column_index("run_id")] = id;
    v[store_column_index("grid")] = "fig";
    v[store_column_index("arm")] = arm;
    v[store_column_index("status")] = status;
    snprintf(buf[store_column_index("acc_exact")], 128, "%.6f", exact);
    snprintf(buf[store_column_index("acc_startswith")], 128, "%.6f", sw);
    cr_assert_eq(store_append(csv, v, n, err, sizeof err), 0, "%s", err);
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

/* The table line of the cell labelled label ("| label | ..."), copied. */
static char *row_of(const char *md, const char *label) {
    char head[128];
    snprintf(head, sizeof head, "\n| %s | ", label);
    const char *p = strstr(md, head);
    cr_assert_not_null(p, "no row '%s' in:\n%s", label, md);
    p++;
    const char *e = strchr(p, '\n');
    return strndup(p, (size_t)(e - p));
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

    /* k=1: t = 4.8242, p = 0.0042486; Holm over 2 tests: 2p = 0.0084971 */
    char *r1 = row_of(md, "jepa k=1");
    const char *w1[] = {"jepa k=1", "5",     "71.32 ± 1.29", "76.32 ± 1.29", "4 23 37 82 84", "baseline",
                        "+0.96",    "4.824", "4",            "0.004249",     "0.008497"};
    expect_cells(r1, w1, 11);
    free(r1);

    /* k=2: t = 1.7925, p = 0.073759; its Holm value is its own p */
    char *r2 = row_of(md, "jepa k=2");
    const char *w2[] = {"jepa k=2", "5",     "70.64 ± 0.73", "75.64 ± 0.73", "4 23 37 82 84", "baseline",
                        "+0.28",    "1.793", "4",            "0.07376",      "0.07376"};
    expect_cells(r2, w2, 11);
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
    r = row_of(md, "jepa k=3 lr=0.001");
    cr_assert_not_null(strstr(r, "n<2"), "%s", r);
    cr_assert_not_null(strstr(r, "| 1 |"), "p = 1: %s", r);
    free(r);
    r = row_of(md, "other");
    cr_assert_not_null(strstr(r, "0 of 1 seeds paired"), "%s", r);
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
