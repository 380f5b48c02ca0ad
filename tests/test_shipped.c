/* The shipped models (models/README.md, scripts/ship_base.sh): every models/<name>/ directory
 * is a known shipped model whose files match the hashes recorded beside it, it is the
 * checkpoint of the grid run it was copied from (trained from random initialisation on the
 * dataset and loss that run names), and every committed run that starts from it recorded its
 * content hash. A model not made yet (models/paraphrase_* before grids/paraphrase.grid has
 * been run and shipped) is skipped; the base model must be there. Also scripts/ship_base.sh
 * itself, run on a small results tree in a temporary directory. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "backend.h"
#include "checkpoint.h"
#include "config.h"
#include "fsutil.h"
#include "grid.h"
#include "hash.h"
#include "model.h"
#include "store.h"

/* A shipped model: models/<dir> is the checkpoint of the run of arm `arm` of
 * grids/<grid>.grid, trained from scratch on `dataset` with `loss`. */
typedef struct {
    const char *dir, *grid, *arm, *dataset, *loss;
} Shipped;

static const Shipped SHIPPED[] = {
    {"nlrx_base_nano", "base", "base", "nlrx_base", "ntp"},
    {"paraphrase_ntp_nano", "paraphrase", "ntp", "paraphrase", "ntp"},
    {"paraphrase_jepa_nano", "paraphrase", "jepa", "paraphrase", "jepa"},
};
#define NSHIPPED ((int)(sizeof SHIPPED / sizeof SHIPPED[0]))

static const Shipped *shipped_find(const char *dir) {
    for (int i = 0; i < NSHIPPED; i++)
        if (!strcmp(SHIPPED[i].dir, dir)) return &SHIPPED[i];
    return NULL;
}

/* The names of the directories under SOURCE_DIR/models, into names (at most max); their count. */
static int models_present(char names[][128], int max) {
    char pattern[1100];
    snprintf(pattern, sizeof pattern, "%s/models/*/", SOURCE_DIR);
    glob_t g;
    int n = 0;
    if (glob(pattern, 0, NULL, &g) != 0) return 0; /* the trailing '/' matches directories only */
    for (size_t i = 0; i < g.gl_pathc && n < max; i++) {
        char *p = g.gl_pathv[i];
        size_t len = strlen(p);
        while (len > 1 && p[len - 1] == '/') p[--len] = 0;
        snprintf(names[n++], 128, "%s", basename(p));
    }
    globfree(&g);
    return n;
}

Test(shipped, every_model_directory_is_known) {
    char names[64][128];
    int n = models_present(names, 64), base = 0;
    for (int i = 0; i < n; i++) {
        cr_expect_not_null(shipped_find(names[i]), "models/%s is not in tests/test_shipped.c's table of shipped "
                           "models (add its grid, arm, dataset and loss there, and a section in models/README.md)",
                           names[i]);
        base += !strcmp(names[i], "nlrx_base_nano");
    }
    cr_expect_eq(base, 1, "models/nlrx_base_nano, the base the fine-tuning grids start from, is missing");
}

/* models/<dir>/SHA256SUMS lists config.json and model.safetensors with their hashes. */
static void expect_sums_match(const char *dir) {
    char path[1100], line[512], err[512];
    snprintf(path, sizeof path, "%s/models/%.127s/SHA256SUMS", SOURCE_DIR, dir);
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "cannot open %s", path);
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char want[65], name[256], got[65], file[1100];
        cr_assert_eq(sscanf(line, "%64s %255s", want, name), 2, "%s: malformed line %s", path, line);
        cr_expect(!strcmp(name, "config.json") || !strcmp(name, "model.safetensors"), "%s lists %s", path, name);
        snprintf(file, sizeof file, "%s/models/%.127s/%s", SOURCE_DIR, dir, name);
        cr_assert_eq(sha256_file(file, got, err, sizeof err), 0, "%s", err);
        cr_expect_str_eq(got, want, "models/%s/%s changed since it was shipped (scripts/ship_base.sh)", dir, name);
        n++;
    }
    fclose(f);
    cr_expect_eq(n, 2, "models/%s/SHA256SUMS lists config.json and model.safetensors", dir);
}

