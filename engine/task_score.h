/* Scoring one generated answer under a task's metrics (task.h), and the
 * choices of a choice task. The scorers themselves live in score.h
 * (text), score_sql.h (Spider) and dfa_equiv.h (regex languages). */
#ifndef ENGINE_TASK_SCORE_H
#define ENGINE_TASK_SCORE_H

#include <stddef.h>

#include "data.h"
#include "task.h"

/* What scoring needs beyond the example (from the run config). */
typedef struct TaskEnv {
    const char *spider_db;  /* Spider's database/ folder (config spider_db; "" = not given) */
    double dfa_seconds;     /* metric dfa: time limit per pair (s) */
    long dfa_states;        /* metric dfa: automaton state limit per pair */
} TaskEnv;

/* The default environment: no Spider folder, dfa limits of docs/dfa.md. */
TaskEnv task_env_default(void);

/* Score `generated` (stripped) against example e for each metric of t:
 * correct[j] = 1 or 0 for t->metrics[j], or -1 when the metric cannot be
 * computed in this environment (exec without spider_db: the run still
 * reports the task's other metrics, acc_exec stays empty). note (size noten, may be NULL)
 * gets a short reason when one helps reading predictions.jsonl ("dfa:
 * undecided", "exec: no such column: x", ...) or "". *undecided is set to 1
 * when the dfa check hit its limits. Returns 0, or -1 with err on a data or
 * setup error that makes the example unscorable (a gold regex or query that
 * fails, a Spider database missing under spider_db). */
int task_score(const Task *t, const TaskEnv *env, const Example *e, const char *generated, int *correct,
               int *undecided, char *note, size_t noten, char *err, size_t errn);

/* The choices of example e of a TASK_CHOICE task: the context (owned,
 * *context) and nend endings (owned, endings[0..nend)), the gold index.
 * Returns 0, or -1 with err. Free with task_choices_free. */
#define TASK_MAX_CHOICES 8
int task_choices(const Task *t, const Example *e, char **context, char **endings, int *nend, int *gold, char *err,
                 size_t errn);
void task_choices_free(char *context, char **endings, int nend);

#endif
