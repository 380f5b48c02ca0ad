/* Tests of `harness paper` (harness/paper*.c): the tables' numbers against
 * values computed independently, LaTeX escaping, missing artifacts and their
 * commands, byte-identical reruns, and the figure rule (extract from run
 * directories, else redraw from the committed .dat while its runs are still
 * recorded ok, else missing).
 *
 * Each test writes its own small grid files (the artifacts' grid names, pico
 * preset, 2-3 seeds) and runs.csv rows (store_append, one per run of the
 * parsed grid, so run_ids are the grid's) into a temp dir and calls
 * paper_make on it.
 *
 * Golden values: computed by hand and checked with Python's statistics
 * module (mean, stdev with n - 1). The one-tailed p of the paired t-test
 * uses the closed forms of Student's t CDF: df = 2: P(T >= t) = 1/2 -
 * t / (2 sqrt(t^2 + 2)); df = 1 (Cauchy): P(T >= t) = 1/2 - atan(t)/pi.
 * Holm by hand: sorted p_(1) <= p_(2): adj_(1) = 2 p_(1), adj_(2) =
 * max(adj_(1), p_(2)). Numbers are shown as the tables print them (%.2f
 * for accuracies, %.3g for p, %.4g for probe values). */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "figure.h"
#include "fsutil.h"
#include "grid.h"
#include "paper.h"
#include "store.h"

static char tmp[64], grids[128], results[128], out[128];

static void setup(void) {
    snprintf(tmp, sizeof tmp, "/tmp/test_paper_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(grids, sizeof grids, "%s/grids", tmp);
    snprintf(results, sizeof results, "%s/results", tmp);
    snprintf(out, sizeof out, "%s/out", tmp);
    cr_assert_eq(mkdir_p(grids), 0);
}

static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmp);
}

TestSuite(paper, .init = setup, .fini = teardown);

/* ---- helpers ---- */

