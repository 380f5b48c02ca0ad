/* Views of one example (ALGORITHM.md §2) and batches (§3, §4). */
#include "batch.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"

ViewOpts view_opts(const Config *c) {
    ViewOpts o;
    memset(&o, 0, sizeof o); /* tok and cache NULL: the byte tokenizer, no token cache */
    o.include_system = strcmp(c->system_prompt, "include") == 0;
    o.targets_all = strcmp(c->ntp_targets, "all") == 0;
    o.k = strcmp(c->predictor, "linear") == 0 ? 0 : c->k;
    o.packed = strcmp(c->jepa_pass, "packed") == 0;
    o.fused = strcmp(c->jepa_pass, "fused") == 0;
    o.pred_front = strcmp(c->pred_position, "front") == 0;
    o.code2text = strcmp(c->direction, "code2text") == 0;
    return o;
}

/* [PRED] tokens of the Text view (0 under code2text) and of the Code view. */
static int text_k(const ViewOpts *o) { return o->code2text ? 0 : o->k; }
static int code_k(const ViewOpts *o) { return o->code2text ? o->k : 0; }

int view_fused_refused(const ViewOpts *o) { return o->fused && o->pred_front && text_k(o) > 0; }

/* ---- token list --------------------------------------------------------------- */

static int grow(Batch *b, int extra) {
    if (b->n + extra <= b->cap) return 0;
    int cap = b->cap ? b->cap : 4096;
    while (cap < b->n + extra) cap *= 2;
    int **arr[4] = {&b->ids, &b->pos, &b->seg, &b->tgt};
    for (int i = 0; i < 4; i++) {
        int *p = realloc(*arr[i], (size_t)cap * sizeof(int));
        if (!p) return -1;
        *arr[i] = p;
    }
    b->cap = cap;
    return 0;
}

static int push(Batch *b, int id, int pos, int seg) {
    if (grow(b, 1)) return -1;
    b->ids[b->n] = id;
    b->pos[b->n] = pos;
    b->seg[b->n] = seg;
    b->tgt[b->n] = -1;
    b->n++;
    return 0;
}

/* ---- content ids ----------------------------------------------------------------- */

enum { PART_SYSTEM, PART_USER, PART_ASSISTANT };

static const Tokenizer *vtok(const ViewOpts *o) { return o->tok ? o->tok : tokenizer_byte_shared(); }

static const char *part_text(const Example *e, int p) {
    return p == PART_SYSTEM ? e->system : p == PART_USER ? e->user : e->assistant;
}

/* The cached ids of part p of e under o (*n of them), or NULL when o's
 * cache does not hold e under o's tokenizer. */
static const int *cached(const Example *e, int p, const ViewOpts *o, int *n) {
    const TokenCache *c = o->cache;
    if (!c || !c->ids || c->tok != vtok(o)) return NULL;
    uintptr_t off = (uintptr_t)e - (uintptr_t)c->ex; /* integers: e may lie in another array */
    if ((uintptr_t)e < (uintptr_t)c->ex || off % sizeof *e || off / sizeof *e >= (uintptr_t)c->n) return NULL;
    size_t at = 3 * (size_t)(off / sizeof *e) + (size_t)p;
    *n = (int)(c->off[at + 1] - c->off[at]);
    return c->ids + c->off[at];
}

/* Token count of part p of e under o; -1 on a tokenizer error (message in err). */
static int part_count(const Example *e, int p, const ViewOpts *o, char *err, size_t errn) {
    int n;
    if (cached(e, p, o, &n)) return n;
    const char *s = part_text(e, p);
    return tokenizer_encode(vtok(o), s, strlen(s), NULL, 0, err, errn);
}

