/* harness rescore GRID [--results DIR]: score the predictions.jsonl of a
 * grid's recorded runs again under their task's current metrics (task.h),
 * e.g. acc_dfa for runs recorded before the metric existed, and say how
 * often string match and language equivalence disagree. Reads only:
 * nothing recorded changes. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "store.h"
#include "task.h"
#include "task_score.h"

/* Counts of one run's predictions. */
typedef struct Rescore {
    int n, correct[TASK_MAX_METRICS], undecided;
    int exact_wrong_dfa_right, dfa_wrong_exact_right; /* NL-RX tasks: string match vs language */
} Rescore;

/* Index of metric m in t->metrics, or -1. */
static int metric_at(const Task *t, const char *m) {
    for (int j = 0; j < task_nmetrics(t); j++)
        if (!strcmp(t->metrics[j], m)) return j;
    return -1;
}

/* Score one predictions.jsonl line {prompt, target, generated} into r. 0 or -1 with err. */
static int rescore_line(const Task *t, const TaskEnv *env, const char *line, Rescore *r, char *err, size_t errn) {
    cJSON *o = cJSON_Parse(line);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "prompt"), *tg = cJSON_GetObjectItemCaseSensitive(o, "target"),
                *g = cJSON_GetObjectItemCaseSensitive(o, "generated");
    if (!cJSON_IsString(p) || !cJSON_IsString(tg) || !cJSON_IsString(g)) {
        cJSON_Delete(o);
        snprintf(err, errn, "expected a JSON object with string prompt, target and generated");
        return -1;
    }
    Example e = {"", p->valuestring, tg->valuestring, 0};
    int c[TASK_MAX_METRICS] = {0}, und = 0, rc = task_score(t, env, &e, g->valuestring, c, &und, NULL, 0, err, errn);
    if (!rc) {
        int ex = metric_at(t, "exact"), dfa = metric_at(t, "dfa");
        for (int j = 0; j < task_nmetrics(t); j++) r->correct[j] += c[j];
        r->undecided += und;
        if (ex >= 0 && dfa >= 0) r->exact_wrong_dfa_right += !c[ex] && c[dfa], r->dfa_wrong_exact_right += c[ex] && !c[dfa];
        r->n++;
    }
    cJSON_Delete(o);
    return rc;
}

/* Rescore the predictions file at path under task t. 0 or -1 with err (naming file and line). */
static int rescore_file(const Task *t, const char *path, Rescore *r, char *err, size_t errn) {
    memset(r, 0, sizeof *r);
    FILE *f = fopen(path, "r");
    if (!f) return snprintf(err, errn, "%s: cannot open", path), -1;
    TaskEnv env = task_env_default();
    char *line = NULL, why[512];
    size_t cap = 0;
    int lineno = 0, rc = 0;
    while (!rc && getline(&line, &cap, f) > 0) {
        lineno++;
        if (rescore_line(t, &env, line, r, why, sizeof why)) {
            snprintf(err, errn, "%s:%d: %s", path, lineno, why);
            rc = -1;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

/* One table row for run row i of t (task tk) into stdout; adds to the totals. */
static void print_run(const Table *tab, int i, const Task *tk, const Rescore *r) {
    printf("| %s | %s | %d |", table_get(tab, i, "run_id"), table_get(tab, i, "arm"), r->n);
    for (int j = 0; j < task_nmetrics(tk); j++) printf(" %.2f |", r->n ? 100.0 * r->correct[j] / r->n : 0.0);
    if (metric_at(tk, "dfa") >= 0) printf(" %d | %d | %d |", r->exact_wrong_dfa_right, r->dfa_wrong_exact_right, r->undecided);
    printf("\n");
}

static void rescore_usage(FILE *f) {
    fprintf(f, "usage: harness rescore GRID [--results DIR]\n"
               "  Scores the predictions.jsonl of every ok run of GRID (grids/NAME.grid or NAME; runs.csv under\n"
               "  DIR, default results) again with its task's current metrics, and prints one row per run.\n"
               "  For NL-RX tasks also: predictions string match calls wrong but the regex language check\n"
               "  (acc_dfa) calls right, the reverse (should be 0), and pairs undecided within the limits.\n"
               "  Reads only; nothing recorded changes. Runs whose directory is gone are listed as missing.\n");
}

int cmd_rescore(int argc, char **argv) {
    const char *grid = NULL, *results = "results";
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return rescore_usage(stdout), 0;
        if (!strcmp(argv[i], "--results") && i + 1 < argc) results = argv[++i];
        else if (!grid && argv[i][0] != '-') grid = argv[i];
        else return fprintf(stderr, "harness rescore: unexpected '%s'\n", argv[i]), rescore_usage(stderr), 2;
    }
    if (!grid) return rescore_usage(stderr), 2;
    char name[256], path[1400], err[2048];
    const char *b = strrchr(grid, '/');
    snprintf(name, sizeof name, "%s", b ? b + 1 : grid);
    size_t L = strlen(name);
    if (L > 5 && !strcmp(name + L - 5, ".grid")) name[L - 5] = 0;
    snprintf(path, sizeof path, "%s/%s/runs.csv", results, name);
    Table tab;
    if (store_read(path, &tab, err, sizeof err)) return fprintf(stderr, "harness rescore: %s\n", err), 1;
    const Task *shown = NULL;
    int rc = 0, missing = 0;
    for (int i = 0; i < tab.nrows && !rc; i++) {
        const Task *tk = task_find(table_get(&tab, i, "dataset"));
        if (strcmp(table_get(&tab, i, "status"), "ok") || !tk || tk->eval != TASK_GENERATE) continue;
        if (tk != shown) {
            printf("\n%s (dataset=%s)\n\n| run_id | arm | n |", name, tk->name);
            for (int j = 0; j < task_nmetrics(tk); j++) printf(" %s %% |", tk->metrics[j]);
            if (metric_at(tk, "dfa") >= 0) printf(" dfa right, exact wrong | exact right, dfa wrong | undecided |");
            printf("\n|---|---|---:|");
            for (int j = 0; j < task_nmetrics(tk) + 3 * (metric_at(tk, "dfa") >= 0); j++) printf("---:|");
            printf("\n");
            shown = tk;
        }
        snprintf(path, sizeof path, "%s/%s/runs/%s/predictions.jsonl", results, name, table_get(&tab, i, "run_id"));
        Rescore r;
        if (rescore_file(tk, path, &r, err, sizeof err)) {
            if (strstr(err, "cannot open")) { missing++; continue; }
            fprintf(stderr, "harness rescore: %s\n", err);
            rc = 1;
        } else print_run(&tab, i, tk, &r);
    }
    if (missing) printf("\n%d ok runs have no predictions.jsonl under %s/%s/runs/ (not rescored)\n", missing, results, name);
    table_free(&tab);
    return rc;
}
