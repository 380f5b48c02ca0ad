/* harness verify: the comparison on hand-made rows (contracts, tolerances,
 * missing runs), and end to end on a tiny pico grid against a reference made
 * by --update, an altered copy of which must fail. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "verify.h"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* t = the CSV text as a table (through a temporary file). */
static void table_of(const char *text, Table *t) {
    char path[] = "/tmp/jepa_verify_tab_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    write_file(path, text);
    char err[256];
    cr_assert_eq(store_read(path, t, err, sizeof err), 0, "%s", err);
    unlink(path);
}

#define HDR "run_id,arm,seed,status,acc_exact,ntp_loss,jepa_dist,steps,build_type,threads_used,blas_core\n"
static const char *REF = HDR "aaaa,baseline,82,ok,53.5,0.158428,,10,Release,1,Haswell\n"
                             "bbbb,jepa,82,ok,48.0,0.182735,0.175166,10,Release,1,Haswell\n";

static const VerifyRun *run_of(const VerifyReport *rep, const char *id) {
    for (int i = 0; i < rep->nruns; i++)
        if (!strcmp(rep->runs[i].run_id, id)) return &rep->runs[i];
    cr_assert_fail("no run %s in the report", id);
    return NULL;
}

static VerifyOutcome outcome_of(const VerifyRun *v, const char *col) {
    for (int k = 0; k < v->ncells; k++)
        if (!strcmp(v->cells[k].col->name, col)) return v->cells[k].outcome;
    cr_assert_fail("no column %s for run %s", col, v->run_id);
    return VO_DIFFERS;
}

static void compare(const char *ref, const char *now, Table *a, Table *b, VerifyReport *rep) {
    char err[256];
    table_of(ref, a);
    table_of(now, b);
    cr_assert_eq(verify_compare(a, b, NULL, 0, rep, err, sizeof err), 0, "%s", err);
}

static void done(Table *a, Table *b, VerifyReport *rep) {
    verify_report_free(rep);
    table_free(a);
    table_free(b);
}

Test(verify, identical_rows_are_bit_identical_under_the_contract) {
    Table a, b;
    VerifyReport rep;
    compare(REF, REF, &a, &b, &rep);
    cr_assert_eq(rep.nruns, 2);
    cr_expect_eq(rep.npass, 2);
    cr_expect_eq(rep.nexact, 2);
    const VerifyRun *v = run_of(&rep, "bbbb");
    cr_expect_eq(v->contract, CONTRACT_EXACT, "%s", v->why);
    cr_expect_eq(outcome_of(v, "jepa_dist"), VO_MATCH);
    cr_expect_eq(outcome_of(v, "acc_exact"), VO_MATCH);
    done(&a, &b, &rep);
}

Test(verify, last_bit_difference_fails_under_the_determinism_contract) {
    Table a, b;
    VerifyReport rep;
    compare(REF, HDR "aaaa,baseline,82,ok,53.5,0.158429,,10,Release,1,Haswell\n"
                     "bbbb,jepa,82,ok,48.0,0.182735,0.175166,10,Release,1,Haswell\n",
            &a, &b, &rep);
    const VerifyRun *v = run_of(&rep, "aaaa");
    cr_expect_eq(v->contract, CONTRACT_EXACT);
    cr_expect_eq(outcome_of(v, "ntp_loss"), VO_DIFFERS);
    cr_expect_not(v->pass);
    cr_expect(run_of(&rep, "bbbb")->pass);
    cr_expect_eq(rep.npass, 1);
    done(&a, &b, &rep);
}

Test(verify, other_blas_falls_back_to_tolerances) {
    Table a, b;
    VerifyReport rep;
    /* acc within 2 points and the loss within 1e-3 relative; the second run's accuracy is 5 points off */
    compare(REF, HDR "aaaa,baseline,82,ok,55.0,0.158500,,10,Release,1,SkylakeX\n"
                     "bbbb,jepa,82,ok,43.0,0.182735,0.175166,10,Release,1,SkylakeX\n",
            &a, &b, &rep);
    const VerifyRun *v = run_of(&rep, "aaaa");
    cr_expect_eq(v->contract, CONTRACT_TOLERANCE);
    cr_expect(strstr(v->why, "blas_core"), "why: %s", v->why);
    cr_expect_eq(outcome_of(v, "acc_exact"), VO_WITHIN);
    cr_expect_eq(outcome_of(v, "ntp_loss"), VO_WITHIN);
    cr_expect_eq(outcome_of(v, "steps"), VO_MATCH);
    cr_expect(v->pass);
    const VerifyRun *w = run_of(&rep, "bbbb");
    cr_expect_eq(outcome_of(w, "acc_exact"), VO_DIFFERS);
    cr_expect_not(w->pass);
    cr_expect_eq(rep.nwithin, 1);
    done(&a, &b, &rep);
}

