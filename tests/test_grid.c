/* Tests of harness/grid.c: parsing, expansion, overrides and every error. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grid.h"

static const char *EXAMPLE =
    "# Figure 3: k × λ sweep on NL-RX-SYNTH\n"
    "dataset = synth\n"
    "model   = nano\n"
    "epochs  = 4\n"
    "lr      = 8e-5\n"
    "seeds   = 82, 23, 37, 84, 4\n"
    "\n"
    "[baseline]\n"
    "loss = ntp\n"
    "\n"
    "[jepa]\n"
    "loss   = jepa\n"
    "k      = 0, 1, 2, 3, 4\n"
    "lambda = 0.5, 1, 2, 4\n";

static Grid parse_ok(const char *text) {
    Grid g;
    char err[512] = "";
    int rc = grid_parse_text(text, "t.grid", NULL, &g, err, sizeof err);
    cr_assert_eq(rc, 0, "parse failed: %s", err);
    return g;
}

Test(grid, example_expands) {
    Grid g = parse_ok(EXAMPLE);
    cr_assert_str_eq(g.name, "t");
    cr_assert_str_eq(g.path, "t.grid");
    cr_assert_eq(g.nruns, 1 * 5 + 20 * 5);
    cr_assert_eq(g.ncells, 21);
    const uint64_t seeds[] = {82, 23, 37, 84, 4};
    for (int i = 0; i < g.nruns; i++) {
        const GridRun *r = &g.runs[i];
        cr_assert_eq(r->cell, i / 5, "run %d cell %d", i, r->cell);
        cr_assert_eq(r->cfg.seed, seeds[i % 5], "run %d seed", i);
        cr_assert_str_eq(r->cfg.dataset, "synth");
        cr_assert_str_eq(r->cfg.model, "nano");
        cr_assert_eq(r->cfg.epochs, 4);
        cr_assert_eq(r->cfg.lr, 8e-5);
        char id[17];
        cr_assert_eq(config_run_id(&r->cfg, id, NULL, 0), 0);
        cr_assert_str_eq(r->run_id, id);
        for (int j = 0; j < i; j++) cr_assert_str_neq(r->run_id, g.runs[j].run_id, "runs %d and %d", i, j);
        if (i < 5) {
            cr_assert_str_eq(r->arm, "baseline");
            cr_assert_str_eq(r->cfg.loss, "ntp");
            cr_assert_eq(r->cfg.k, 1); /* schema default */
        } else {
            cr_assert_str_eq(r->arm, "jepa");
            cr_assert_str_eq(r->cfg.loss, "jepa");
            int c = r->cell - 1; /* k slowest, lambda fastest */
            const double lambdas[] = {0.5, 1, 2, 4};
            cr_assert_eq(r->cfg.k, c / 4, "run %d k=%d", i, r->cfg.k);
            cr_assert_eq(r->cfg.lambda, lambdas[c % 4], "run %d lambda=%g", i, r->cfg.lambda);
        }
    }
    /* spot check: run 25 is cell 5 = k=1 lambda=0.5, seed 82 */
    cr_assert_eq(g.runs[25].cfg.k, 1);
    cr_assert_eq(g.runs[25].cfg.lambda, 0.5);
    cr_assert_eq(g.runs[25].cfg.seed, 82);
    grid_free(&g);
    cr_assert_null(g.runs);
    cr_assert_eq(g.nruns, 0);
    grid_free(&g); /* twice is fine */
}

Test(grid, overrides_and_arm_seeds) {
    Grid g = parse_ok("loss = jepa\n"
                      "k = 1, 2   # top axis\n"
                      "lr = 1e-3\n"
                      "seeds = 1, 2\n"
                      "[fixed]\n"
                      "k = 3\n"
                      "seeds = 7\n"
                      "[inherit]\n"
                      "lambda = 2\n"
                      "[empty]\n");
    /* fixed: 1 cell x 1 seed; inherit: 2 cells x 2 seeds; empty: 2 cells x 2 seeds */
    cr_assert_eq(g.ncells, 5);
    cr_assert_eq(g.nruns, 9);
    cr_assert_str_eq(g.runs[0].arm, "fixed");
    cr_assert_eq(g.runs[0].cfg.k, 3);
    cr_assert_eq(g.runs[0].cfg.seed, 7);
    cr_assert_eq(g.runs[0].cfg.lr, 1e-3);
    cr_assert_str_eq(g.runs[1].arm, "inherit");
    cr_assert_eq(g.runs[1].cfg.k, 1);
    cr_assert_eq(g.runs[1].cfg.seed, 1);
    cr_assert_eq(g.runs[2].cfg.seed, 2);
    cr_assert_eq(g.runs[3].cfg.k, 2);
    cr_assert_eq(g.runs[3].cfg.lambda, 2.0);
    cr_assert_eq(g.runs[3].cell, 2);
    cr_assert_str_eq(g.runs[5].arm, "empty");
    cr_assert_eq(g.runs[5].cfg.lambda, 1.0);
    cr_assert_eq(g.runs[8].cell, 4);
    grid_free(&g);
}

