/* The task table (task.h): registry consistency, every shipped data file
 * passing its task's load checks, malformed examples refused with file and
 * line, scoring through the table, and choice scoring (choice.h) against an
 * independent log-softmax on the host. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "choice.h"
#include "config.h"
#include "data.h"
#include "evaluate.h"
#include "pico.h"
#include "score.h"
#include "task.h"
#include "task_score.h"
#include "train.h"

Test(task, names_macro_matches_the_table) {
    char joined[512] = "";
    for (int i = 0; i < task_count(); i++) {
        if (i) strcat(joined, "|");
        strcat(joined, task_at(i)->name);
    }
    cr_assert_str_eq(joined, TASK_NAMES, "TASK_NAMES (the dataset key's choices) must list the task table in order");
    cr_assert_null(task_find("nonesuch"));
    cr_assert_null(task_at(task_count()));
}

Test(task, every_metric_is_registered_and_scored) {
    for (int i = 0; i < task_count(); i++) {
        const Task *t = task_at(i);
        cr_assert_gt(task_nmetrics(t), 0, "%s has no metric", t->name);
        for (int j = 0; j < task_nmetrics(t); j++) {
            const char *m = t->metrics[j];
            cr_assert_geq(task_metric_index(m), 0, "%s: metric %s not in the registry", t->name, m);
            int scored = text_metric_find(m) || !strcmp(m, "dfa") || !strcmp(m, "exec") ||
                         (!strcmp(m, "choice") && t->eval == TASK_CHOICE);
            cr_assert(scored, "%s: metric %s has no scorer", t->name, m);
        }
        cr_assert(t->train || t->no_train, "%s: an evaluation-only task must say why", t->name);
    }
}

/* Load split of task t from the shipped data/ and run its checks. */
static void check_split(const Task *t, const char *split) {
    char path[1024], err[1024];
    dataset_path(t->name, split, path, sizeof path);
    Dataset d;
    cr_assert_eq(dataset_load(path, 0, &d, err, sizeof err), 0, "%s", err);
    cr_assert_eq(task_check_dataset(t, &d, err, sizeof err), 0, "%s", err);
    dataset_free(&d);
}

Test(task, every_shipped_split_passes_its_checks, .timeout = 60) {
    setenv("HARNESS_DATA", SOURCE_DIR "/data", 1);
    for (int i = 0; i < task_count(); i++) {
        const Task *t = task_at(i);
        if (t->train) check_split(t, "train");
        check_split(t, "test");
    }
}

/* A one-line jsonl of (system, user, assistant) checked under task `name`:
 * expect an error naming FILE:1 and `word`. */
static void expect_refused(const char *name, const char *user, const char *assistant, const char *word) {
    char path[] = "/tmp/jepa_task_XXXXXX", line[1024], err[1024];
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    int n = snprintf(line, sizeof line,
                     "{\"messages\": [{\"role\": \"user\", \"content\": \"%s\"}, {\"role\": \"assistant\", "
                     "\"content\": \"%s\"}]}\n", user, assistant);
    cr_assert_eq(write(fd, line, (size_t)n), n);
    close(fd);
    Dataset d;
    cr_assert_eq(dataset_load(path, 0, &d, err, sizeof err), 0, "%s", err);
    cr_expect_neq(task_check_dataset(task_find(name), &d, err, sizeof err), 0, "%s accepted %s", name, line);
    char want[64];
    snprintf(want, sizeof want, "%s:1:", path);
    cr_expect(strstr(err, want) && strstr(err, word), "error '%s' should name '%s' and say '%s'", err, want, word);
    dataset_free(&d);
    unlink(path);
}

Test(task, malformed_examples_are_refused_with_file_and_line) {
    expect_refused("synth", "lines with dog", "((dog)", "regex");
    expect_refused("gsm8k", "How many?", "It is 4.", "####");
    expect_refused("spider", "How many cities?", "SELECT 1", "db_id");
    expect_refused("spider", "For db_id:[../etc]\\n\\nHow many?", "SELECT 1", "db_id");
    expect_refused("hellaswag", "A context.\\nA) x\\nB) y\\nC) z", "A", "hellaswag");
}