Test(verify, contract_needs_every_provenance_column) {
    Table a, b;
    VerifyReport rep;
    char why[256];
    /* no BLAS column at all: unknown, tolerances */
    compare("run_id,status,acc_exact,build_type,threads_used\nx,ok,50,Release,1\n",
            "run_id,status,acc_exact,build_type,threads_used\nx,ok,50,Release,1\n", &a, &b, &rep);
    cr_expect_eq(verify_contract(&a, 0, &b, 0, why, sizeof why), CONTRACT_TOLERANCE);
    cr_expect(strstr(why, "BLAS unknown"), "why: %s", why);
    done(&a, &b, &rep);
    /* thread count differs */
    compare(REF, HDR "aaaa,baseline,82,ok,53.5,0.158428,,10,Release,2,Haswell\n", &a, &b, &rep);
    cr_expect_eq(verify_contract(&a, 0, &b, 0, why, sizeof why), CONTRACT_TOLERANCE);
    cr_expect(strstr(why, "threads_used"), "why: %s", why);
    done(&a, &b, &rep);
    /* a CPU column only the new rows have: unknown in the reference */
    compare(REF, "run_id,status,build_type,threads_used,blas_core,cpu_model\naaaa,ok,Release,1,Haswell,EPYC\n", &a,
            &b, &rep);
    cr_expect_eq(verify_contract(&a, 0, &b, 0, why, sizeof why), CONTRACT_TOLERANCE);
    cr_expect(strstr(why, "cpu_model") && strstr(why, "reference"), "why: %s", why);
    done(&a, &b, &rep);
    /* build type differs */
    compare(REF, HDR "aaaa,baseline,82,ok,53.5,0.158428,,10,Debug,1,Haswell\n", &a, &b, &rep);
    cr_expect_eq(verify_contract(&a, 0, &b, 0, why, sizeof why), CONTRACT_TOLERANCE);
    cr_expect(strstr(why, "build_type"), "why: %s", why);
    done(&a, &b, &rep);
}

Test(verify, missing_runs_fail_with_their_reason) {
    Table a, b;
    VerifyReport rep;
    char err[256];
    table_of(REF, &a);
    table_of(HDR "bbbb,jepa,82,ok,48.0,0.182735,0.175166,10,Release,1,Haswell\n"
                 "cccc,jepa,23,ok,47.0,0.186016,0.168672,10,Release,1,Haswell\n",
             &b);
    const char *ids[] = {"bbbb", "cccc", "dddd"};
    cr_assert_eq(verify_compare(&a, &b, ids, 3, &rep, err, sizeof err), 0, "%s", err);
    cr_assert_eq(rep.nruns, 4);
    cr_expect_eq(run_of(&rep, "bbbb")->state, VR_COMPARED);
    cr_expect_eq(run_of(&rep, "cccc")->state, VR_NOT_IN_REF);
    cr_expect_eq(run_of(&rep, "dddd")->state, VR_NOT_RECORDED);
    cr_expect_eq(run_of(&rep, "aaaa")->state, VR_NOT_RUN);
    cr_expect_eq(rep.npass, 1);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    verify_print(f, &rep, "t", "ref.csv", "runs.csv");
    fclose(f);
    cr_expect(strstr(buf, "**FAIL**: 3 of 4 runs fail"), "%s", buf);
    cr_expect(strstr(buf, "cccc | jepa | 23 | — | FAIL: not in the reference"), "%s", buf);
    cr_expect(strstr(buf, "aaaa | baseline | 82 | — | FAIL: in the reference, but no run made it"), "%s", buf);
    cr_expect(strstr(buf, "recorded no row"), "%s", buf);
    free(buf);
    done(&a, &b, &rep);
}

Test(verify, last_row_of_a_run_counts_and_values_print) {
    Table a, b;
    VerifyReport rep;
    compare(REF, HDR "aaaa,baseline,82,failed,,,,,Release,1,Haswell\n"
                     "aaaa,baseline,82,ok,53.5,0.158428,,10,Release,1,Haswell\n"
                     "bbbb,jepa,82,ok,48.0,0.182735,0.175166,10,Release,1,Haswell\n"
                     "bbbb,jepa,82,diverged,,,,3,Release,1,Haswell\n",
            &a, &b, &rep);
    cr_expect(run_of(&rep, "aaaa")->pass);
    const VerifyRun *v = run_of(&rep, "bbbb");
    cr_expect_eq(outcome_of(v, "status"), VO_DIFFERS);
    cr_expect_not(v->pass);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    verify_print(f, &rep, "t", "ref.csv", "runs.csv");
    fclose(f);
    cr_expect(strstr(buf, "| bbbb | status | ok | diverged | **differs** |"), "%s", buf);
    cr_expect(strstr(buf, "| bbbb | acc_exact | 48.0 | (empty) | **differs** |"), "%s", buf);
    cr_expect(strstr(buf, "| aaaa | acc_exact | 53.5 | 53.5 | matches |"), "%s", buf);
    cr_expect(strstr(buf, "bit-identical (same build_type Release, threads_used 1 and BLAS)"), "%s", buf);
    free(buf);
    buf = NULL;
    f = open_memstream(&buf, &len);
    int moved = verify_print_moved(f, &rep);
    fclose(f);
    cr_expect_eq(moved, 5, "moved %d:\n%s", moved, buf); /* status, acc_exact, ntp_loss, jepa_dist, steps */
    cr_expect(strstr(buf, "- bbbb (jepa, seed 82) `steps`: 10 → 3"), "%s", buf);
    free(buf);
    done(&a, &b, &rep);
}