/* Ids of part p of e under o into *ids (*n): the cache, else encoded into b->scratch. */
static int part_ids(Batch *b, const Example *e, int p, const ViewOpts *o, const int **ids, int *n) {
    if ((*ids = cached(e, p, o, n))) return 0;
    const Tokenizer *t = vtok(o);
    const char *s = part_text(e, p);
    size_t len = strlen(s), bound = tokenizer_encode_bound(t, len);
    if (bound + 1 > (size_t)b->scratch_cap) {
        if (bound + 1 > (size_t)INT_MAX / sizeof(int)) return -1;
        int *q = realloc(b->scratch, (bound + 1) * sizeof(int));
        if (!q) return -1;
        b->scratch = q;
        b->scratch_cap = (int)(bound + 1);
    }
    char err[256];
    *n = tokenizer_encode(t, s, len, b->scratch, (size_t)b->scratch_cap, err, sizeof err);
    *ids = b->scratch;
    return *n < 0 ? -1 : 0;
}

/* Part p of e as tokens at positions *pos.. in segment seg. */
static int push_part(Batch *b, const Example *e, int p, const ViewOpts *o, int *pos, int seg) {
    int n;
    const int *ids;
    if (vtok(o)->kind == TOKENIZER_BYTE && !cached(e, p, o, &n)) { /* the bytes themselves */
        for (const unsigned char *q = (const unsigned char *)part_text(e, p); *q; q++)
            if (push(b, *q, (*pos)++, seg)) return -1;
        return 0;
    }
    if (part_ids(b, e, p, o, &ids, &n) || grow(b, n)) return -1;
    for (int i = 0; i < n; i++) push(b, ids[i], (*pos)++, seg);
    return 0;
}

/* A framing sequence of the chat template at positions *pos.. in segment seg. */
static int push_seq(Batch *b, const TokSeq *q, int *pos, int seg) {
    for (int i = 0; i < q->n; i++)
        if (push(b, q->id[i], (*pos)++, seg)) return -1;
    return 0;
}

/* k [PRED] tokens at positions *pos..: pred_1 … pred_k (front) or
 * pred_k … pred_1 (back), so that pred_1 ends the block when appended. */
static int push_preds(Batch *b, const Tokenizer *t, int k, int front, int *pos, int seg) {
    if (k > t->npred) return -1;
    for (int i = 1; i <= k; i++)
        if (push(b, tok_pred(t, front ? i : k + 1 - i), (*pos)++, seg)) return -1;
    return 0;
}

void token_cache_free(TokenCache *c) {
    free(c->ids);
    free(c->off);
    memset(c, 0, sizeof *c);
}

/* The ids of d's examples into c (allocated), two passes: counts, then ids. */
static int cache_fill(TokenCache *c, const Dataset *d, const Tokenizer *t, char *err, size_t errn) {
    char why[256];
    size_t total = 0;
    for (int i = 0; i < d->n; i++)
        for (int p = 0; p < 3; p++) {
            const char *s = part_text(&d->ex[i], p);
            int k = tokenizer_encode(t, s, strlen(s), NULL, 0, why, sizeof why);
            if (k < 0) return errf(err, errn, "%s:%d: %s", d->path, d->ex[i].line, why);
            c->off[3 * (size_t)i + p] = total;
            total += (size_t)k;
        }
    c->off[3 * (size_t)d->n] = total;
    if (!(c->ids = malloc((total ? total : 1) * sizeof(int)))) return errf(err, errn, "out of memory (token ids)");
    for (int i = 0; i < d->n; i++)
        for (int p = 0; p < 3; p++) {
            const char *s = part_text(&d->ex[i], p);
            size_t at = 3 * (size_t)i + p, k = c->off[at + 1] - c->off[at];
            if (tokenizer_encode(t, s, strlen(s), c->ids + c->off[at], k, why, sizeof why) != (int)k)
                return errf(err, errn, "%s:%d: %s", d->path, d->ex[i].line, why);
        }
    return 0;
}

int token_cache_build(TokenCache *c, const Dataset *d, const Tokenizer *t, char *err, size_t errn) {
    memset(c, 0, sizeof *c);
    if (t->kind == TOKENIZER_BYTE || d->n <= 0) return 0;
    if (!(c->off = malloc((3 * (size_t)d->n + 1) * sizeof *c->off))) return errf(err, errn, "out of memory (token ids)");
    if (cache_fill(c, d, t, err, errn)) {
        token_cache_free(c);
        return -1;
    }
    c->ex = d->ex, c->n = d->n, c->tok = t;
    return 0;
}