Test(shipped, files_match_sha256sums) {
    char names[64][128];
    int n = models_present(names, 64);
    for (int i = 0; i < n; i++) expect_sums_match(names[i]);
    cr_log_info("%d shipped models checked", n);
}

/* Whether grids/<s->grid>.grid has a run of arm s->arm with run_id id. */
static int grid_has_run(const Shipped *s, const char *id) {
    char path[1100], err[1024];
    snprintf(path, sizeof path, "%s/grids/%s.grid", SOURCE_DIR, s->grid);
    Grid g;
    cr_assert_eq(grid_parse_file(path, &g, err, sizeof err), 0, "%s", err);
    int found = 0;
    for (int i = 0; i < g.nruns; i++) found |= !strcmp(g.runs[i].arm, s->arm) && !strcmp(g.runs[i].run_id, id);
    grid_free(&g);
    return found;
}

/* The checkpoint records its run: s's dataset and loss, no init, and the identity of a run of
 * s's grid arm (its config hashes to that run's run_id). */
static void expect_made_by(const Shipped *s) {
    char dir[1100], err[512], id[17];
    snprintf(dir, sizeof dir, "%s/models/%s", SOURCE_DIR, s->dir);
    Model m;
    Config run;
    int has_run = 0;
    cr_assert_eq(checkpoint_load(&m, backend_cpu(), dir, &run, &has_run, err, sizeof err), 0, "%s", err);
    model_free(&m);
    cr_assert(has_run, "models/%s records its run config", s->dir);
    cr_expect_str_eq(run.dataset, s->dataset, "models/%s was trained on %s", s->dir, run.dataset);
    cr_expect_str_eq(run.loss, s->loss, "models/%s was trained with loss %s", s->dir, run.loss);
    cr_expect_str_eq(run.init, "", "models/%s is trained from random initialisation", s->dir);
    cr_assert_eq(config_run_id(&run, id, err, sizeof err), 0, "%s", err);
    cr_expect(grid_has_run(s, id), "models/%s (run %s) is not a run of arm %s of grids/%s.grid as the grid is now",
              s->dir, id, s->arm, s->grid);
}

Test(shipped, each_model_is_its_grid_run) {
    char names[64][128];
    int n = models_present(names, 64), checked = 0;
    for (int i = 0; i < n; i++) {
        const Shipped *s = shipped_find(names[i]);
        if (!s) continue; /* every_model_directory_is_known says so */
        expect_made_by(s);
        checked++;
    }
    for (int i = 0; i < NSHIPPED; i++) {
        int here = 0;
        for (int j = 0; j < n; j++) here |= !strcmp(names[j], SHIPPED[i].dir);
        if (!here) cr_log_info("models/%s not shipped yet (grids/%s.grid, scripts/ship_base.sh)", SHIPPED[i].dir,
                               SHIPPED[i].grid);
    }
    cr_expect_geq(checked, 1);
}

/* Every committed runs.csv row whose init is a directory under models/ names that shipped
 * model's content hash; the model must be there. */
Test(shipped, committed_runs_started_from_shipped_models) {
    char pattern[1100], dir[1100], hex[65], err[512];
    snprintf(pattern, sizeof pattern, "%s/results/*/runs.csv", SOURCE_DIR);
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0) cr_skip_test("no committed runs.csv");
    int checked = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        Table t;
        cr_assert_eq(store_read(g.gl_pathv[i], &t, err, sizeof err), 0, "%s", err);
        for (int r = 0; r < t.nrows; r++) {
            const char *init = table_get(&t, r, "init"), *sha = table_get(&t, r, "init_sha256");
            if (!init || strncmp(init, "models/", 7)) continue;
            snprintf(dir, sizeof dir, "%s/%s", SOURCE_DIR, init);
            int rc = checkpoint_content_hash(dir, hex, err, sizeof err);
            cr_expect_eq(rc, 0, "%s row %d starts from %s, which is not shipped: %s", g.gl_pathv[i], r + 2, init, err);
            if (rc) continue;
            cr_expect_str_eq(sha ? sha : "", hex, "%s row %d: init_sha256 is not the content hash of the shipped %s",
                             g.gl_pathv[i], r + 2, init);
            checked++;
        }
        table_free(&t);
    }
    globfree(&g);
    cr_log_info("%d committed runs started from a shipped model", checked);
}