/* Score gen against target under task name; correct flags into c. */
static void score(const char *name, const char *user, const char *target, const char *gen, int *c) {
    Example e = {"", (char *)user, (char *)target, 1};
    TaskEnv env = task_env_default();
    int und;
    char note[256], err[512];
    cr_assert_eq(task_score(task_find(name), &env, &e, gen, c, &und, note, sizeof note, err, sizeof err), 0, "%s", err);
}

Test(task, scores_through_the_table) {
    int c[TASK_MAX_METRICS];
    score("synth", "", "(dog)|(truck)", "(truck)|(dog)", c); /* exact, startswith, dfa */
    cr_expect(c[0] == 0 && c[1] == 0 && c[2] == 1, "a reordered union: exact wrong, dfa right (%d %d %d)", c[0], c[1], c[2]);
    score("synth", "", "(dog)|(truck)", "(dog)|(truck)x", c);
    cr_expect(c[0] == 0 && c[1] == 1 && c[2] == 0);
    score("gsm8k", "", "2 + 2 = 4\n#### 4", "two and two make 4\n#### 4", c); /* gsm8k, exact */
    cr_expect(c[0] == 1 && c[1] == 0);
    score("nq_open", "", "Guy Henry; Henry", "the Guy Henry", c); /* nq, nq_contains, exact */
    cr_expect(c[0] == 1 && c[1] == 1 && c[2] == 0);
    score("rotten_tomatoes", "", "Good", "Good, not bad", c);
    cr_expect(c[0] == 0);
}

Test(task, spider_exec_needs_spider_db) {
    Example e = {"", "For db_id:[x]\n\nq", "SELECT 1", 1};
    TaskEnv env = task_env_default();
    int c[TASK_MAX_METRICS], und;
    char note[64], err[512];
    /* without spider_db: exec is not scored (-1), exact still is */
    cr_assert_eq(task_score(task_find("spider"), &env, &e, "SELECT 1", c, &und, note, sizeof note, err, sizeof err), 0,
                 "%s", err);
    cr_expect(c[0] == -1 && c[1] == 1, "exec %d exact %d", c[0], c[1]);
    /* with a spider_db that lacks the database: an error naming the file */
    env.spider_db = "/nonexistent_spider_db";
    cr_assert_neq(task_score(task_find("spider"), &env, &e, "SELECT 1", c, &und, note, sizeof note, err, sizeof err), 0);
    cr_expect(strstr(err, "/nonexistent_spider_db/x/x.sqlite"), "%s", err);
}

/* −log p(ending tokens | prefix), mean over the ending, by a host
 * log-softmax of the model's own forward over one NTP row. */
static double host_nll(Model *m, const char *context, const char *ending) {
    Example ex = {"", (char *)context, (char *)ending, 0};
    int idx = 0;
    ViewOpts vo = {0};
    Batch b = {0};
    cr_assert_eq(batch_build(&b, &ex, &idx, 1, &vo, 0), 0);
    const float *h = model_forward(m, &b);
    cr_assert_not_null(h);
    int C = m->cfg.dim, V = m->cfg.vocab_size, start = 3 + (int)strlen(context), len = (int)strlen(ending);
    const float *W = model_param(m, m->tid_lm_head);
    double sum = 0;
    for (int t = start - 1; t < start - 1 + len; t++) { /* token t predicts t + 1, an ending byte */
        double mx = -INFINITY, *lg = malloc((size_t)V * sizeof *lg), z = 0;
        for (int v = 0; v < V; v++) {
            double s = 0;
            for (int c = 0; c < C; c++) s += (double)h[(size_t)t * C + c] * W[(size_t)v * C + c];
            lg[v] = s, mx = fmax(mx, s);
        }
        for (int v = 0; v < V; v++) z += exp(lg[v] - mx);
        sum += -(lg[b.ids[t + 1]] - mx - log(z));
        cr_assert_eq(b.ids[t + 1], (unsigned char)ending[t + 1 - start]);
        free(lg);
    }
    batch_free(&b);
    return sum / len;
}