static int new_row(Batch *b) {
    if (b->nrows + 2 > b->rowcap) {
        int cap = b->rowcap ? b->rowcap * 2 : 256;
        int *p = realloc(b->row_start, (size_t)cap * sizeof(int));
        if (!p) return -1;
        b->row_start = p;
        b->rowcap = cap;
    }
    b->row_start[b->nrows] = b->n;
    b->nrows++;
    b->row_start[b->nrows] = b->n;
    return 0;
}

static void end_row(Batch *b) { b->row_start[b->nrows] = b->n; }

/* ---- NTP sequence --------------------------------------------------------------- */

/* ⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U (⟨system⟩ = system_open … system_close,
 * ⟨user⟩ = user_open) in segment SEG_NTP from position 0; records
 * ntp_user[i] = [start, end) of U. */
static int push_prefix(Batch *b, const Example *e, const ViewOpts *o, int *pos, int i) {
    const Tokenizer *t = vtok(o);
    *pos = 0;
    if (push(b, t->bos, (*pos)++, SEG_NTP)) return -1;
    if (o->include_system && (push_seq(b, &t->system_open, pos, SEG_NTP) ||
                              push_part(b, e, PART_SYSTEM, o, pos, SEG_NTP) || push_seq(b, &t->system_close, pos, SEG_NTP)))
        return -1;
    if (push_seq(b, &t->user_open, pos, SEG_NTP)) return -1;
    b->ntp_user[2 * i] = b->n;
    if (push_part(b, e, PART_USER, o, pos, SEG_NTP)) return -1;
    b->ntp_user[2 * i + 1] = b->n;
    return 0;
}

/* ⟨assistant⟩ A ⟨eos⟩ (⟨assistant⟩ = user_close assistant_open) in segment
 * seg from position pos; records ntp_asst[i] = [start, end) of A. */
static int push_answer(Batch *b, const Example *e, const ViewOpts *o, int pos, int seg, int i) {
    const Tokenizer *t = vtok(o);
    if (push_seq(b, &t->user_close, &pos, seg) || push_seq(b, &t->assistant_open, &pos, seg)) return -1;
    b->ntp_asst[2 * i] = b->n;
    if (push_part(b, e, PART_ASSISTANT, o, &pos, seg)) return -1;
    b->ntp_asst[2 * i + 1] = b->n;
    return push(b, t->eos, pos, seg);
}

/* Next-token targets of an NTP sequence laid out as the prefix [p0, p1)
 * followed, in sequence order, by [c0, c1) = ⟨assistant⟩ A ⟨eos⟩ (c0 = p1 in
 * an ordinary row; tokens may lie between them in a fused row). Every token
 * but the last predicts the next one of the sequence; with ntp_targets=
 * assistant only ⟨assistant⟩ A do. */
static void ntp_targets(Batch *b, int p0, int p1, int c0, int c1, const ViewOpts *o) {
    if (o->targets_all) {
        for (int t = p0; t < p1; t++) b->tgt[t] = t + 1 < p1 ? b->ids[t + 1] : b->ids[c0];
        b->ntargets += p1 - p0;
    }
    for (int t = c0; t < c1 - 1; t++) b->tgt[t] = b->ids[t + 1];
    b->ntargets += c1 - 1 - c0;
}

/* NTP row: ⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U ⟨assistant⟩ A ⟨eos⟩ with targets. */
static int add_ntp(Batch *b, const Example *e, const ViewOpts *o, int i) {
    int pos;
    if (new_row(b)) return -1;
    int p0 = b->n;
    if (push_prefix(b, e, o, &pos, i)) return -1;
    int c0 = b->n;
    if (push_answer(b, e, o, pos, SEG_NTP, i)) return -1;
    ntp_targets(b, p0, c0, c0, b->n, o);
    end_row(b);
    return 0;
}

/* ---- Views ---------------------------------------------------------------------- */

