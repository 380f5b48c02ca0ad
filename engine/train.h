/* One training run: data, model, the training loop, evaluation and the
 * files of a run directory (ARCHITECTURE.md "Run identity and the results
 * store"): log lines go to `log`, and run_dir gets curve.csv,
 * predictions.jsonl and checkpoint/ (when checkpoint=final). */
#ifndef ENGINE_TRAIN_H
#define ENGINE_TRAIN_H

#include <stdio.h>

#include "config.h"
#include "evaluate.h"
#include "model.h"

typedef struct TrainResult {
    char status[16];          /* ok | diverged | failed */
    char message[256];        /* why, when not ok */
    EvalResult eval;          /* the final evaluation: the task's metrics in percent (eval_acc) */
    double ntp_loss, jepa_dist;       /* means over the last epoch's steps */
    long steps;
    double train_s, eval_s;   /* wall seconds */
    double train_tok_s;       /* token positions through forward+backward per second */
    double ntp_step_ms, jepa_step_ms, jepa_ntp_ratio; /* end-of-run step timing (forward+backward) */
    int threads_used;
    double peak_rss_mb;       /* peak resident memory of the process (MiB) */
    long params, trainable_params; /* parameter counts: all tensors, and those trained */
} TrainResult;

/* Train and evaluate the run described by c. run_dir may be NULL (no files).
 * Returns 0 when the run finished (res->status ok or diverged), -1 with err
 * on errors (bad data file, out of memory, unwritable run_dir). */
int train_run(const Config *c, const char *run_dir, FILE *log, TrainResult *res, char *err, size_t errn);

/* The LoRA settings of a run config (lora_alpha 0 = 2 × rank; targets parsed
 * from lora_targets, which config_set has validated). */
LoraConfig lora_config(const Config *c);

/* Wall clock in seconds (monotonic). */
double now_seconds(void);

/* Seconds as "XmYYs" or "XhYYm" into out; "--" when negative or not finite. */
void fmt_duration(double s, char *out, size_t n);

#endif