Test(task, choice_scoring_matches_a_host_log_softmax) {
    Model m;
    pico_model(&m, NULL, 0, 7, 0.3f, 0.1);
    model_set_training(&m, 0, 0);
    const char *ctx = PICO_EX[1].user, *end[4] = {" mat.", " roof of the house", " dog", ""};
    ChoiceWork cw = {0};
    double nll[4];
    int best;
    char err[256];
    cr_assert_eq(choice_pick(&m, NULL, "", ctx, end, 4, 0, &cw, &best, nll, err, sizeof err), 0, "%s", err);
    for (int i = 0; i < 3; i++) {
        double want = host_nll(&m, ctx, end[i]);
        cr_expect(fabs(nll[i] - want) < 1e-4 * fmax(1, fabs(want)), "ending %d: %g vs host %g", i, nll[i], want);
    }
    cr_expect(isinf(nll[3]), "an empty ending scores +inf");
    int argmin = 0;
    for (int i = 1; i < 4; i++) argmin = nll[i] < nll[argmin] ? i : argmin;
    cr_expect_eq(best, argmin);
    /* scored alone, an ending gets the same value (rows do not see each other) */
    double alone;
    int b1;
    cr_assert_eq(choice_pick(&m, NULL, "", ctx, end + 1, 1, 0, &cw, &b1, &alone, err, sizeof err), 0, "%s", err);
    cr_expect(fabs(alone - nll[1]) < 1e-5, "%g alone vs %g in the batch", alone, nll[1]);
    /* never truncated: too long for max_pos is an error */
    char *big = malloc((size_t)m.cfg.max_pos + 8);
    memset(big, 'x', (size_t)m.cfg.max_pos + 7);
    big[m.cfg.max_pos + 7] = 0;
    cr_expect_neq(choice_pick(&m, NULL, "", big, end, 2, 0, &cw, &b1, NULL, err, sizeof err), 0);
    cr_expect(strstr(err, "max_position_embeddings"), "%s", err);
    free(big);
    choice_work_free(&cw);
    model_free(&m);
}

/* A pico run config on task `dataset` (few examples; data from the source tree). */
static void task_config(Config *c, const char *dataset, const char *epochs) {
    char err[256];
    setenv("HARNESS_DATA", SOURCE_DIR "/data", 1);
    config_defaults(c);
    const char *kv[][2] = {{"model", "pico"}, {"dataset", dataset}, {"train_limit", "16"}, {"test_limit", "4"},
                           {"epochs", epochs}, {"batch_size", "8"}, {"max_new_tokens", "8"}, {"threads", "1"},
                           {"system_prompt", "omit"}, {"max_position_embeddings", "2048"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        cr_assert_eq(config_set(c, kv[i][0], kv[i][1], err, sizeof err), 0, "%s=%s: %s", kv[i][0], kv[i][1], err);
}

Test(task, evaluation_only_tasks_run_with_epochs_0_and_refuse_training, .timeout = 60) {
    Config c;
    TrainResult res;
    char err[1024];
    task_config(&c, "gsm8k", "1");
    cr_expect_neq(train_run(&c, NULL, NULL, &res, err, sizeof err), 0);
    cr_expect(strstr(err, "no train split") && strstr(err, "epochs=0"), "%s", err);
    task_config(&c, "hellaswag", "0");
    cr_assert_eq(train_run(&c, NULL, NULL, &res, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(res.status, "ok");
    cr_expect_eq(res.eval.n, 4);
    cr_expect(!isnan(eval_acc(&res.eval, "choice")) && isnan(eval_acc(&res.eval, "exact")));
    task_config(&c, "spider", "1"); /* no spider_db: exec not scored, exact is */
    cr_assert_eq(train_run(&c, NULL, NULL, &res, err, sizeof err), 0, "%s", err);
    cr_expect(isnan(eval_acc(&res.eval, "exec")) && res.eval.unscored[0], "exec is not scored");
    cr_expect(!isnan(eval_acc(&res.eval, "exact")));
    task_config(&c, "rotten_tomatoes", "1");
    cr_assert_eq(train_run(&c, NULL, NULL, &res, err, sizeof err), 0, "%s", err);
    cr_expect_eq(res.steps, 2);
    cr_expect(!isnan(eval_acc(&res.eval, "exact")));
}
