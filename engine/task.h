/* Tasks: the data sets a run can train and evaluate on, as one table.
 *
 * A task (config key `dataset`) names its train and test files, its
 * evaluation mode and the metrics its scorer returns. Every example is read
 * by the one chat-jsonl loader (data.h); a task's `check` validates at load
 * time the fields its scorer will need (GSM8K's "#### " answer, Spider's
 * db_id, HellaSwag's four endings), so bad data fails before training, with
 * file and line. The views are the same for every task (ALGORITHM.md §2:
 * Text = the user message, Code = the assistant message); the paraphrase
 * task gets its pairs from its data file, whose assistant message is the
 * other paraphrase (data/README.md).
 *
 * Metrics are named; each is a runs.csv column "acc_<name>" (percent of the
 * evaluated examples), in the order of task_metrics(). Adding a metric adds a
 * column; runs recorded before it read it as empty (store.h). */
#ifndef ENGINE_TASK_H
#define ENGINE_TASK_H

#include <stddef.h>

#include "data.h"

/* The registered task names, '|'-separated, in table order: the `dataset`
 * key's choices in the config schema (a test checks it against the table). */
#define TASK_NAMES "synth|turk|nlrx_base|paraphrase|gsm8k|spider|rotten_tomatoes|yelp|nq_open|hellaswag"

#define TASK_MAX_METRICS 4

typedef enum {
    TASK_GENERATE, /* greedy decoding from the prompt of ALGORITHM.md §2, then the scorer */
    TASK_CHOICE    /* choose among the example's endings by length-normalised log-probability */
} TaskEval;

typedef struct Metric {
    const char *name; /* column acc_<name> */
    const char *doc;  /* one line: what counts as correct */
} Metric;

typedef struct Task {
    const char *name;        /* config value of `dataset` */
    const char *train, *test; /* file stems under data/ (NULL train: evaluation only, epochs = 0) */
    const char *doc;         /* one line for `harness train --help` */
    TaskEval eval;
    const char *metrics[TASK_MAX_METRICS]; /* metric names (task_metrics), NULL-terminated; [0] is the primary */
    const char *no_train;    /* when train is NULL: why, and what to do instead */
    /* Validate example e (from file:line) for this task's scorer; 0, or -1
     * with why (what was expected). NULL: every chat example is valid. */
    int (*check)(const Example *e, char *why, size_t whyn);
} Task;

/* The task named `name`, or NULL. */
const Task *task_find(const char *name);

/* The i-th registered task (0 <= i < task_count()), in table order. */
int task_count(void);
const Task *task_at(int i);

/* Every metric any task reports, in runs.csv column order; their count. */
int task_metrics(const Metric **out);

/* Index of metric `name` in task_metrics(), or -1. */
int task_metric_index(const char *name);

/* Number of metrics of task t (entries of t->metrics before NULL). */
int task_nmetrics(const Task *t);

/* Check every example of d for task t: 0, or -1 with "FILE:LINE: why" in err. */
int task_check_dataset(const Task *t, const Dataset *d, char *err, size_t errn);

#endif
