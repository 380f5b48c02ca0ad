/* Probing a trained model from the harness (analysis/probe.h): a run
 * directory, a checkpoint directory, or a freshly initialised model; and
 * recording a probe's numbers in the run's runs.csv row. */
#ifndef HARNESS_PROBE_RUN_H
#define HARNESS_PROBE_RUN_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "probe.h"

/* What to probe and where. */
typedef struct ProbeTarget {
    const char *checkpoint;  /* checkpoint directory; NULL: a model built from cfg (init= or from scratch) */
    const char *data;        /* jsonl file; NULL: the test split of cfg's dataset */
    int n;                   /* first n examples (0 = all) */
    const char *out;         /* directory for the probe's files */
    int seed_from_run;       /* 1: the t-SNE seed is the run config's seed (after loading the checkpoint's) */
} ProbeTarget;

/* Probe t with options po, the run config being *cfg: on entry the caller's
 * key=value overrides on top of defaults; when t->checkpoint records its run
 * config, that config is loaded first and the overrides in set[0..nset)
 * ("key=value") are applied again on top.
 *
 * The model reads its examples through its tokenizer (engine/tokenizer.h),
 * the views built as a training run builds them (encode.h, batch.h): a
 * checkpoint's own tokenizer (checkpoint_load_tok: its tokenizer.json, else
 * the byte tokenizer; a tokenizer= override is refused), or for a model
 * built from cfg, run_tokenizer's (tokenizer=PATH, init='s, or byte) with
 * model_build_tok. Under the byte tokenizer the ids are the content bytes.
 * Examples must fit the model's max_position_embeddings under the tokenizer.
 *
 * Besides probe_model's files (analysis/probe.h), t->out gets tokens.csv:
 * i,user_tokens,assistant_tokens,user_bytes,assistant_bytes, the token
 * counts of each example's user and assistant contents under the tokenizer
 * (tokenizer_encode) and their lengths in bytes. Progress, the tokenizer and
 * its mean counts go to log. Returns 0, or -1 with err (checkpoint, data,
 * tokenizer, encode, LAPACK, file errors; tokenizer=bpe:N without a
 * checkpoint or init=, since merges are learnt by a training run); warn
 * (size warnn) gets non-fatal notes (pictures skipped, perplexity lowered). */
int probe_target(const ProbeTarget *t, Config *cfg, char *const *set, int nset, const ProbeOpts *po, FILE *log,
                 ProbeResult *r, char *warn, size_t warnn, char *err, size_t errn);

/* The probe of a run that just trained (harness train with probe=1): the
 * checkpoint dir/checkpoint with its tokenizer (as probe_target), c's test
 * split, its first c->probe_n examples, into dir/probe, t-SNE seeded with
 * c->seed, progress to log. */
int probe_run_dir(const Config *c, const char *dir, FILE *log, ProbeResult *r, char *err, size_t errn);

/* Record r for the run in run directory run_dir = RESULTS/GRID/runs/RUN_ID:
 * append to RESULTS/GRID/runs.csv a copy of the run's last row with the
 * probe columns set from r (the last row is the run's state, store.h).
 * Returns 0, or -1 with err (no such row, the row's status is not ok,
 * store errors). */
int probe_record(const char *run_dir, const ProbeResult *r, char *err, size_t errn);

#endif