Test(verify, value_tolerances) {
    const VerifyColumn *c;
    int n = verify_columns(&c);
    const VerifyColumn *acc = NULL, *loss = NULL, *status = NULL, *sv = NULL;
    for (int i = 0; i < n; i++) {
        if (!strcmp(c[i].name, "acc_exact")) acc = &c[i];
        if (!strcmp(c[i].name, "ntp_loss")) loss = &c[i];
        if (!strcmp(c[i].name, "status")) status = &c[i];
        if (!strcmp(c[i].name, "probe_sv")) sv = &c[i];
    }
    cr_assert(acc && loss && status && sv);
    cr_expect_eq(verify_value(acc, CONTRACT_TOLERANCE, "50.0", "52.0"), VO_WITHIN);
    cr_expect_eq(verify_value(acc, CONTRACT_TOLERANCE, "50.0", "47.5"), VO_DIFFERS);
    cr_expect_eq(verify_value(acc, CONTRACT_TOLERANCE, "50.0", "50.00"), VO_WITHIN);
    cr_expect_eq(verify_value(acc, CONTRACT_EXACT, "50.0", "50.00"), VO_DIFFERS);
    cr_expect_eq(verify_value(acc, CONTRACT_TOLERANCE, "50.0", "abc"), VO_DIFFERS);
    cr_expect_eq(verify_value(acc, CONTRACT_TOLERANCE, "50.0", NULL), VO_DIFFERS);
    cr_expect_eq(verify_value(acc, CONTRACT_TOLERANCE, NULL, ""), VO_MATCH);
    cr_expect_eq(verify_value(loss, CONTRACT_TOLERANCE, "1.0", "1.0009"), VO_WITHIN);
    cr_expect_eq(verify_value(loss, CONTRACT_TOLERANCE, "1.0", "0.9989"), VO_DIFFERS);
    cr_expect_eq(verify_value(loss, CONTRACT_TOLERANCE, "1.0", "nan"), VO_DIFFERS);
    cr_expect_eq(verify_value(status, CONTRACT_TOLERANCE, "ok", "diverged"), VO_DIFFERS);
    cr_expect_eq(verify_value(sv, CONTRACT_TOLERANCE, "1 2 3", "1 2 4"), VO_WITHIN);
    cr_expect_eq(verify_value(sv, CONTRACT_EXACT, "1 2 3", "1 2 4"), VO_DIFFERS);
}

/* End to end: the built harness on a tiny pico grid. */
static const char *GRID = "dataset = synth\n"
                          "model = pico\n"
                          "epochs = 1\n"
                          "batch_size = 16\n"
                          "train_limit = 48\n"
                          "test_limit = 8\n"
                          "max_new_tokens = 24\n"
                          "epoch_eval_limit = 0\n"
                          "threads = 1\n"
                          "seeds = 82\n"
                          "[baseline]\n"
                          "loss = ntp\n"
                          "[jepa]\n"
                          "loss = jepa\n";

/* Run `harness verify ARGS` (stdout to out, stderr to out.err); returns its exit code. */
static int verify_cmd(const char *args, const char *out) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s verify %.1200s >%.128s 2>%.128s.err", HARNESS_BIN, args, out, out);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

/* Copy the reference src to dst with row `row`'s column col set to v (NULL: the row left out). */
static void altered_copy(const char *src, const char *dst, int row, const char *col, const char *v) {
    Table t;
    char err[256];
    cr_assert_eq(store_read(src, &t, err, sizeof err), 0, "%s", err);
    unlink(dst);
    for (int r = 0; r < t.nrows; r++) {
        if (r == row && !v) continue;
        char **vals = store_row_values(&t, r);
        cr_assert_not_null(vals);
        if (r == row) {
            free(vals[store_column_index(col)]);
            vals[store_column_index(col)] = strdup(v);
        }
        cr_assert_eq(store_append(dst, (const char *const *)vals, store_columns(NULL), err, sizeof err), 0, "%s", err);
        store_values_free(vals);
    }
    table_free(&t);
}

