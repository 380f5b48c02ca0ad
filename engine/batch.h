/* A training batch and the views of ALGORITHM.md §2–§4.
 *
 * A batch is a flat list of n tokens; rows (ordinary causal sequences, or
 * block-causal packed rows) are contiguous runs of tokens. Each token carries
 * id, position, segment and NTP target (-1 = none). Segment visibility is a
 * small matrix; attention applies the single rule of ALGORITHM.md §3.
 *
 * Layouts (k [PRED] tokens, 0 under predictor=linear; S, U, A the token ids
 * of the system, user and assistant contents under the run's tokenizer,
 * tokenizer.h; shown with the engine chat template):
 *   NTP row  ⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U ⟨assistant⟩ A ⟨eos⟩
 *   Text     ⟨bos⟩ ⟨user⟩ U ⟨pred_k⟩ … ⟨pred_1⟩ ⟨eos⟩          pred_position=back
 *            ⟨bos⟩ ⟨user⟩ ⟨pred_1⟩ … ⟨pred_k⟩ U ⟨eos⟩          pred_position=front
 *   Code     ⟨bos⟩ ⟨assistant⟩ A ⟨eos⟩
 * In general ⟨system⟩, ⟨user⟩ and ⟨assistant⟩ are the tokenizer's framing
 * sequences: ⟨bos⟩ [system_open S system_close] user_open U user_close
 * assistant_open A ⟨eos⟩ for the NTP row and the prompt (which ends after
 * assistant_open), ⟨bos⟩ user_open U … ⟨eos⟩ and ⟨bos⟩ assistant_open A …
 * ⟨eos⟩ for the views (Llama-3: user_close = ⟨eos⟩ = <|eot_id|>).
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
 * (user_close belongs to the continuation, before ⟨assistant⟩).
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
    int *scratch, scratch_cap; /* content ids of an example without a cache (batch_build) */
} Batch;

/* The token ids of the contents S, U and A of examples ex[0..n) under one
 * tokenizer, computed once (token_cache_build) so that batches do not
 * encode the same text again: a training run builds every example once per
 * epoch. An example is found in the cache by its address, so the cache is
 * valid while the examples' array is. */
typedef struct TokenCache {
    const Example *ex;
    int n;
    const Tokenizer *tok;   /* the tokenizer the ids are of */
    int *ids;               /* every id, example by example, S then U then A */
    size_t *off;            /* (3 n + 1): part p of example i is ids[off[3i+p] .. off[3i+p+1]) */
} TokenCache;

/* Options that shape the views, from the run config. */
typedef struct ViewOpts {
    int include_system;     /* system_prompt=include */
    int targets_all;        /* ntp_targets=all */
    int k;                  /* [PRED] tokens (0 under predictor=linear) */
    int packed;             /* jepa_pass=packed */
    int fused;              /* jepa_pass=fused */
    int pred_front;         /* pred_position=front */
    int code2text;          /* direction=code2text: the [PRED] tokens go on the Code view */
    const Tokenizer *tok;   /* the run's tokenizer (its ids and chat template); NULL: the byte tokenizer */
    const TokenCache *cache; /* ids of some examples under tok (NULL: none): used for the examples it holds */
} ViewOpts;

/* The view options of run config c, with tok and cache NULL: the caller
 * sets the run's tokenizer (a BPE one comes from tokenizer= or the init
 * checkpoint). */
ViewOpts view_opts(const Config *c);

/* The token cache of the examples of d under t into *c (token_cache_free).
 * For the byte tokenizer nothing is stored (its ids are the bytes): *c is
 * then empty and every lookup misses. Returns 0, or -1 with err
 * "FILE:LINE: ..." (a tokenizer error, out of memory; *c is then empty). */
int token_cache_build(TokenCache *c, const Dataset *d, const Tokenizer *t, char *err, size_t errn);
void token_cache_free(TokenCache *c);

/* Build the batch for examples ex[idx[0..m)] with o's tokenizer (and o's
 * cache for the examples it holds): one NTP row each and, when
 * with_jepa, the Text and Code views (separate: all Text rows then all Code
 * rows; packed: one Text‖Code row per example, positions restarting per
 * block), or under fused a fused row and a Code row per example in place
 * of its NTP row (|U| + 4 tokens per example fewer than packed).
 * Without JEPA the batch is the NTP rows only, whatever the pass mode.
 * Returns 0, or -1: out of memory, a tokenizer error (cached examples
 * cannot give one), k above the tokenizer's [PRED] tokens, or with_jepa and
 * view_fused_refused(o). */
int batch_build(Batch *b, const Example *ex, const int *idx, int m, const ViewOpts *o, int with_jepa);

/* 1 when o asks for a fused pass that cannot be exact: jepa_pass=fused,
 * pred_position=front and [PRED] tokens on the Text view (k > 0, direction=
 * text2code). fused + front + code2text is fine: the Code view is its own block. */
int view_fused_refused(const ViewOpts *o);

/* The evaluation prompt ⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U ⟨assistant⟩ (system only
 * with o->include_system; o's tokenizer) into out (capacity cap); returns its
 * length, or -1 if it does not fit or on a tokenizer error. */
int view_prompt(const Example *e, const ViewOpts *o, int *out, int cap);

/* Token counts of example e under o: of its evaluation prompt, and of its
 * NTP sequence. -1 on a tokenizer error. */
int view_prompt_length(const Example *e, const ViewOpts *o);
int view_ntp_length(const Example *e, const ViewOpts *o);

/* Positions the longest row of example e needs: its NTP sequence, its Text
 * and Code views, and the evaluation prompt plus max_new generated tokens
 * (token counts under o's tokenizer). -1 on a tokenizer error. */
int view_positions(const Example *e, const ViewOpts *o, int max_new);

/* Every example of d fits in max_pos positions (view_positions), else -1
 * with "FILE:LINE: the example needs N positions (...), more than
 * max_position_embeddings M" (or the tokenizer's error). */
int dataset_check_positions(const Dataset *d, const ViewOpts *o, int max_new, int max_pos, char *err, size_t errn);

void batch_free(Batch *b);

#endif