/* ---- scripts/ship_base.sh on a results tree in a temporary directory ---- */

static char sb[64]; /* the temporary repository: scripts/, results/, models/ */

static void sb_setup(void) {
    snprintf(sb, sizeof sb, "/tmp/test_shipped_XXXXXX");
    cr_assert_not_null(mkdtemp(sb));
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/scripts' && cp '%s/scripts/ship_base.sh' '%s/scripts/'", sb, SOURCE_DIR,
             sb);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void sb_teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sb);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", sb);
}

TestSuite(ship_script, .init = sb_setup, .fini = sb_teardown);

static void put(const char *rel, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", sb, rel);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    cr_assert_eq(mkdir_p(dir), 0, "%s", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

/* A finished run of grid g: DONE holding status, checkpoint files with the given contents. */
static void run_dir(const char *g, const char *id, const char *status, const char *config, const char *weights) {
    char rel[256];
    snprintf(rel, sizeof rel, "results/%s/runs/%s/DONE", g, id);
    put(rel, status);
    snprintf(rel, sizeof rel, "results/%s/runs/%s/checkpoint/config.json", g, id);
    put(rel, config);
    snprintf(rel, sizeof rel, "results/%s/runs/%s/checkpoint/model.safetensors", g, id);
    put(rel, weights);
}

static char out_s[8192]; /* the script's stdout and stderr */

/* Run scripts/ship_base.sh args in the temporary repository; its exit status. */
static int ship(const char *args) {
    char cmd[1024], path[256];
    snprintf(path, sizeof path, "%s/out.txt", sb);
    snprintf(cmd, sizeof cmd, "bash '%s/scripts/ship_base.sh' %s > '%s' 2>&1", sb, args, path);
    int st = system(cmd);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out_s, 1, sizeof out_s - 1, f) : 0;
    out_s[n] = 0;
    if (f) fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The contents of a file of the temporary repository ("" when absent). */
static const char *got(const char *rel) {
    static char buf[4096];
    char path[512];
    snprintf(path, sizeof path, "%s/%s", sb, rel);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
    return buf;
}

/* Grid p: arm ntp ran as run a (failed, then ok on a rerun: two rows), arm jepa as run b (ok)
 * and c (diverged); runs.csv quotes a field with a comma, as store_append does. */
static void paraphrase_tree(void) {
    run_dir("p", "a", "ok", "{\"c\": 1}", "weights ntp");
    run_dir("p", "b", "ok", "{\"c\": 2}", "weights jepa");
    run_dir("p", "c", "diverged", "{\"c\": 3}", "weights diverged");
    put("results/p/runs.csv", "run_id,grid,arm,status,command_line\na,p,ntp,failed,\"x, y\"\na,p,ntp,ok,\"x, y\"\n"
                              "b,p,jepa,ok,z\nc,p,jepa,diverged,z\n");
}

Test(ship_script, ships_the_run_of_the_named_arm) {
    paraphrase_tree();
    cr_assert_eq(ship("p jepa models/m"), 0, "%s", out_s);
    cr_expect_str_eq(got("models/m/model.safetensors"), "weights jepa", "%s", out_s);
    cr_expect_str_eq(got("models/m/config.json"), "{\"c\": 2}");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "cd '%s/models/m' && sha256sum -c --quiet SHA256SUMS", sb);
    cr_expect_eq(system(cmd), 0, "SHA256SUMS does not match the shipped files");
    cr_assert_eq(ship("p ntp models/n"), 0, "%s", out_s);
    cr_expect_str_eq(got("models/n/model.safetensors"), "weights ntp", "%s", out_s);
}

