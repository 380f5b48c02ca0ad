/* The shipped base model (models/nlrx_base_nano, grids/base.grid, data/README.md): its files
 * match the hashes recorded beside it, it was pretrained on the base corpus (no test-split
 * answer), and every committed run that starts from it recorded its content hash. */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "checkpoint.h"
#include "config.h"
#include "hash.h"
#include "model.h"
#include "store.h"

#define BASE_DIR "models/nlrx_base_nano"

Test(shipped, base_files_match_sha256sums) {
    char path[1100], line[512], err[512];
    snprintf(path, sizeof path, "%s/%s/SHA256SUMS", SOURCE_DIR, BASE_DIR);
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "cannot open %s", path);
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char want[65], name[256], got[65];
        cr_assert_eq(sscanf(line, "%64s %255s", want, name), 2, "%s: malformed line %s", path, line);
        snprintf(path, sizeof path, "%s/%s/%s", SOURCE_DIR, BASE_DIR, name);
        cr_assert_eq(sha256_file(path, got, err, sizeof err), 0, "%s", err);
        cr_expect_str_eq(got, want, "%s changed since it was shipped (scripts/ship_base.sh)", name);
        n++;
    }
    fclose(f);
    cr_expect_eq(n, 2, "SHA256SUMS lists config.json and model.safetensors");
}

Test(shipped, base_pretrained_on_the_base_corpus) {
    char dir[1100], err[512];
    snprintf(dir, sizeof dir, "%s/%s", SOURCE_DIR, BASE_DIR);
    Model m;
    Config run;
    int has_run = 0;
    cr_assert_eq(checkpoint_load(&m, backend_cpu(), dir, &run, &has_run, err, sizeof err), 0, "%s", err);
    cr_assert(has_run, "the checkpoint records its run config");
    cr_expect_str_eq(run.dataset, "nlrx_base", "the base was trained on %s, not the disjoint base corpus", run.dataset);
    cr_expect_str_eq(run.loss, "ntp");
    cr_expect_str_eq(run.init, "", "the base is trained from random initialisation");
    model_free(&m);
}

/* Every committed runs.csv row whose init is the shipped base names its content hash. */
Test(shipped, committed_runs_started_from_this_base) {
    char pattern[1100], dir[1100], hex[65], err[512];
    snprintf(dir, sizeof dir, "%s/%s", SOURCE_DIR, BASE_DIR);
    cr_assert_eq(checkpoint_content_hash(dir, hex, err, sizeof err), 0, "%s", err);
    snprintf(pattern, sizeof pattern, "%s/results/*/runs.csv", SOURCE_DIR);
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0) cr_skip_test("no committed runs.csv");
    int checked = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        Table t;
        cr_assert_eq(store_read(g.gl_pathv[i], &t, err, sizeof err), 0, "%s", err);
        for (int r = 0; r < t.nrows; r++) {
            const char *init = table_get(&t, r, "init"), *sha = table_get(&t, r, "init_sha256");
            if (!init || strcmp(init, BASE_DIR)) continue;
            cr_expect_str_eq(sha ? sha : "", hex, "%s row %d: init_sha256 is not the shipped base's", g.gl_pathv[i], r + 2);
            checked++;
        }
        table_free(&t);
    }
    globfree(&g);
    cr_log_info("%d committed runs started from %s (%.12s…)", checked, BASE_DIR, hex);
}
