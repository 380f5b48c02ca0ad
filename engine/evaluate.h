/* Evaluation of a model on a task's test examples (ALGORITHM.md §7): greedy
 * decoding then the task's scorer, or choice scoring; named metrics. */
#ifndef ENGINE_EVALUATE_H
#define ENGINE_EVALUATE_H

#include <stddef.h>
#include <stdio.h>

#include "data.h"
#include "model.h"
#include "task.h"
#include "task_score.h"
#include "tokenizer.h"

typedef struct EvalResult {
    const Task *task;
    int n;                            /* evaluated examples */
    int nmetric;                      /* task_nmetrics(task) */
    int correct[TASK_MAX_METRICS];    /* counts, in task->metrics order */
    double acc[TASK_MAX_METRICS];     /* percent of n; NAN for a metric not scored (unscored) */
    int unscored[TASK_MAX_METRICS];   /* 1: the metric could not be computed in this run (exec without spider_db) */
    int undecided;                    /* metric dfa: pairs beyond the check's limits (scored wrong) */
} EvalResult;

/* Accuracy (percent) of metric `name` in r, or NAN when r's task does not
 * report it or the run could not score it (EvalResult.unscored). */
double eval_acc(const EvalResult *r, const char *name);

/* Progress callback: done of total examples. */
typedef void (*EvalProgress)(int done, int total, void *ctx);

/* Evaluate model on the first n examples of d (n <= 0 or > d->n: all) under
 * task t, with the run's tokenizer tok (NULL: the byte tokenizer):
 *   TASK_GENERATE: the prompt of §2 (⟨system⟩ S only with include_system),
 *     greedy decoding of at most max_new tokens until tok's ⟨eos⟩ (prompts
 *     sorted by their tokens within blocks of 4096 examples, decoded 64 at a
 *     time so that shared prefixes are computed once; each prompt's tokens
 *     do not depend on its batch), decoded to text (tokenizer_decode),
 *     stripped of surrounding white space, then task_score in example order;
 *     progress is called after each 64 decoded prompts;
 *   TASK_CHOICE: choice_pick (choice.h) over the example's endings.
 * With pred non-NULL, one JSON line per example: {prompt, target, generated,
 * <metric>: bool for each of the task's metrics, and "note" when the scorer
 * gave one}; for choice tasks generated is the chosen ending's letter.
 * Returns 0, or -1 with err: out of memory, a prompt longer than the model's
 * max_pos, a tokenizer error, or a scorer's data error (e.g. a missing
 * Spider database). */
int evaluate(Model *model, const Tokenizer *tok, const Task *t, const TaskEnv *env, const Dataset *d, int n,
             int include_system, int max_new, FILE *pred, EvalResult *res, EvalProgress progress, void *ctx, char *err,
             size_t errn);

#endif