/* Text: ⟨bos⟩ ⟨user⟩ U ⟨pred_k⟩ … ⟨pred_1⟩ ⟨eos⟩ (back), or
 * ⟨bos⟩ ⟨user⟩ ⟨pred_1⟩ … ⟨pred_k⟩ U ⟨eos⟩ (front); no [PRED] under code2text.
 * enc_text[i] = the token before ⟨eos⟩; text_span[i] = U and the [PRED]s. */
static int add_text(Batch *b, const Example *e, const ViewOpts *o, int i) {
    const Tokenizer *t = vtok(o);
    int pos = 0, k = text_k(o);
    if (push(b, t->bos, pos++, SEG_TEXT) || push_seq(b, &t->user_open, &pos, SEG_TEXT)) return -1;
    b->text_span[2 * i] = b->n;
    if ((o->pred_front && push_preds(b, t, k, 1, &pos, SEG_TEXT)) || push_part(b, e, PART_USER, o, &pos, SEG_TEXT) ||
        (!o->pred_front && push_preds(b, t, k, 0, &pos, SEG_TEXT)))
        return -1;
    b->text_span[2 * i + 1] = b->enc_text[i] = b->n - 1;
    return push(b, t->eos, pos, SEG_TEXT);
}

/* Code view from position 0 in segment seg: ⟨bos⟩ ⟨assistant⟩ A, the [PRED]s
 * under code2text (back: ⟨pred_k⟩ … ⟨pred_1⟩ after A; front: ⟨pred_1⟩ …
 * ⟨pred_k⟩ before A), then ⟨eos⟩ when with_eos. enc_code[i] = its last
 * content token; code_span[i] = A and the [PRED]s. */
static int add_code(Batch *b, const Example *e, const ViewOpts *o, int i, int with_eos) {
    const Tokenizer *t = vtok(o);
    int pos = 0, k = code_k(o);
    if (push(b, t->bos, pos++, SEG_CODE) || push_seq(b, &t->assistant_open, &pos, SEG_CODE)) return -1;
    b->code_span[2 * i] = b->n;
    if ((o->pred_front && push_preds(b, t, k, 1, &pos, SEG_CODE)) ||
        push_part(b, e, PART_ASSISTANT, o, &pos, SEG_CODE) || (!o->pred_front && push_preds(b, t, k, 0, &pos, SEG_CODE)))
        return -1;
    b->code_span[2 * i + 1] = b->enc_code[i] = b->n - 1;
    return with_eos ? push(b, t->eos, pos, SEG_CODE) : 0;
}

/* Fused rows of example i (ALGORITHM.md §3):
 *   ⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U   SEG_NTP   positions 0 .. P-1
 *   ⟨pred_k⟩ … ⟨pred_1⟩           SEG_PRED  positions P .. P+k-1 (text2code)
 *   ⟨assistant⟩ A ⟨eos⟩           SEG_CONT  positions P ..      (NTP continuation)
 * then the Code view ⟨bos⟩ ⟨assistant⟩ A [preds] (SEG_CODE, positions 0 ..)
 * in a row of its own: it sees only itself, so this is the attention of a
 * Code block at the end of the fused row, without the dense T×T kernels'
 * masked cross products (1.5× an NTP step's attention in one row, 1.2× in
 * two: bench/README.md). The Text view is the prefix plus the [PRED] block;
 * its ⟨eos⟩ and the Code view's are left out (no target, no token sees them). */
static int add_fused(Batch *b, const Example *e, const ViewOpts *o, int i) {
    int pos;
    if (new_row(b)) return -1;
    int p0 = b->n;
    if (push_prefix(b, e, o, &pos, i)) return -1;
    int p1 = b->n, ppos = pos;
    b->text_span[2 * i] = b->ntp_user[2 * i];
    if (push_preds(b, vtok(o), text_k(o), 0, &pos, SEG_PRED)) return -1;
    b->text_span[2 * i + 1] = b->enc_text[i] = b->n - 1;
    int c0 = b->n;
    if (push_answer(b, e, o, ppos, SEG_CONT, i)) return -1;
    ntp_targets(b, p0, p1, c0, b->n, o);
    end_row(b);
    if (new_row(b) || add_code(b, e, o, i, 0)) return -1;
    end_row(b);
    return 0;
}