Test(ship_script, rerun_identical_weights_same_or_changed_config) {
    paraphrase_tree();
    cr_assert_eq(ship("p ntp models/m"), 0, "%s", out_s);
    cr_expect_eq(ship("p ntp models/m"), 0, "%s", out_s);
    cr_expect(strstr(out_s, "models/m is identical to run a (bit-for-bit reproduced)") != NULL, "%s", out_s);
    put("results/p/runs/a/checkpoint/config.json", "{\"c\": 1, \"new_key\": 0}");
    cr_expect_eq(ship("p ntp models/m"), 0, "%s", out_s);
    cr_expect(strstr(out_s, "reproduced the weights (model.safetensors) bit for bit") != NULL, "%s", out_s);
    cr_expect(strstr(out_s, "kept the shipped copy") != NULL, "%s", out_s);
    cr_expect_str_eq(got("models/m/config.json"), "{\"c\": 1}", "the shipped config.json is kept");
}

Test(ship_script, a_different_run_needs_force) {
    paraphrase_tree();
    cr_assert_eq(ship("p ntp models/m"), 0, "%s", out_s);
    cr_expect_eq(ship("p jepa models/m"), 1, "%s", out_s);
    cr_expect(strstr(out_s, "run b differs from the shipped models/m") && strstr(out_s, "--force replaces it"), "%s",
              out_s);
    cr_expect_str_eq(got("models/m/model.safetensors"), "weights ntp", "kept without --force");
    cr_expect_eq(ship("p jepa models/m --force"), 0, "%s", out_s);
    cr_expect_str_eq(got("models/m/model.safetensors"), "weights jepa", "replaced with --force");
}

Test(ship_script, refuses_missing_ambiguous_and_malformed) {
    paraphrase_tree();
    cr_expect_eq(ship("p stp models/m"), 1, "%s", out_s);
    cr_expect(strstr(out_s, "no finished run of arm stp under results/p/runs") != NULL, "%s", out_s);
    cr_expect_eq(ship("q ntp models/m"), 1, "%s", out_s);
    cr_expect(strstr(out_s, "no results/q/runs.csv (run: build/harness run grids/q.grid)") != NULL, "%s", out_s);
    put("results/p/runs/c/DONE", "ok"); /* two finished runs of arm jepa */
    cr_expect_eq(ship("p jepa models/m"), 1, "%s", out_s);
    cr_expect(strstr(out_s, "2 finished runs of arm jepa under results/p/runs, expected 1") != NULL, "%s", out_s);
    cr_expect_eq(ship("p ntp"), 2, "%s", out_s);
    cr_expect_eq(ship("p ntp models/m --forse"), 2, "%s", out_s);
    cr_expect_str_eq(got("models/m/model.safetensors"), "", "nothing shipped");
}

/* Without arguments: the one finished run under results/base/runs -> models/nlrx_base_nano. */
Test(ship_script, no_arguments_ship_the_base) {
    cr_expect_eq(ship(""), 1, "%s", out_s);
    cr_expect(strstr(out_s, "no finished run under results/base/runs (run: build/harness run grids/base.grid)"),
              "%s", out_s);
    run_dir("base", "r1", "ok", "{}", "base weights");
    cr_assert_eq(ship(""), 0, "%s", out_s);
    cr_expect_str_eq(got("models/nlrx_base_nano/model.safetensors"), "base weights");
    run_dir("base", "r2", "ok", "{}", "other weights");
    cr_expect_eq(ship("--force"), 1, "%s", out_s);
    cr_expect(strstr(out_s, "2 finished runs under results/base/runs, expected 1") != NULL, "%s", out_s);
}