Test(grid, first_appearing_axis_slowest) {
    /* the top-level axis lambda appears first, even though the arm's k is
     * an axis too; overriding keeps the top key's position */
    Grid g = parse_ok("lambda = 1, 2\nloss = jepa\n[a]\nk = 0, 1, 2\nlambda = 4, 8\n");
    cr_assert_eq(g.ncells, 6);
    cr_assert_eq(g.nruns, 6);
    const double lam[] = {4, 4, 4, 8, 8, 8};
    const int k[] = {0, 1, 2, 0, 1, 2};
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(g.runs[i].cfg.lambda, lam[i], "run %d", i);
        cr_assert_eq(g.runs[i].cfg.k, k[i], "run %d", i);
    }
    grid_free(&g);
}

Test(grid, no_sections_is_main_with_default_seed) {
    Grid g = parse_ok("\xEF\xBB\xBF# demo\r\n  epochs=2 # short\r\n\r\nbatch_size = 8, 16\r\n");
    cr_assert_eq(g.nruns, 2);
    cr_assert_eq(g.ncells, 2);
    Config d;
    config_defaults(&d);
    for (int i = 0; i < 2; i++) {
        cr_assert_str_eq(g.runs[i].arm, "main");
        cr_assert_eq(g.runs[i].cfg.seed, d.seed);
        cr_assert_eq(g.runs[i].cfg.epochs, 2);
    }
    cr_assert_eq(g.runs[0].cfg.batch_size, 8);
    cr_assert_eq(g.runs[1].cfg.batch_size, 16);
    grid_free(&g);
}