/* ---- Batch ---------------------------------------------------------------------- */

/* Segment visibility, one matrix for every pass mode: each segment sees
 * itself; the fused [PRED] block and continuation also see the NTP prefix. */
static void set_visibility(Batch *b) {
    b->nseg = SEG_COUNT;
    memset(b->vis, 0, sizeof b->vis);
    for (int s = 0; s < SEG_COUNT; s++) b->vis[s * SEG_COUNT + s] = 1;
    b->vis[SEG_PRED * SEG_COUNT + SEG_NTP] = 1;
    b->vis[SEG_CONT * SEG_COUNT + SEG_NTP] = 1;
}

/* (Re)allocate the per-example arrays for m examples; JEPA fields = -1. */
static int alloc_examples(Batch *b, int m) {
    int **arr[6] = {&b->enc_text, &b->enc_code, &b->text_span, &b->code_span, &b->ntp_user, &b->ntp_asst};
    size_t per[6] = {1, 1, 2, 2, 2, 2};
    for (int a = 0; a < 6; a++) {
        free(*arr[a]);
        *arr[a] = malloc((m ? (size_t)m : 1) * per[a] * sizeof(int));
        if (!*arr[a]) return -1;
    }
    for (int i = 0; i < m; i++) {
        b->enc_text[i] = b->enc_code[i] = -1;
        for (int s = 0; s < 2; s++) b->text_span[2 * i + s] = b->code_span[2 * i + s] = -1;
    }
    return 0;
}

/* The Text and Code views of m examples: one packed row Text‖Code each, or
 * (separate) all the Text rows, then all the Code rows. */
static int add_views(Batch *b, const Example *ex, const int *idx, int m, const ViewOpts *o) {
    for (int i = 0; i < m; i++) {
        if (new_row(b) || add_text(b, &ex[idx[i]], o, i)) return -1;
        if (o->packed && add_code(b, &ex[idx[i]], o, i, 1)) return -1;
        end_row(b);
    }
    for (int i = 0; i < m && !o->packed; i++) {
        if (new_row(b) || add_code(b, &ex[idx[i]], o, i, 1)) return -1;
        end_row(b);
    }
    return 0;
}

int batch_build(Batch *b, const Example *ex, const int *idx, int m, const ViewOpts *o, int with_jepa) {
    b->n = 0;
    b->nrows = 0;
    b->ntargets = 0;
    b->nex = m;
    b->jepa = with_jepa;
    set_visibility(b);
    if ((with_jepa && view_fused_refused(o)) || alloc_examples(b, m)) return -1;
    if (with_jepa && o->fused) {
        for (int i = 0; i < m; i++)
            if (add_fused(b, &ex[idx[i]], o, i)) return -1;
        return 0;
    }
    for (int i = 0; i < m; i++)
        if (add_ntp(b, &ex[idx[i]], o, i)) return -1;
    return with_jepa ? add_views(b, ex, idx, m, o) : 0;
}

/* Append part p of e under t to out[*n .. cap). 0, or -1: it does not fit, a tokenizer error. */
static int append_part(const Example *e, int p, const ViewOpts *o, int *out, int *n, int cap) {
    int m;
    const int *ids = cached(e, p, o, &m);
    if (ids) {
        if (m > cap - *n) return -1;
        memcpy(out + *n, ids, (size_t)m * sizeof(int));
    } else {
        const char *s = part_text(e, p);
        char err[256];
        m = tokenizer_encode(vtok(o), s, strlen(s), out + *n, (size_t)(cap - *n), err, sizeof err);
        if (m < 0 || m > cap - *n) return -1;
    }
    *n += m;
    return 0;
}

static int append_seq(const TokSeq *q, int *out, int *n, int cap) {
    if (q->n > cap - *n) return -1;
    memcpy(out + *n, q->id, (size_t)q->n * sizeof(int));
    *n += q->n;
    return 0;
}