Test(verify, end_to_end_update_then_verify_then_altered_reference, .timeout = 300) {
    char dir[] = "/tmp/jepa_verify_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char grid[128], ref[128], res[128], out[128], args[1024], bad[128], errpath[160];
    snprintf(grid, sizeof grid, "%s/tiny.grid", dir);
    snprintf(ref, sizeof ref, "%s/reference.csv", dir);
    snprintf(res, sizeof res, "%s/results", dir);
    snprintf(out, sizeof out, "%s/out.md", dir);
    snprintf(bad, sizeof bad, "%s/bad.csv", dir);
    write_file(grid, GRID);
    /* no reference yet: an error saying how to make one */
    snprintf(args, sizeof args, "%s --reference %s --results %s -j 2", grid, ref, res);
    cr_assert_eq(verify_cmd(args, out), 1);
    snprintf(errpath, sizeof errpath, "%s.err", out);
    char *err = slurp(errpath);
    cr_expect(strstr(err, "no reference") && strstr(err, "--update"), "%s", err);
    free(err);
    /* --update makes it and lists both runs as added */
    snprintf(args, sizeof args, "%s --reference %s --results %s --update", grid, ref, res);
    cr_assert_eq(verify_cmd(args, out), 0);
    char *md = slurp(out);
    cr_expect(strstr(md, "added") && strstr(md, "Wrote") && strstr(md, "2 runs"), "%s", md);
    free(md);
    Table t;
    char e[256];
    cr_assert_eq(store_read(ref, &t, e, sizeof e), 0, "%s", e);
    cr_expect_eq(t.nrows, 2);
    table_free(&t);
    /* a fresh run (temporary directory) against it passes */
    snprintf(args, sizeof args, "%s --reference %s -j 2", grid, ref);
    cr_assert_eq(verify_cmd(args, out), 0);
    md = slurp(out);
    cr_expect(strstr(md, "**PASS**: 2 runs"), "%s", md);
    cr_expect(strstr(md, "| acc_exact |") && strstr(md, "matches"), "%s", md);
    free(md);
    /* an accuracy 10 points off fails, naming both values */
    snprintf(bad, sizeof bad, "%s/bad.csv", dir);
    altered_copy(ref, bad, 0, "acc_exact", "99.5");
    snprintf(args, sizeof args, "%s --reference %s --results %s", grid, bad, res);
    cr_assert_eq(verify_cmd(args, out), 1);
    md = slurp(out);
    cr_expect(strstr(md, "**FAIL**: 1 of 2 runs fail") && strstr(md, "| 99.5 |") && strstr(md, "**differs**"), "%s", md);
    free(md);
    /* a reference without one run: that run fails as not in the reference */
    altered_copy(ref, bad, 1, NULL, NULL);
    cr_assert_eq(verify_cmd(args, out), 1);
    md = slurp(out);
    cr_expect(strstr(md, "FAIL: not in the reference"), "%s", md);
    free(md);
    /* --update after the deliberate change says what moved, and then it passes again */
    altered_copy(ref, bad, 0, "acc_exact", "99.5");
    snprintf(args, sizeof args, "%s --reference %s --results %s --update", grid, bad, res);
    cr_assert_eq(verify_cmd(args, out), 0);
    md = slurp(out);
    cr_expect(strstr(md, "`acc_exact`: 99.5 → "), "%s", md);
    free(md);
    snprintf(args, sizeof args, "%s --reference %s --results %s", grid, bad, res);
    cr_expect_eq(verify_cmd(args, out), 0);
    /* a run that fails: verify fails, and --update refuses to make it the reference */
    char failing[128];
    snprintf(failing, sizeof failing, "%s/tiny_failing.grid", dir);
    write_file(failing, "dataset = synth\nmodel = pico\nepochs = 1\ntrain_limit = 8\ntest_limit = 2\n"
                        "max_position_embeddings = 16\nseeds = 82\n[baseline]\nloss = ntp\n");
    snprintf(args, sizeof args, "%s --reference %s --results %s --update", failing, bad, res);
    cr_expect_eq(verify_cmd(args, out), 1);
    err = slurp(errpath);
    cr_expect(strstr(err, "failed; the reference is left as it is"), "%s", err);
    free(err);
    cr_assert_eq(store_read(bad, &t, e, sizeof e), 0, "%s", e);
    cr_expect_eq(t.nrows, 2, "the reference was changed");
    table_free(&t);
    snprintf(args, sizeof args, "rm -rf %s", dir);
    cr_expect_eq(system(args), 0);
}