Test(grid, explicit_name) {
    Grid g;
    char err[256];
    cr_assert_eq(grid_parse_text("epochs = 1\n", "dir/x.grid", "custom", &g, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(g.name, "custom");
    grid_free(&g);
    cr_assert_eq(grid_parse_text("epochs = 1\n", "dir/fig3.grid", NULL, &g, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(g.name, "fig3");
    grid_free(&g);
}

/* Double-quoted items hold commas: one item each. */
Test(grid, quoted_items) {
    Grid g = parse_ok("lora_rank = 4\n"
                      "lora_targets = \"q,v\", \"q,k,v,o,gate,up,down\"  # two values\n"
                      "[a]\n"
                      "lora_dropout = \"0.05\", 0.2\n");
    cr_assert_eq(g.ncells, 4);
    cr_assert_eq(g.nruns, 4);
    cr_expect_str_eq(g.runs[0].cfg.lora_targets, "q,v");
    cr_expect_eq(g.runs[0].cfg.lora_dropout, 0.05);
    cr_expect_eq(g.runs[1].cfg.lora_dropout, 0.2);
    cr_expect_str_eq(g.runs[2].cfg.lora_targets, "q,k,v,o,gate,up,down");
    grid_free(&g);
    /* a quoted single value, '#' inside quotes, and an empty quoted item */
    g = parse_ok("lora_rank = 2\nlora_targets = \"q,k\"\n");
    cr_assert_eq(g.nruns, 1);
    cr_expect_str_eq(g.runs[0].cfg.lora_targets, "q,k");
    grid_free(&g);
    g = parse_ok("init = \"\"\n");
    cr_expect_str_eq(g.runs[0].cfg.init, "");
    grid_free(&g);
    /* without quotes a comma list is an axis of single targets */
    g = parse_ok("lora_rank = 2\nlora_targets = q, v\n");
    cr_expect_eq(g.nruns, 2);
    cr_expect_str_eq(g.runs[1].cfg.lora_targets, "v");
    grid_free(&g);
}

/* ---- errors ---- */

typedef struct {
    const char *text;
    const char *where; /* "t.grid:LINE: " */
    const char *word;  /* a telling word in the message */
} Bad;

static const Bad BAD[] = {
    {"epochs = 2\nlr 3e-4\n", "t.grid:2: ", "no '='"},
    {"epochs = 2\n = 3\n", "t.grid:2: ", "empty key"},
    {"epochs =   # nothing\n", "t.grid:1: ", "empty value"},
    {"\nk = 1,,2\n", "t.grid:2: ", "empty item"},
    {"k = 1, 2,\n", "t.grid:1: ", "empty item"},
    {"k = , 1\n", "t.grid:1: ", "empty item"},
    {"epochs = 2\nepoch = 3\n", "t.grid:2: ", "unknown key 'epoch'"},
    {"epochs = two\n", "t.grid:1: ", "expected an integer"},
    {"lr = fast\n", "t.grid:1: ", "expected a number"},
    {"k = 1, 99\n", "t.grid:1: ", "out of range"},
    {"loss = ntp, jpa\n", "t.grid:1: ", "not one of"},
    {"k = 1, 2, 1\n", "t.grid:1: ", "appears twice"},
    {"lambda = 1, 1.0\n", "t.grid:1: ", "appears twice"},
    {"[base\nk = 1\n", "t.grid:1: ", "unterminated"},
    {"k = 1\n[ ]\n", "t.grid:2: ", "empty arm name"},
    {"[a b]\n", "t.grid:1: ", "bad arm name"},
    {"[a] x\n", "t.grid:1: ", "after ']'"},
    {"[a]\nk = 1\n[b]\nk = 2\n[a]\n", "t.grid:5: ", "duplicate arm"},
    {"k = 1\nlr = 1e-3\nk = 2\n", "t.grid:3: ", "set twice"},
    {"[a]\nk = 1\n\nk = 2\n", "t.grid:4: ", "set twice"},
    {"seeds = 1, 2\nseeds = 3\n", "t.grid:2: ", "set twice"},
    {"seeds = 82, x\n", "t.grid:1: ", "bad seed"},
    {"seeds = -1\n", "t.grid:1: ", "bad seed"},
    {"seeds = 99999999999999999999\n", "t.grid:1: ", "bad seed"},
    {"seeds = 82, 23, 82\n", "t.grid:1: ", "duplicate seed"},
    {"seed = 5\n", "t.grid:1: ", "seeds"},
    {"", "t.grid:0: ", "empty grid"},
    {"# only a comment\n\n   \n", "t.grid:0: ", "empty grid"},
    {"epochs = 2\n\n[a]\nadam_beta1 = 1\n", "t.grid:3: ", "adam_beta1"},
    {"k = 1\n[a]\n[b]\n", "t.grid:3: ", "same run_id"},
    {"threads = 1, 2\n", "t.grid:1: ", "same run_id"},
    {"epochs = 1\nlora_targets = \"q,v\", \"q,k\n", "t.grid:2: ", "unterminated quote"},
    {"lora_targets = \"q,v\" x, k\n", "t.grid:1: ", "after the closing quote"},
    {"lora_targets = \"q,v\",\n", "t.grid:1: ", "empty item"},
    {"lora_targets = \"q,x\"\n", "t.grid:1: ", "not a target"},
    {"k = 1\n\n[a]\ninit = /nonexistent/ckpt_dir\n", "t.grid:4: ", "init: checkpoint directory /nonexistent/ckpt_dir"},
    {"init = /nonexistent/x\n[a]\nk = 2\n", "t.grid:1: ", "init: "},
};

Test(grid, every_error_has_file_line_and_word) {
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        Grid g;
        char err[512] = "";
        int rc = grid_parse_text(BAD[i].text, "t.grid", NULL, &g, err, sizeof err);
        cr_expect_eq(rc, -1, "case %zu accepted: %s", i, BAD[i].text);
        cr_expect_eq(strncmp(err, BAD[i].where, strlen(BAD[i].where)), 0, "case %zu: '%s' does not start '%s'",
                     i, err, BAD[i].where);
        cr_expect_not_null(strstr(err, BAD[i].word), "case %zu: '%s' lacks '%s'", i, err, BAD[i].word);
        cr_expect_eq(g.nruns, 0);
        cr_expect_null(g.runs);
    }
}

Test(grid, too_many_runs) {
    Grid g;
    char err[512];
    int rc = grid_parse_text("train_limit = 1,2,3,4,5,6,7,8,9,10\ntest_limit = 1,2,3,4,5,6,7,8,9,10\n"
                             "epochs = 1,2,3,4,5,6,7,8,9,10\nbatch_size = 1,2,3,4,5,6,7,8,9,10\n"
                             "max_new_tokens = 1,2,3,4,5,6,7,8,9,10,11\n",
                             "t.grid", NULL, &g, err, sizeof err);
    cr_assert_eq(rc, -1);
    cr_assert_not_null(strstr(err, "too many runs"), "%s", err);
}

/* ---- files ---- */

static char tmpdir[64];

static void mk_tmp(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_grid_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmp(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* An init checkpoint is hashed once per grid; two paths to the same files
 * are the same run (same run_id: a duplicate), and a '#' in a quoted path
 * is not a comment. */
Test(grid, init_hashed_once_per_grid, .init = mk_tmp, .fini = rm_tmp) {
    char a[128], b[128], path[256], text[1024];
    snprintf(a, sizeof a, "%s/ck#1", tmpdir);
    snprintf(b, sizeof b, "%s/ck2", tmpdir);
    const char *dirs[] = {a, b};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(mkdir(dirs[i], 0755), 0);
        snprintf(path, sizeof path, "%s/model.safetensors", dirs[i]);
        write_file(path, "same bytes");
    }
    Grid g;
    char err[1024] = "";
    snprintf(text, sizeof text, "init = \"%s\"\nseeds = 1, 2, 3\nlr = 1e-3, 2e-3\n", a);
    cr_assert_eq(grid_parse_text(text, "t.grid", NULL, &g, err, sizeof err), 0, "%s", err);
    cr_expect_eq(g.nruns, 6);
    cr_expect_str_eq(g.runs[0].cfg.init, a);
    cr_expect_eq(g.hashes.n, 1, "one init directory, hashed once: %d entries", g.hashes.n);
    grid_free(&g);
    snprintf(text, sizeof text, "init = \"%s\", %s\n", a, b);
    cr_expect_eq(grid_parse_text(text, "t.grid", NULL, &g, err, sizeof err), -1);
    cr_expect_not_null(strstr(err, "same run_id"), "%s", err);
}

Test(grid, parse_file, .init = mk_tmp, .fini = rm_tmp) {
    char path[128];
    snprintf(path, sizeof path, "%s/fig3.grid", tmpdir);
    write_file(path, EXAMPLE);
    Grid g;
    char err[512] = "";
    cr_assert_eq(grid_parse_file(path, &g, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(g.name, "fig3");
    cr_assert_str_eq(g.path, path);
    cr_assert_eq(g.nruns, 105);
    grid_free(&g);
}

Test(grid, file_errors, .init = mk_tmp, .fini = rm_tmp) {
    char path[128], want[160];
    Grid g;
    char err[512] = "";
    snprintf(path, sizeof path, "%s/missing.grid", tmpdir);
    cr_assert_eq(grid_parse_file(path, &g, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:0: ", path);
    cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
    cr_assert_not_null(strstr(err, "cannot open"), "%s", err);

    snprintf(path, sizeof path, "%s/empty.grid", tmpdir);
    write_file(path, "");
    cr_assert_eq(grid_parse_file(path, &g, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:0: ", path);
    cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
    cr_assert_not_null(strstr(err, "empty grid"), "%s", err);

    snprintf(path, sizeof path, "%s/bad.grid", tmpdir);
    write_file(path, "epochs = 2\n\n[jepa]\nloss = jepa\nk = 0, 1, 17\n");
    cr_assert_eq(grid_parse_file(path, &g, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:5: ", path);
    cr_assert_eq(strncmp(err, want, strlen(want)), 0, "%s", err);
    cr_assert_not_null(strstr(err, "'k'"), "%s", err);

    cr_assert_eq(grid_parse_file(tmpdir, &g, err, sizeof err), -1); /* a directory */
    cr_assert_not_null(strstr(err, ":0: "), "%s", err);
}

/* JEPA-only keys do not enter an NTP run's identity: a lambda axis over an
 * NTP arm would run the same model twice, and is an error naming the arm. */
Test(grid, jepa_keys_do_not_split_ntp_runs) {
    Grid g;
    char err[1024];
    cr_expect_neq(grid_parse_text("seeds = 1\n[baseline]\nloss = ntp\nlambda = 0.5, 1\n", "x.grid", "x", &g, err,
                                  sizeof err), 0);
    cr_expect(strstr(err, "x.grid:2:") && strstr(err, "loss=ntp"), "%s", err);
    /* the same axis inside a jepa arm is fine, and the NTP run's id ignores lambda */
    cr_assert_eq(grid_parse_text("seeds = 1\nlambda = 2\n[baseline]\nloss = ntp\n[jepa]\nloss = jepa\n"
                                 "lambda = 0.5, 1\n", "y.grid", "y", &g, err, sizeof err), 0, "%s", err);
    cr_expect_eq(g.nruns, 3);
    Config c;
    config_defaults(&c);
    c.seed = 1;
    char id[17];
    cr_assert_eq(config_run_id(&c, id, NULL, 0), 0);
    cr_expect_str_eq(g.runs[0].run_id, id, "an NTP run with lambda=2 has the id of the default NTP run");
    cr_expect_str_neq(g.runs[1].run_id, g.runs[2].run_id);
    grid_free(&g);
}

/* Every grid the project ships parses, from the repository root (where init paths such as
 * models/nlrx_base_nano resolve), into at least one run. */
Test(grid, every_shipped_grid_parses) {
    cr_assert_eq(chdir(SOURCE_DIR), 0);
    glob_t gl;
    cr_assert_eq(glob("grids/*.grid", 0, NULL, &gl), 0, "no grids/*.grid under %s", SOURCE_DIR);
    for (size_t i = 0; i < gl.gl_pathc; i++) {
        Grid g;
        char err[1024];
        int rc = grid_parse_file(gl.gl_pathv[i], &g, err, sizeof err);
        cr_expect_eq(rc, 0, "%s", err);
        if (rc) continue;
        cr_expect_gt(g.nruns, 0, "%s: no runs", gl.gl_pathv[i]);
        grid_free(&g);
    }
    cr_expect_geq(gl.gl_pathc, 15);
    globfree(&gl);
}

/* ---- Hardening (issue 10): the parser is linear in its input, and a grid name never
 * leaves the results directory. The timeouts are generous bounds (the cases take well under
 * a second); the quadratic duplicate checks they replace took minutes on these inputs. */

/* A list of about `bytes` bytes: "KEY = " then items made by fmt from 0, 1, 2, ... */
static char *big_list(const char *key, const char *fmt, size_t bytes) {
    char *t = malloc(bytes + 64);
    cr_assert_not_null(t);
    size_t k = (size_t)sprintf(t, "%s = ", key);
    for (unsigned i = 0; k < bytes; i++) k += (size_t)sprintf(t + k, fmt, i);
    t[k - 2] = 0; /* drop the last ", " */
    return t;
}

static void expect_refused(const char *text, const char *want) {
    Grid g;
    char err[1024] = "";
    cr_expect_eq(grid_parse_text(text, "big.grid", NULL, &g, err, sizeof err), -1);
    cr_expect(strstr(err, "big.grid:") && strstr(err, want), "error '%s' should say '%s'", err, want);
}

Test(grid_hardening, ten_megabyte_seeds_line_refused_fast, .timeout = 20) {
    char *t = big_list("seeds", "%u, ", 10u << 20); /* 1.3 million distinct seeds */
    expect_refused(t, "a list holds at most 100000");
    free(t);
    t = big_list("seeds", "7, ", 10u << 20); /* 3.5 million times the same seed */
    expect_refused(t, "a list holds at most 100000");
    free(t);
}

Test(grid_hardening, ten_megabyte_value_lists_refused_fast, .timeout = 20) {
    const char *keys[] = {"lr", "train_limit", "lambda", "init"};
    const char *fmts[] = {"%u.5e-9, ", "%u, ", "%u.25, ", "\"/no/such/%u\", "};
    for (int i = 0; i < 4; i++) {
        char *t = big_list(keys[i], fmts[i], 10u << 20);
        expect_refused(t, "a list holds at most 100000");
        free(t);
    }
}

/* The largest lists allowed, with a repeat at the very end: found through the hash set. */
Test(grid_hardening, duplicates_in_long_lists_found_fast, .timeout = 20) {
    size_t k;
    char *t = malloc(2u << 20);
    k = (size_t)sprintf(t, "seeds = ");
    for (unsigned i = 0; i < 99999; i++) k += (size_t)sprintf(t + k, "%u, ", i);
    sprintf(t + k, "0099998"); /* the same number as 99998 */
    expect_refused(t, "duplicate seed 99998 (items 99999 and 100000)");
    k = (size_t)sprintf(t, "lr = ");
    for (unsigned i = 0; i < 99999; i++) k += (size_t)sprintf(t + k, "%u.5e-9, ", i);
    sprintf(t + k, "5e-10"); /* = 0.5e-9, the first item */
    expect_refused(t, "appears twice in the list (items 1 and 100000)");
    free(t);
}

Test(grid_hardening, many_arms_refused_and_duplicate_arm_found_fast, .timeout = 20) {
    size_t cap = 11u << 20, k = 0;
    char *t = malloc(cap);
    for (unsigned i = 0; k < (10u << 20); i++) k += (size_t)sprintf(t + k, "[a%u]\n", i);
    expect_refused(t, "too many arms");
    k = 0;
    for (unsigned i = 0; i < 90000; i++) k += (size_t)sprintf(t + k, "[a%u]\n", i);
    sprintf(t + k, "[a89999]\n");
    expect_refused(t, "big.grid:90001: duplicate arm 'a89999' (first at line 90000)");
    free(t);
}

/* The most runs a grid may have, parsed (each run's config resolved and hashed). */
Test(grid_hardening, hundred_thousand_runs_parse, .timeout = 60) {
    size_t k;
    char *t = malloc(1u << 20);
    k = (size_t)sprintf(t, "seeds = ");
    for (unsigned i = 0; i < 1000; i++) k += (size_t)sprintf(t + k, "%s%u", i ? ", " : "", i);
    k += (size_t)sprintf(t + k, "\nlr = ");
    for (unsigned i = 0; i < 100; i++) k += (size_t)sprintf(t + k, "%s%u.5e-4", i ? ", " : "", i);
    Grid g;
    char err[1024] = "";
    cr_assert_eq(grid_parse_text(t, "big.grid", NULL, &g, err, sizeof err), 0, "%s", err);
    cr_expect_eq(g.nruns, GRID_MAX_RUNS);
    cr_expect_eq(g.ncells, 100);
    grid_free(&g);
    sprintf(t + k, ", 1");
    expect_refused(t, "too many runs");
    free(t);
}

/* A grid's results go to results/<name>/: names that would leave or hide in it are refused. */
Test(grid_hardening, grid_names_stay_in_the_results_directory) {
    const char *bad_files[] = {"...grid", "..grid", ".grid", "grids/...grid", "grids/.hidden.grid", "a..b.grid",
                               "sp ace.grid", "tab\t.grid", "nl\n.grid", "\x7f.grid", "caf\xc3\xa9.grid"};
    for (size_t i = 0; i < sizeof bad_files / sizeof *bad_files; i++) {
        Grid g;
        char err[1024] = "";
        cr_expect_eq(grid_parse_text("epochs = 1\n", bad_files[i], NULL, &g, err, sizeof err), -1, "accepted '%s'",
                     bad_files[i]);
        cr_expect(strstr(err, ":0: bad grid name") && strstr(err, "letters, digits"), "'%s': %s", bad_files[i], err);
    }
    const char *bad_names[] = {"", ".", "..", "../x", "a/b", "/abs", "x/..", "a..b", ".x"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        Grid g;
        char err[1024] = "";
        cr_expect_eq(grid_parse_text("epochs = 1\n", "ok.grid", bad_names[i], &g, err, sizeof err), -1,
                     "accepted name '%s'", bad_names[i]);
        cr_expect(strstr(err, "bad grid name") != NULL, "'%s': %s", bad_names[i], err);
        cr_expect(!grid_name_ok(bad_names[i]), "%s", bad_names[i]);
    }
    char longname[200];
    memset(longname, 'a', 128);
    longname[128] = 0;
    cr_expect(!grid_name_ok(longname));
    longname[127] = 0;
    cr_expect(grid_name_ok(longname));
    const char *good[] = {"fig3", "demo_lambda", "a.b", "A-1", "x."};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) cr_expect(grid_name_ok(good[i]), "%s", good[i]);
    Grid g;
    char err[1024] = "";
    cr_assert_eq(grid_parse_text("epochs = 1\n", "dir/v1.2.grid", NULL, &g, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(g.name, "v1.2");
    grid_free(&g);
}