int view_prompt(const Example *e, const ViewOpts *o, int *out, int cap) {
    const Tokenizer *t = vtok(o);
    int n = 0;
    if (cap < 1) return -1;
    out[n++] = t->bos;
    if (o->include_system && (append_seq(&t->system_open, out, &n, cap) || append_part(e, PART_SYSTEM, o, out, &n, cap) ||
                              append_seq(&t->system_close, out, &n, cap)))
        return -1;
    if (append_seq(&t->user_open, out, &n, cap) || append_part(e, PART_USER, o, out, &n, cap) ||
        append_seq(&t->user_close, out, &n, cap) || append_seq(&t->assistant_open, out, &n, cap))
        return -1;
    return n;
}

/* Token counts of e's parts under o into c[3] (c[0] only with include_system). */
static int counts(const Example *e, const ViewOpts *o, int c[3], char *err, size_t errn) {
    c[0] = 0;
    for (int p = o->include_system ? 0 : 1; p < 3; p++)
        if ((c[p] = part_count(e, p, o, err, errn)) < 0) return -1;
    return 0;
}

/* Lengths of e's rows from its part counts c: the NTP sequence (*ntp), the
 * prompt (*prompt) and the longest view or fused Text view (*view). */
static void row_lengths(const Tokenizer *t, const ViewOpts *o, const int c[3], int *ntp, int *prompt, int *view) {
    int sys = o->include_system ? t->system_open.n + c[0] + t->system_close.n : 0;
    int prefix = 1 + sys + t->user_open.n + c[1];        /* ⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U */
    int answer = t->user_close.n + t->assistant_open.n; /* ⟨assistant⟩ before A */
    *ntp = prefix + answer + c[2] + 1;
    *prompt = prefix + answer;
    /* the views restart their positions, but a fused Text view continues the NTP prefix */
    int text = o->fused ? prefix + text_k(o) : 1 + t->user_open.n + c[1] + text_k(o) + 1;
    int code = 1 + t->assistant_open.n + c[2] + code_k(o) + 1;
    *view = text > code ? text : code;
}

int view_prompt_length(const Example *e, const ViewOpts *o) {
    int c[3], ntp, prompt, view;
    if (counts(e, o, c, NULL, 0)) return -1;
    row_lengths(vtok(o), o, c, &ntp, &prompt, &view);
    return prompt;
}

int view_ntp_length(const Example *e, const ViewOpts *o) {
    int c[3], ntp, prompt, view;
    if (counts(e, o, c, NULL, 0)) return -1;
    row_lengths(vtok(o), o, c, &ntp, &prompt, &view);
    return ntp;
}

/* view_positions with the tokenizer's message in err. */
static int positions(const Example *e, const ViewOpts *o, int max_new, char *err, size_t errn) {
    int c[3], ntp, prompt, view;
    if (counts(e, o, c, err, errn)) return -1;
    row_lengths(vtok(o), o, c, &ntp, &prompt, &view);
    int m = ntp > view ? ntp : view;
    return m > prompt + max_new ? m : prompt + max_new; /* the prompt, then greedy tokens */
}

int view_positions(const Example *e, const ViewOpts *o, int max_new) { return positions(e, o, max_new, NULL, 0); }

int dataset_check_positions(const Dataset *d, const ViewOpts *o, int max_new, int max_pos, char *err, size_t errn) {
    for (int i = 0; i < d->n; i++) {
        char why[256];
        int need = positions(&d->ex[i], o, max_new, why, sizeof why);
        if (need < 0) return errf(err, errn, "%s:%d: %s", d->path, d->ex[i].line, why);
        if (need > max_pos) {
            snprintf(err, errn, "%s:%d: the example needs %d positions (longest of its NTP sequence, views and "
                     "prompt + max_new_tokens %d), more than max_position_embeddings %d", d->path, d->ex[i].line,
                     need, max_new, max_pos);
            return -1;
        }
    }
    return 0;
}

void batch_free(Batch *b) {
    free(b->ids); free(b->pos); free(b->seg); free(b->tgt);
    free(b->row_start); free(b->enc_text); free(b->enc_code);
    free(b->text_span); free(b->code_span); free(b->ntp_user); free(b->ntp_asst);
    free(b->scratch);
    memset(b, 0, sizeof *b);
}
