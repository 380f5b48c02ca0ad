/* `harness paper` on the committed fixture results (tests/fixtures/paper/:
 * tiny real runs of the paper's grids, remade by make.sh) reproduces the
 * committed expected tables, figure data and README byte for byte. The
 * pictures (PNG, SVG) depend on the gnuplot and font versions, so they are
 * checked to exist, not compared. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int sh(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Test(paper_fixture, reproduces_expected_outputs, .timeout = 300) {
    char dir[] = "/tmp/test_paper_fixture_XXXXXX", cmd[4096];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "cp -r %s/tests/fixtures/paper/results %s/tests/fixtures/paper/grids %s/ && "
             "cp -r %s/tests/fixtures/paper/expected %s/ref", SOURCE_DIR, SOURCE_DIR, dir, SOURCE_DIR, dir);
    cr_assert_eq(sh(cmd), 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "cd %s && %s paper --results results --out expected --grids grids 2>/dev/null", dir,
             HARNESS_BIN);
    cr_assert_eq(sh(cmd), 0, "%s", cmd);
    /* every text file of the reference, byte for byte; every picture present */
    snprintf(cmd, sizeof cmd,
             "cd %s && n=0 && for f in ref/*; do b=$(basename $f); case $b in *.png|*.svg) test -s expected/$b || exit 1;; "
             "*) cmp -s $f expected/$b || { diff $f expected/$b | head -5 >&2; exit 1; };; esac; n=$((n+1)); done; "
             "test $n -ge 20", dir);
    int rc = sh(cmd);
    cr_expect_eq(rc, 0, "harness paper on tests/fixtures/paper/results differs from tests/fixtures/paper/expected "
                 "(remake them with tests/fixtures/paper/make.sh after a deliberate change)");
    /* a missing artifact is listed with the command that would make it */
    snprintf(cmd, sizeof cmd, "grep -q 'grids/table3.grid.*missing.*harness run grids/table3.grid' %s/expected/README.md", dir);
    cr_expect_eq(sh(cmd), 0, "README.md does not list table3 as missing with its command");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    sh(cmd);
}

/* The committed paper/ is what `harness paper` makes of the committed results (every
 * results/<grid>/runs.csv and the figures' .dat files, as on a fresh clone, where run
 * directories are absent): a stale paper/ or a result committed without its paper/ fails. */
Test(paper_committed, regenerates_committed_paper, .timeout = 300) {
    char dir[] = "/tmp/test_paper_committed_XXXXXX", cmd[4096];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "cd %s && mkdir -p %s/results && for f in results/*/runs.csv; do mkdir -p %s/$(dirname $f) && "
             "cp $f %s/$f; done && cp -r grids paper models %s/ && cp -r paper %s/ref",
             SOURCE_DIR, dir, dir, dir, dir, dir);
    cr_assert_eq(sh(cmd), 0, "%s", cmd);
    snprintf(cmd, sizeof cmd, "cd %s && %s paper 2>/dev/null", dir, HARNESS_BIN);
    cr_assert_eq(sh(cmd), 0, "%s", cmd);
    snprintf(cmd, sizeof cmd,
             "cd %s && n=0 && for f in ref/*; do b=$(basename $f); case $b in *.png|*.svg) test -s paper/$b || exit 1;; "
             "*) cmp -s $f paper/$b || { diff $f paper/$b | head -5 >&2; exit 1; };; esac; n=$((n+1)); done; "
             "for f in paper/*; do test -e ref/$(basename $f) || { echo \"not committed: $f\" >&2; exit 1; }; done; "
             "test $n -ge 1",
             dir);
    cr_expect_eq(sh(cmd), 0, "build/harness paper on the committed results differs from the committed paper/ "
                 "(run build/harness paper and commit paper/)");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    sh(cmd);
}