static void write_file(const char *path, const char *text) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    cr_assert_eq(mkdir_p(dir), 0, "%s", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* Malloc'd contents of path, or NULL when it cannot be read. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_not_null(s);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

static char *out_file(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", out, name);
    return slurp(path);
}

/* Write GRIDS/name.grid and parse it into g. */
static void grid(Grid *g, const char *name, const char *text) {
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/%s.grid", grids, name);
    write_file(path, text);
    cr_assert_eq(grid_parse_file(path, g, err, sizeof err), 0, "%s", err);
}

/* The run of g in arm with seed whose config has key=value (where, or NULL). */
static const GridRun *run_of(const Grid *g, const char *arm, const char *where, unsigned seed) {
    for (int i = 0; i < g->nruns; i++) {
        const GridRun *r = &g->runs[i];
        if (strcmp(r->arm, arm) || r->cfg.seed != seed) continue;
        if (where) {
            char key[64], v[CFG_PATH_MAX];
            snprintf(key, sizeof key, "%.*s", (int)strcspn(where, "="), where);
            config_get(&r->cfg, config_key(key), v, sizeof v);
            if (strcmp(v, strchr(where, '=') + 1) != 0) continue;
        }
        return r;
    }
    cr_assert_fail("no run %s %s seed %u", arm, where ? where : "", seed);
    return NULL;
}

/* Append the row of run r to RESULTS/<grid>/runs.csv: its config, status,
 * and kv = {column, value, ..., NULL}. */
static void rec(const Grid *g, const GridRun *r, const char *status, const char *const *kv) {
    static char buf[256][600];
    const char *const *cols;
    const char *v[256];
    int n = store_columns(&cols);
    for (int i = 0; i < n; i++) {
        const CfgKey *k = config_key(cols[i]);
        buf[i][0] = 0;
        if (k) config_get(&r->cfg, k, buf[i], sizeof buf[i]);
        v[i] = buf[i];
    }
    v[store_column_index("run_id")] = r->run_id;
    v[store_column_index("grid")] = g->name;
    v[store_column_index("arm")] = r->arm;
    v[store_column_index("status")] = status;
    for (int i = 0; kv && kv[i]; i += 2) {
        int c = store_column_index(kv[i]);
        cr_assert_geq(c, 0, "%s", kv[i]);
        v[c] = kv[i + 1];
    }
    char csv[512], err[512];
    snprintf(csv, sizeof csv, "%s/%s/runs.csv", results, g->name);
    cr_assert_eq(store_append(csv, v, n, err, sizeof err), 0, "%s", err);
}

/* An ok run with exact-match accuracy ex and startswith sw. */
static void ok(const Grid *g, const char *arm, const char *where, unsigned seed, const char *ex, const char *sw) {
    const char *kv[] = {"acc_exact", ex, "acc_startswith", sw, NULL};
    rec(g, run_of(g, arm, where, seed), "ok", kv);
}

static void make(void) {
    PaperOpts o = {results, out, grids, NULL};
    char err[1024] = "";
    cr_assert_eq(paper_make(&o, err, sizeof err), 0, "%s", err);
}

/* The table line of md starting "| label |", copied (static). */
static const char *row_of(const char *md, const char *label) {
    static char line[2048];
    char head[300];
    snprintf(head, sizeof head, "\n| %s |", label);
    const char *p = md ? strstr(md, head) : NULL;
    cr_assert_not_null(p, "no row '%s' in:\n%s", label, md ? md : "(no file)");
    p++;
    snprintf(line, sizeof line, "%.*s", (int)strcspn(p, "\n"), p);
    return line;
}

#define ROW(md, label, want) cr_expect_str_eq(row_of(md, label), want)

static int gnuplot_ok(void) {
    char err[512];
    if (fig_gnuplot_check(err, sizeof err) == 0) return 1;
    cr_skip_test("figures not checked: %s", err);
    return 0;
}

/* ---- tables ---- */

static const char TABLE5[] = "model = pico\nseeds = 82, 23, 37\n[baseline]\nloss = ntp\n"
                             "[jepa]\nloss = jepa\nlambda = 1\nk = 1\ngamma = 0, 1\n";

/* Two tested cells against one baseline: mean ± sd, Δ, CI, d_z, p and Holm.
 * baseline 50 52 55: 52.33 ± 2.52; gamma=0 51 55 56: 54.00 ± 2.65, d = 1 3 1,
 * t = 2.5, p(df 2) = 0.0648; gamma=1 58 57 61: 58.67 ± 2.08, d = 8 5 6,
 * t = 7.1813, p = 0.00942; Holm: 2 × 0.00942 = 0.0188, max(0.0188, 0.0648).
 * 95% CI: mean(d) ± t(0.975, 2) sd(d)/√3 with t(0.975, 2) = sqrt(1.805 /
 * 0.0975) = 4.302653 (closed form of the df = 2 CDF): [-1.20, 4.54] and
 * [2.54, 10.13]; d_z = mean(d)/sd(d) = 1.667/1.155 = 1.44, 6.333/1.528 = 4.15. */
Test(paper, cell_table_values_and_holm) {
    Grid g;
    grid(&g, "table5", TABLE5);
    const char *base[] = {"50", "52", "55"}, *g0[] = {"51", "55", "56"}, *g1[] = {"58", "57", "61"};
    unsigned seeds[] = {82, 23, 37};
    for (int i = 0; i < 3; i++) { /* startswith is 10 more: the table must read acc_exact */
        char sw[3][16];
        snprintf(sw[0], 16, "%d", atoi(base[i]) + 10);
        snprintf(sw[1], 16, "%d", atoi(g0[i]) + 10);
        snprintf(sw[2], 16, "%d", atoi(g1[i]) + 10);
        ok(&g, "baseline", NULL, seeds[i], base[i], sw[0]);
        ok(&g, "jepa", "gamma=0", seeds[i], g0[i], sw[1]);
        ok(&g, "jepa", "gamma=1", seeds[i], g1[i], sw[2]);
    }
    make();
    char *md = out_file("table5.md");
    ROW(md, "baseline", "| baseline | 3 | 52.33 ± 2.52 | — | — | — | — | — | — |  |");
    ROW(md, "jepa gamma=0", "| jepa gamma=0 | 3 | 54.00 ± 2.65 | +1.67 | [-1.20, +4.54] | 1.44 | 0.0648 | 0.0648 | — |  |");
    ROW(md, "jepa gamma=1", "| jepa gamma=1 | 3 | 58.67 ± 2.08 | +6.33 | [+2.54, +10.13] | 4.15 | 0.00942 | 0.0188 | — "
                            "|  |");
    cr_expect(strstr(md, "Runs: 9 ok, 0 failed, 0 diverged. Every cell of the grid has all its runs.") != NULL, "%s", md);
    cr_expect(strstr(md, "Holm step-down adjustment across the 2 tested cells") != NULL);
    char *readme = out_file("README.md");
    cr_expect(strstr(readme, "| Table 5 | ") && strstr(strstr(readme, "| Table 5 | "), "| 9 ok | acc_exact | **made** |"),
              "%s", readme);
    free(md);
    free(readme);
    grid_free(&g);
}

static const char TABLE9[] = "model = pico\nseeds = 82, 23, 37\ndataset = synth, turk\n"
                             "[baseline]\nloss = ntp\n[jepa]\nloss = jepa\n";

/* Cells paired with the baseline cell of their data set; a failed run, a
 * missing run and a cell with n = 1; the paper column.
 * synth: baseline 40 42 44 (42.00 ± 2.00), jepa 45 44 49 (46.00 ± 2.65),
 * d = 5 2 5, t = 4, p(df 2) = 1/2 - 4/(2 sqrt 18) = 0.0286 (Holm: the only
 * tested cell), CI 4 ± 4.302653 = [-0.30, 8.30], d_z = 4/sqrt 3 = 2.31; turk: baseline 20 22 27 (23.00 ± 3.61), jepa seed 82 = 30
 * alone (seed 23 failed, 37 not run): Δ = 30 - 20 = +10.00, no test. */
Test(paper, pairing_failed_missing_and_single_run) {
    Grid g;
    grid(&g, "table9", TABLE9);
    const char *bs[] = {"40", "42", "44"}, *bt[] = {"20", "22", "27"}, *js[] = {"45", "44", "49"};
    unsigned seeds[] = {82, 23, 37};
    for (int i = 0; i < 3; i++) {
        ok(&g, "baseline", "dataset=synth", seeds[i], bs[i], bs[i]);
        ok(&g, "baseline", "dataset=turk", seeds[i], bt[i], bt[i]);
        ok(&g, "jepa", "dataset=synth", seeds[i], js[i], js[i]);
    }
    ok(&g, "jepa", "dataset=turk", 82, "30", "30");
    rec(&g, run_of(&g, "jepa", "dataset=turk", 23), "failed", NULL);
    make();
    char *md = out_file("table9.md");
    ROW(md, "baseline dataset=synth", "| baseline dataset=synth | 3 | 42.00 ± 2.00 | — | — | — | — | — | 57.29 ± 5.32 "
                                      "|  |");
    ROW(md, "baseline dataset=turk", "| baseline dataset=turk | 3 | 23.00 ± 3.61 | — | — | — | — | — | 22.49 |  |");
    ROW(md, "jepa dataset=synth", "| jepa dataset=synth | 3 | 46.00 ± 2.65 | +4.00 | [-0.30, +8.30] | 2.31 | 0.0286 | "
                                  "0.0286 | 71.46 ± 1.34 (p = 1.0e-3) | vs baseline dataset=synth |");
    ROW(md, "jepa dataset=turk", "| jepa dataset=turk | 1 | 30.00 | +10.00 | — | — | — | — | 30.94 | vs baseline "
                                 "dataset=turk; 1 seed paired (cell 1, baseline 3); n<2 |");
    cr_expect(strstr(md, "Runs: 10 ok, 1 failed, 0 diverged.") != NULL, "%s", md);
    cr_expect(strstr(md, "Cells of the grid lacking runs: jepa dataset=turk (1/3 seeds).") != NULL, "%s", md);
    char *readme = out_file("README.md");
    cr_expect(strstr(readme, "| 10 ok (1 failed or diverged) | acc_exact | **partial**: cells lacking runs: jepa "
                             "dataset=turk (1/3 seeds) |") != NULL, "%s", readme);
    free(md);
    free(readme);
    grid_free(&g);
}

/* Table 1 reads acc_startswith: baseline sw 60 62 (61.00 ± 1.41), exact 0. */
Test(paper, metric_column_of_the_artifact) {
    Grid g;
    grid(&g, "table1", "model = pico\nseeds = 82, 23\n[baseline]\nloss = ntp\n[jepa]\nloss = jepa\n");
    ok(&g, "baseline", NULL, 82, "0", "60");
    ok(&g, "baseline", NULL, 23, "0", "62");
    make();
    char *md = out_file("table1.md");
    ROW(md, "baseline", "| baseline | 2 | 61.00 ± 1.41 | — | — | — | — | — | 54.38 ± 1.70 |  |");
    cr_expect(strstr(md, "Cells of the grid lacking runs: jepa (0/2 seeds).") != NULL, "%s", md);
    cr_expect(strstr(md, "Published numbers without a cell here: jepa: 60.59 ± 1.01 (p = 2.94e-4).") != NULL, "%s", md);
    free(md);
    grid_free(&g);
}

/* Loss dropout's second column is derived: train_tok_s × train_s / 1e6 per run
 * (baseline 1000 tok/s × 500 s and 1200 × 400 s: 0.50, 0.48 M; jepa 2000 × 350,
 * 1000 × 750: 0.70, 0.75 M), not train_s itself. */
Test(paper, loss_dropout_compute_in_tokens) {
    Grid g;
    grid(&g, "loss_dropout", "model = pico\nseeds = 82, 23\n[baseline]\nloss = ntp\n"
                             "[jepa]\nloss = jepa\nld = 0.5\n");
    const char *b82[] = {"acc_exact", "60", "train_tok_s", "1000", "train_s", "500", NULL},
               *b23[] = {"acc_exact", "62", "train_tok_s", "1200", "train_s", "400", NULL},
               *j82[] = {"acc_exact", "61", "train_tok_s", "2000", "train_s", "350", NULL},
               *j23[] = {"acc_exact", "64", "train_tok_s", "1000", "train_s", "750", NULL};
    rec(&g, run_of(&g, "baseline", NULL, 82), "ok", b82), rec(&g, run_of(&g, "baseline", NULL, 23), "ok", b23);
    rec(&g, run_of(&g, "jepa", NULL, 82), "ok", j82), rec(&g, run_of(&g, "jepa", NULL, 23), "ok", j23);
    make();
    char *md = out_file("loss_dropout.md");
    cr_expect(strstr(md, "| cell | n | acc_exact (%) | train_tokens (M) |") != NULL, "%s", md);
    cr_expect(strstr(row_of(md, "baseline"), "| 61.00 ± 1.41 | 0.49 ± 0.01 |") != NULL, "%s", md);
    cr_expect(strstr(row_of(md, "jepa"), "| 62.50 ± 2.12 | 0.72 ± 0.04 |") != NULL, "%s", md);
    free(md);
    grid_free(&g);
}

static const char PROBES[] = "model = pico\nprobe = 1\nseeds = 82, 23\n[base]\nloss = ntp\nepochs = 1\n"
                             "train_limit = 32\n[ntp]\nloss = ntp\n[jepa_k0]\nloss = jepa\nk = 0\n"
                             "[jepa_k1]\nloss = jepa\nk = 1\n";

static void probe_run(const Grid *g, const char *arm, unsigned seed, const char *resid, const char *svm,
                      const char *sv) {
    const char *kv[] = {"acc_exact", "1", "probe_lsq_resid", resid, "probe_sv_mean", svm, "probe_sv", sv, NULL};
    rec(g, run_of(g, arm, NULL, seed), "ok", kv);
}

/* Table 10: per arm mean ± sd of probe_lsq_resid and probe_sv_mean (%.4g):
 * ntp resid 100 110 -> 105 ± 7.071, sv_mean 3 4.5 -> 3.75 ± 1.061; the
 * paper's numbers beside them; LaTeX: jepa\_k0. */
Test(paper, probe_table) {
    Grid g;
    grid(&g, "probes", PROBES);
    probe_run(&g, "ntp", 82, "100", "3", "5 1");
    probe_run(&g, "ntp", 23, "110", "4.5", "8 1");
    probe_run(&g, "jepa_k0", 82, "2", "0.5", "0.9 0.1");
    make();
    char *md = out_file("table10.md");
    ROW(md, "ntp", "| ntp | 2 | 105 ± 7.071 | 3035.01 | 3.75 ± 1.061 | 341.80 |");
    ROW(md, "jepa_k0", "| jepa_k0 | 1 | 2 | 4.04 | 0.5 | 16.82 |");
    char *tex = out_file("table10.tex");
    cr_assert_not_null(tex);
    cr_expect(strstr(tex, "\njepa\\_k0 & 1 & 2 & 4.04 & 0.5 & 16.82 \\\\\n") != NULL, "%s", tex);
    cr_expect(strstr(tex, "\nntp & 2 & 105 $\\pm$ 7.071 & 3035.01 & 3.75 $\\pm$ 1.061 & 341.80 \\\\\n") != NULL, "%s", tex);
    cr_expect(strstr(tex, "\\toprule\ncell & n & probe\\_lsq\\_resid & paper & probe\\_sv\\_mean & paper \\\\\n"
                          "\\midrule\n") != NULL, "%s", tex);
    cr_expect(strstr(tex, "\\bottomrule\n\\end{tabular}\n") != NULL);
    free(md);
    free(tex);
    grid_free(&g);
}

/* STP: one row per train_limit, NTP and STP side by side, 2 seeds (df 1:
 * p = 1/2 - atan(t)/pi). 100: NTP 10 12 (11.00 ± 1.41), STP 13 16 (14.50 ±
 * 2.12), d = 3 4, t = 7, p = 0.0452; 200: NTP 20 24 (22.00 ± 2.83), STP 21 27
 * (24.00 ± 4.24), d = 1 3, t = 2, p = 0.148; Holm 0.0903, 0.148. 95% CI with
 * t(0.975, 1) = tan(0.475 pi) = 12.7062: 3.5 ± 12.7062 × 0.7071/√2 = [-2.85,
 * 9.85], 2 ± 12.7062 = [-10.71, 14.71]; d_z = 3.5/0.7071 = 4.95, 2/1.414 = 1.41. */
Test(paper, stp_side_by_side) {
    Grid g;
    grid(&g, "stp", "model = pico\nseeds = 82, 23\n[baseline]\nloss = ntp\ntrain_limit = 100, 200\n"
                    "[stp]\nloss = stp\nlambda = 0.02\ntrain_limit = 100, 200\n");
    const char *v[][3] = {{"baseline", "train_limit=100", "10"}, {"baseline", "train_limit=100", "12"},
                          {"stp", "train_limit=100", "13"},      {"stp", "train_limit=100", "16"},
                          {"baseline", "train_limit=200", "20"}, {"baseline", "train_limit=200", "24"},
                          {"stp", "train_limit=200", "21"},      {"stp", "train_limit=200", "27"}};
    for (int i = 0; i < 8; i++) ok(&g, v[i][0], v[i][1], i % 2 ? 23 : 82, v[i][2], v[i][2]);
    make();
    char *md = out_file("stp.md");
    cr_expect(strstr(md, "\n| train_limit | n | NTP (%) | n | NTP + STP (λ = 0.02) (%) | Δ (pp) | 95% CI | d_z | p | p (Holm) | note |\n")
              != NULL, "%s", md);
    ROW(md, "100", "| 100 | 2 | 11.00 ± 1.41 | 2 | 14.50 ± 2.12 | +3.50 | [-2.85, +9.85] | 4.95 | 0.0452 | 0.0903 |  |");
    ROW(md, "200", "| 200 | 2 | 22.00 ± 2.83 | 2 | 24.00 ± 4.24 | +2.00 | [-10.71, +14.71] | 1.41 | 0.148 | 0.148 |  |");
    free(md);
    grid_free(&g);
}

Test(paper, latex_escaping) {
    StrBuf b = {0};
    paper_tex_escape(&b, "a_b & 50% $x #1 {y} ~ ^ \\ <> | ± − — Δ λ");
    cr_assert_str_eq(b.s, "a\\_b \\& 50\\% \\$x \\#1 \\{y\\} \\textasciitilde{} \\textasciicircum{} "
                          "\\textbackslash{} \\textless{}\\textgreater{} \\textbar{} $\\pm$ $-$ --- $\\Delta$ "
                          "$\\lambda$");
    free(b.s);
}

/* No runs: every artifact missing, with the command that makes its runs
 * (Table 4's too); a grid with only a failed run says so. */
Test(paper, missing_artifacts_and_commands) {
    Grid g;
    grid(&g, "table1", "model = pico\nseeds = 82\n[baseline]\nloss = ntp\n[jepa]\nloss = jepa\n");
    rec(&g, run_of(&g, "jepa", NULL, 82), "failed", NULL);
    make();
    char *readme = out_file("README.md"), want[1200];
    cr_assert_not_null(readme);
    snprintf(want, sizeof want, "| **missing**: no ok runs with a numeric acc_startswith in %s/table1/runs.csv "
             "(1 failed, 0 diverged) | — | `build/harness run %s/table1.grid -j 2 --results %s` then `build/harness "
             "paper --results %s --out %s --grids %s` |", results, grids, results, results, out, grids);
    cr_expect(strstr(readme, want) != NULL, "want %s in\n%s", want, readme);
    snprintf(want, sizeof want, "| **missing**: no runs recorded in %s/fig3/runs.csv | — | `build/harness run "
             "%s/fig3.grid -j 2", results, grids);
    cr_expect(strstr(readme, want) != NULL, "want %s in\n%s", want, readme);
    snprintf(want, sizeof want, "| `%s/table4.grid` | 0 ok | acc_exact | **missing**: no runs recorded in "
             "%s/table4/runs.csv | — | `build/harness run %s/table4.grid -j 2", grids, results, grids);
    cr_expect(strstr(readme, "| Table 4 | ") && strstr(readme, want), "want %s in\n%s", want, readme);
    cr_expect_null(strstr(readme, "(cannot be run yet)"), "every artifact has a grid and a command:\n%s", readme);
    cr_expect(strstr(readme, "0 made, 0 partial, 15 missing, 0 failed, of 15 artifacts.") != NULL, "%s", readme);
    char *t1 = out_file("table1.md");
    cr_expect_null(t1, "a missing artifact has no table");
    free(t1);
    free(readme);
    grid_free(&g);
}

/* ---- byte-identical reruns ---- */

typedef struct {
    int n;
    char name[64][128];
    char *text[64];
} Snap;

static void snap(Snap *s) {
    DIR *d = opendir(out);
    cr_assert_not_null(d);
    s->n = 0;
    for (struct dirent *e; (e = readdir(d)) && s->n < 64;) {
        if (e->d_name[0] == '.') continue;
        snprintf(s->name[s->n], 128, "%.100s", e->d_name);
        s->text[s->n] = out_file(e->d_name);
        s->n++;
    }
    closedir(d);
}

Test(paper, rerun_is_byte_identical) {
    Grid g5, gp;
    grid(&g5, "table5", TABLE5);
    grid(&gp, "probes", PROBES);
    ok(&g5, "baseline", NULL, 82, "50", "50");
    ok(&g5, "jepa", "gamma=1", 82, "51.5", "52");
    ok(&g5, "baseline", NULL, 23, "49", "50");
    ok(&g5, "jepa", "gamma=1", 23, "53", "53");
    probe_run(&gp, "ntp", 82, "100", "3", "5 1 0.5");
    probe_run(&gp, "jepa_k1", 82, "1", "0.2", "0.3 0.2 0.1");
    make();
    Snap a, b;
    snap(&a);
    cr_assert_geq(a.n, 5, "README, table5 and table10 .md/.tex at least");
    make();
    snap(&b);
    cr_assert_eq(a.n, b.n);
    for (int i = 0; i < a.n; i++) {
        int j = 0;
        while (j < b.n && strcmp(a.name[i], b.name[j])) j++;
        cr_assert_lt(j, b.n, "%s gone on the rerun", a.name[i]);
        cr_expect_str_eq(a.text[i] ? a.text[i] : "", b.text[j] ? b.text[j] : "", "%s differs", a.name[i]);
    }
    for (int i = 0; i < a.n; i++) free(a.text[i]), free(b.text[i]);
    grid_free(&g5);
    grid_free(&gp);
}

/* ---- figures ---- */

static const char FIG4[] = "model = pico\nepochs = 2\nseeds = 82, 23\n[ntp]\nloss = jepa\nlambda = 0\n"
                           "[jepa]\nloss = jepa\nlambda = 1\n";

/* curve.csv of run r: steps 10, 20 (and 30 when extra), epochs 1, 2. */
static void curve(const GridRun *r, double loss, double dist, double acc1, int extra) {
    char path[512], text[1024];
    snprintf(path, sizeof path, "%s/fig4/runs/%s/curve.csv", results, r->run_id);
    int n = snprintf(text, sizeof text, "kind,step,epoch,ntp_loss,jepa_dist,lr,grad_norm,tokens,seconds,acc_exact,"
                     "acc_startswith\nstep,10,1,%g,%g,0.001,1,100,1,,\nstep,20,1,%g,,0.001,1,200,2,,\n"
                     "epoch,20,1,%g,%g,,,200,2,%g,%g\n", loss, dist, loss / 2, loss, dist, acc1, acc1);
    if (extra) n += snprintf(text + n, sizeof text - (size_t)n, "step,30,2,1,1,0.001,1,300,3,,\n");
    snprintf(text + n, sizeof text - (size_t)n, "epoch,40,2,1,1,,,400,4,%g,%g\n", acc1 + 10, acc1 + 10);
    write_file(path, text);
}

/* Whether a data line of the .dat (not '#') starts with the numbers x y. */
static int has_point(const char *dat, double x, double y) {
    for (const char *p = dat; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (*p == '#') continue;
        char *e1, *e2;
        double a = strtod(p, &e1), b = strtod(e1, &e2);
        if (e1 != p && e2 != e1 && fabs(a - x) < 1e-9 && fabs(b - y) < 1e-6) return 1;
    }
    return 0;
}

/* Whether a data line of the .dat starts with the number x. */
static int has_x(const char *dat, double x) {
    for (const char *p = dat; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        char *e;
        double a = strtod(p, &e);
        if (*p != '#' && e != p && fabs(a - x) < 1e-9) return 1;
    }
    return 0;
}

/* The README row of an artifact, copied (static). */
static const char *readme_row(const char *title) {
    char *readme = out_file("README.md");
    static char line[4096];
    char head[100];
    snprintf(head, sizeof head, "\n| %s | ", title);
    const char *p = readme ? strstr(readme, head) : NULL;
    cr_assert_not_null(p, "no row %s", title);
    snprintf(line, sizeof line, "%.*s", (int)strcspn(p + 1, "\n"), p + 1);
    free(readme);
    return line;
}

/* Figure 4 from curve.csv: means at steps every run logged (10: ntp (2+3)/2,
 * jepa (1+2)/2; step 30 only in one run: absent); then the rule: run
 * directories gone -> redrawn from the .dat; a listed run no longer ok ->
 * missing. Figure 5: epoch 1 accuracy (10+20)/2 = 15. */
Test(paper, figure_extraction_and_fallback) {
    if (!gnuplot_ok()) return;
    Grid g;
    grid(&g, "fig4", FIG4);
    const GridRun *r[4] = {run_of(&g, "ntp", NULL, 82), run_of(&g, "ntp", NULL, 23), run_of(&g, "jepa", NULL, 82),
                           run_of(&g, "jepa", NULL, 23)};
    double loss[4] = {2, 3, 1, 2}, acc[4] = {10, 20, 30, 50};
    for (int i = 0; i < 4; i++) {
        ok(&g, r[i]->arm, NULL, (unsigned)r[i]->cfg.seed, "5", "5");
        curve(r[i], loss[i], 0.5 + i, acc[i], i == 0);
    }
    make();
    char *dat = out_file("fig4.dat");
    cr_assert_not_null(dat);
    char want[200];
    snprintf(want, sizeof want, "# runs: %s %s %s %s\n", r[0]->run_id, r[1]->run_id, r[2]->run_id, r[3]->run_id);
    cr_expect(strncmp(dat, want, strlen(want)) == 0, "want %s first in\n%s", want, dat);
    cr_expect(has_point(dat, 10, 2.5) && has_point(dat, 10, 1.5) && has_point(dat, 20, 1.25), "%s", dat);
    cr_expect(!has_x(dat, 30), "step 30 is in one run only:\n%s", dat);
    char *dat5 = out_file("fig5.dat");
    cr_expect(dat5 && has_point(dat5, 1, 15) && has_point(dat5, 2, 25) && has_point(dat5, 1, 40), "%s", dat5);
    free(dat5);
    cr_expect(strstr(readme_row("Figure 4"), "| **made** |") != NULL, "%s", readme_row("Figure 4"));

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s/fig4/runs'", results);
    cr_assert_eq(system(cmd), 0);
    make();
    cr_expect(strstr(readme_row("Figure 4"), "**made**: figure drawn from the committed data file fig4.dat (4 runs")
              != NULL, "%s", readme_row("Figure 4"));
    char *dat2 = out_file("fig4.dat"), *png = out_file("fig4.png");
    cr_expect_str_eq(dat2, dat, "the committed data file is left as it was");
    cr_expect_not_null(png);
    free(dat2), free(png);

    rec(&g, r[2], "failed", NULL); /* a listed run's last row is no longer ok */
    make();
    cr_expect(strstr(readme_row("Figure 4"), "| **missing**: ") != NULL, "%s", readme_row("Figure 4"));
    cr_expect(strstr(readme_row("Figure 4"), "figure: the run directories of its 3 runs") != NULL, "%s",
              readme_row("Figure 4"));
    free(dat);
    grid_free(&g);
}

/* Figures drawn from runs.csv (Figure 3, Figure 7, STP) and Figure 6 from
 * probe/tsne.csv: files written, the .dat names its runs. */
Test(paper, figures_from_results) {
    if (!gnuplot_ok()) return;
    Grid g3, gp;
    grid(&g3, "fig3", "model = pico\nseeds = 82, 23\n[baseline]\nloss = ntp\n[jepa]\nloss = jepa\n"
                      "k = 0, 1\nlambda = 1, 2\n");
    grid(&gp, "probes", PROBES);
    ok(&g3, "baseline", NULL, 82, "40", "40");
    ok(&g3, "jepa", "k=0", 82, "41", "41");
    ok(&g3, "jepa", "lambda=2", 23, "42", "42");
    probe_run(&gp, "ntp", 82, "100", "3", "5 1 0.5");
    probe_run(&gp, "jepa_k1", 82, "1", "0.2", "0.3 0.2 0.1");
    char path[512];
    snprintf(path, sizeof path, "%s/probes/runs/%s/probe/tsne.csv", results, run_of(&gp, "ntp", NULL, 82)->run_id);
    write_file(path, "i,view,x,y\n0,text,1,2\n1,text,2,1\n2,code,-1,-2\n3,code,-2,-1\n");
    make();
    const char *files[] = {"fig3.png", "fig3.svg", "fig3.gp", "fig7.png", "fig7.dat", "fig6.png", "fig6.dat"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *f = out_file(files[i]);
        cr_expect_not_null(f, "%s not written", files[i]);
        free(f);
    }
    char *dat = out_file("fig6.dat"), want[100];
    snprintf(want, sizeof want, "# runs: %s\n", run_of(&gp, "ntp", NULL, 82)->run_id);
    cr_expect(dat && strncmp(dat, want, strlen(want)) == 0, "%s", dat);
    cr_expect(strstr(readme_row("Figure 6"), "figure drawn from 1 of 2 runs") != NULL, "%s", readme_row("Figure 6"));
    char *md = out_file("fig3.md");
    cr_expect(md && strstr(md, "Figure scripts: [fig3.gp](fig3.gp) reading [fig3.dat](fig3.dat).") != NULL, "%s", md);
    free(md);
    free(dat);
    grid_free(&g3);
    grid_free(&gp);
}

/* ---- Table 4 ---- */

/* Table 4: fine-tuning after NTP (baseline) or LLM-JEPA (jepa) pretraining, or from
 * scratch, read from acc_exact (startswith is 10 more). baseline 50 52 54 (52.00 ± 2.00);
 * jepa 53 54 58 (55.00 ± 2.65), d = 3 2 4, t = 3/(1/√3) = 5.196, p(df 2) = 1/2 - t/(2
 * sqrt(t^2 + 2)) = 0.0175, CI 3 ± 4.302653/√3 = [0.52, 5.48], d_z = 3; scratch 49 50 51
 * (50.00 ± 1.00), d = -1 -2 -3, t = -3.464, p = 0.963, CI [-4.48, 0.48], d_z = -2; Holm
 * 2 × 0.0175 = 0.0351, max(0.0351, 0.963). The paper's Rotten Tomatoes numbers sit beside
 * baseline and jepa; its Yelp numbers have no cell. */
Test(paper, table4_pretraining_arms) {
    char ntp[128], jepa[128], text[600];
    snprintf(ntp, sizeof ntp, "%s/models/ntp/config.json", tmp);
    snprintf(jepa, sizeof jepa, "%s/models/jepa/config.json", tmp);
    write_file(ntp, "{\"pretrained\": \"ntp\"}");
    write_file(jepa, "{\"pretrained\": \"jepa\"}");
    snprintf(text, sizeof text, "model = pico\ndataset = rotten_tomatoes\nseeds = 82, 23, 37\n[baseline]\n"
             "init = %s/models/ntp\n[jepa]\ninit = %s/models/jepa\n[scratch]\nloss = ntp\n", tmp, tmp);
    Grid g;
    grid(&g, "table4", text);
    const char *v[3][3] = {{"50", "52", "54"}, {"53", "54", "58"}, {"49", "50", "51"}};
    const char *arms[] = {"baseline", "jepa", "scratch"};
    unsigned seeds[] = {82, 23, 37};
    for (int a = 0; a < 3; a++)
        for (int i = 0; i < 3; i++) {
            char sw[16];
            snprintf(sw, sizeof sw, "%d", atoi(v[a][i]) + 10);
            ok(&g, arms[a], NULL, seeds[i], v[a][i], sw);
        }
    make();
    char *md = out_file("table4.md");
    ROW(md, "baseline", "| baseline | 3 | 52.00 ± 2.00 | — | — | — | — | — | 56.57 ± 1.66 |  |");
    ROW(md, "jepa", "| jepa | 3 | 55.00 ± 2.65 | +3.00 | [+0.52, +5.48] | 3.00 | 0.0175 | 0.0351 | 57.76 ± 1.33 "
                    "(p = 7.38e-4) |  |");
    ROW(md, "scratch", "| scratch | 3 | 50.00 ± 1.00 | -2.00 | [-4.48, +0.48] | -2.00 | 0.963 | 0.963 | — |  |");
    cr_expect(strstr(md, "Published numbers without a cell here: baseline dataset=yelp: 26.46 ± 0.92; jepa "
                         "dataset=yelp: 27.15 ± 0.93 (p = 1.00e-3).") != NULL, "%s", md);
    cr_expect(strstr(md, "Yelp is not reproduced") != NULL, "%s", md);
    cr_expect(strstr(readme_row("Table 4"), "| 9 ok | acc_exact | **made** |") != NULL, "%s", readme_row("Table 4"));
    free(md);
    grid_free(&g);
}
