/* The task table (task.h) and its metric registry. */
#include "task.h"

#include <stdio.h>
#include <string.h>

#include "errmsg.h"
#include "task_check.h"

/* Every metric, in runs.csv column order (acc_<name>). Append new metrics at the end. */
static const Metric METRICS[] = {
    {"exact", "the generated text equals the target (both stripped of surrounding white space)"},
    {"startswith", "the generated text begins with the target (paper Tables 1 and 11)"},
    {"dfa", "the generated regex denotes the target's language (NL-RX's semantic accuracy; docs/dfa.md)"},
    {"gsm8k", "GSM8K: the text after the last \"#### \" equals the target's (no numeric normalisation)"},
    {"exec", "Spider: both queries run in SQLite and return the same rows (needs spider_db=DIR; empty without)"},
    {"nq", "NQ-Open: the normalised answer equals one of the normalised gold answers (SQuAD/DPR exact match)"},
    {"nq_contains", "NQ-Open: a normalised gold answer occurs as whole tokens in the normalised generation"},
    {"choice", "HellaSwag: the ending with the highest length-normalised log-probability is the gold one"},
};
#define NMETRICS ((int)(sizeof METRICS / sizeof METRICS[0]))

#define NLRX {"exact", "startswith", "dfa", NULL}
static const char NO_GSM8K[] = "GSM8K's train split is not in the paper's published data (data/README.md): "
                               "evaluate a model with init=DIR epochs=0";
static const char NO_YELP[] = "yelp's train split is not in the paper's published data (data/README.md): "
                              "evaluate a model with init=DIR epochs=0 (e.g. one fine-tuned on rotten_tomatoes)";
static const char NO_HELLASWAG[] = "HellaSwag's train split is not in the paper's published data (data/README.md): "
                                   "evaluate a model with init=DIR epochs=0";

static const Task TASKS[] = {
    {"synth", "synth_train", "synth_test", "NL-RX-SYNTH: English request -> regular expression", TASK_GENERATE,
     NLRX, NULL, task_check_regex},
    {"turk", "turk_train", "turk_test", "NL-RX-TURK: crowd-sourced requests -> regular expression", TASK_GENERATE,
     NLRX, NULL, task_check_regex},
    {"nlrx_base", "nlrx_base_train", "turk_test",
     "the base corpus: NL-RX-TURK train without any test answer (ALGORITHM.md 10), tested on turk_test",
     TASK_GENERATE, NLRX, NULL, task_check_regex},
    {"paraphrase", "paraphrase_train", "paraphrase_test",
     "paraphrase pairs (paper Table 4): a SYNTH request -> the TURK request of the same regex", TASK_GENERATE,
     {"exact", "startswith", NULL}, NULL, NULL},
    {"gsm8k", NULL, "gsm8k_test", "GSM8K grade-school math: worked answer ending in \"#### N\"", TASK_GENERATE,
     {"gsm8k", "exact", NULL}, NO_GSM8K, task_check_gsm8k},
    {"spider", "spider_train", "spider_test", "Spider text-to-SQL, scored by execution in SQLite", TASK_GENERATE,
     {"exec", "exact", NULL}, NULL, task_check_spider},
    {"rotten_tomatoes", "rotten_tomatoes_train", "rotten_tomatoes_test", "movie-review sentiment: Good | Bad",
     TASK_GENERATE, {"exact", NULL}, NULL, NULL},
    {"yelp", NULL, "yelp_test", "Yelp review sentiment: Very Bad | Bad | Mediocre | Good | Very Good", TASK_GENERATE,
     {"exact", NULL}, NO_YELP, NULL},
    {"nq_open", "nq_open_train", "nq_open_test", "NQ-Open question answering (gold answers separated by \"; \")",
     TASK_GENERATE, {"nq", "nq_contains", "exact", NULL}, NULL, NULL},
    {"hellaswag", NULL, "hellaswag_test", "HellaSwag: choose the ending of a context among four", TASK_CHOICE,
     {"choice", NULL}, NO_HELLASWAG, task_check_hellaswag},
};
#define NTASKS ((int)(sizeof TASKS / sizeof TASKS[0]))

const Task *task_find(const char *name) {
    for (int i = 0; i < NTASKS; i++)
        if (!strcmp(TASKS[i].name, name)) return &TASKS[i];
    return NULL;
}

int task_count(void) { return NTASKS; }

const Task *task_at(int i) { return i >= 0 && i < NTASKS ? &TASKS[i] : NULL; }

int task_metrics(const Metric **out) {
    if (out) *out = METRICS;
    return NMETRICS;
}

int task_metric_index(const char *name) {
    for (int i = 0; i < NMETRICS; i++)
        if (!strcmp(METRICS[i].name, name)) return i;
    return -1;
}

int task_nmetrics(const Task *t) {
    int n = 0;
    while (n < TASK_MAX_METRICS && t->metrics[n]) n++;
    return n;
}

int task_check_dataset(const Task *t, const Dataset *d, char *err, size_t errn) {
    if (!t->check) return 0;
    char why[256];
    for (int i = 0; i < d->n; i++)
        if (t->check(&d->ex[i], why, sizeof why))
            return errf(err, errn, "%s:%d: %s (dataset=%s)", d->path, d->ex[i].line, why, t->name);
    return 0;
}
