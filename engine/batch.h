/* A training batch and the views of ALGORITHM.md §2–§4.
 *
 * A batch is a flat list of n tokens; rows (ordinary causal sequences, or
 * block-causal packed rows) are contiguous runs of tokens. Each token carries
 * id, position, segment and NTP target (-1 = none). Segment visibility is a
 * small matrix; attention applies the single rule of ALGORITHM.md §3. */
#ifndef ENGINE_BATCH_H
#define ENGINE_BATCH_H

#include "config.h"
#include "data.h"
#include "tokenizer.h"

enum { SEG_NTP = 0, SEG_TEXT = 1, SEG_CODE = 2, SEG_COUNT = 3 };

typedef struct Batch {
    int n, cap;             /* tokens, capacity */
    int *ids, *pos, *seg, *tgt;
    int nrows, rowcap;
    int *row_start;         /* (nrows+1) */
    int nseg;
    unsigned char vis[SEG_COUNT * SEG_COUNT];
    int nex;                /* examples */
    /* (nex) token index of each view's last-token readout (the state before
     * ⟨eos⟩): the Text view's (pred_1 when the Text view carries the [PRED]
     * tokens) and the Code view's (pred_1 under direction=code2text); -1 = no JEPA */
    int *enc_text, *enc_code;
    /* (nex, 2) inclusive token ranges [first, last] of each view's content
     * tokens, whose mean is the readout under pooling=mean: the Text view's U
     * tokens and, when it carries them, its [PRED] tokens; the Code view's A
     * tokens and, under direction=code2text, its [PRED] tokens. -1 = no JEPA */
    int *text_span, *code_span;
    /* (nex, 2) half-open ranges [start, end) of the user content U and of the
     * assistant content A in each example's NTP row (Semantic Tube Prediction) */
    int *ntp_user, *ntp_asst;
    int ntargets;           /* tokens with tgt >= 0 */
    int jepa;               /* 1 when the Text/Code views are in the batch */
} Batch;

/* Options that shape the views, from the run config. */
typedef struct ViewOpts {
    int include_system;     /* system_prompt=include */
    int targets_all;        /* ntp_targets=all */
    int k;                  /* [PRED] tokens (0 under predictor=linear) */
    int packed;             /* jepa_pass=packed */
    int fused;              /* jepa_pass=fused */
    int pred_front;         /* pred_position=front */
    int code2text;          /* direction=code2text: the [PRED] tokens go on the Code view */
} ViewOpts;

ViewOpts view_opts(const Config *c);

/* Build the batch for examples ex[idx[0..m)]: one NTP row each and, when
 * with_jepa, the Text and Code views (separate rows, or one packed row with
 * positions restarting per block). Returns 0 or -1 (out of memory). */
int batch_build(Batch *b, const Example *ex, const int *idx, int m, const ViewOpts *o, int with_jepa);

/* The evaluation prompt ⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U ⟨assistant⟩ into out
 * (capacity cap); returns its length, or -1 if it does not fit. */
int view_prompt(const Example *e, int include_system, int *out, int cap);

/* Positions the longest row of example e needs: its NTP sequence, its Text
 * and Code views, and the evaluation prompt plus max_new generated tokens. */
int view_positions(const Example *e, const ViewOpts *o, int max_new);

/* Every example of d fits in max_pos positions (view_positions), else -1
 * with "FILE:LINE: the example needs N positions (...), more than
 * max_position_embeddings M". */
int dataset_check_positions(const Dataset *d, const ViewOpts *o, int max_new, int max_pos, char *err, size_t errn);

void batch_free(Batch *b);

#endif
