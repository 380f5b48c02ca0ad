/* A training batch and the views of ALGORITHM.md §2–§4.
 *
 * A batch is a flat list of n tokens; rows (ordinary causal sequences, or
 * block-causal packed rows) are contiguous runs of tokens. Each token carries
 * id, position, segment and NTP target (-1 = none). Segment visibility is a
 * small matrix; attention applies the single rule of ALGORITHM.md §3.
 *
 * Layouts (k [PRED] tokens, 0 under predictor=linear; S, U, A the system,
 * user and assistant bytes):
 *   NTP row  ⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U ⟨assistant⟩ A ⟨eos⟩
 *   Text     ⟨bos⟩ ⟨user⟩ U ⟨pred_k⟩ … ⟨pred_1⟩ ⟨eos⟩          pred_position=back
 *            ⟨bos⟩ ⟨user⟩ ⟨pred_1⟩ … ⟨pred_k⟩ U ⟨eos⟩          pred_position=front
 *   Code     ⟨bos⟩ ⟨assistant⟩ A ⟨eos⟩
 * Under direction=code2text the [PRED] tokens go on the Code view instead,
 * at the same place relative to A (back: after A; front: after ⟨assistant⟩),
 * and the Text view has none. With pred_position=front the [PRED] tokens are
 * the first tokens of the message content (after its role token), so U and
 * the [PRED]s stay one contiguous span. A view's readout (Enc, pooling=last)
 * is always its token before ⟨eos⟩: pred_1 (back), the last U or A byte
 * (front, or the view without [PRED]s).
 *
 * jepa_pass=fused lays each example out as one fused row and a Code row
 * (ALGORITHM.md §3):
 *   ⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U | ⟨pred_k⟩ … ⟨pred_1⟩ | ⟨assistant⟩ A ⟨eos⟩    ⟨bos⟩ ⟨assistant⟩ A [preds]
 *   SEG_NTP, pos 0..P-1          | SEG_PRED, pos P.. | SEG_CONT, pos P..        SEG_CODE, pos 0..
 * The Text view is the NTP prefix plus the [PRED] block (so it includes
 * ⟨system⟩ S under system_prompt=include: exact only with omit); the views'
 * ⟨eos⟩ tokens, which nothing sees, are left out. The last prefix token's
 * NTP target is ⟨assistant⟩. The Code view sees only itself, so its own row
 * is the same attention as a block at the end of the fused row, minus the
 * masked cross products a dense kernel would compute (batch.c, add_fused).
 * pred_position=front with [PRED]s on the Text view cannot be fused (the
 * Text view is not a prefix of the NTP sequence):
 * see view_fused_refused. */
#ifndef ENGINE_BATCH_H
#define ENGINE_BATCH_H

#include "config.h"
#include "data.h"
#include "tokenizer.h"

/* Segments. SEG_PRED and SEG_CONT exist only in fused rows: the [PRED] block
 * and the NTP continuation ⟨assistant⟩ A ⟨eos⟩, both seeing the SEG_NTP
 * prefix but not each other. Every other segment sees only itself. */
enum { SEG_NTP = 0, SEG_TEXT = 1, SEG_CODE = 2, SEG_PRED = 3, SEG_CONT = 4, SEG_COUNT = 5 };

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
     * assistant content A in each example's NTP row (Semantic Tube Prediction),
     * filled for every batch; under fused, A is the continuation's. All the
     * per-example indices are token indices of the batch (0 .. n-1); an empty
     * content gives start = end (spans: last = first - 1). */
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
 * with_jepa, the Text and Code views (separate: all Text rows then all Code
 * rows; packed: one Text‖Code row per example, positions restarting per
 * block), or under fused a fused row and a Code row per example in place
 * of its NTP row (|U| + 4 tokens per example fewer than packed).
 * Without JEPA the batch is the NTP rows only, whatever the pass mode.
 * Returns 0, or -1: out of memory, or with_jepa and view_fused_refused(o). */
int batch_build(Batch *b, const Example *ex, const int *idx, int m, const ViewOpts *o, int with_jepa);

/* 1 when o asks for a fused pass that cannot be exact: jepa_pass=fused,
 * pred_position=front and [PRED] tokens on the Text view (k > 0, direction=
 * text2code). fused + front + code2text is fine: the Code view is its own block. */
int view_fused_refused(const ViewOpts *o);

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
