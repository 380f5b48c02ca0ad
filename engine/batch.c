/* Views of one example (ALGORITHM.md §2) and batches (§3, §4). */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

ViewOpts view_opts(const Config *c) {
    ViewOpts o;
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

static int push_str(Batch *b, const char *s, int *pos, int seg) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (push(b, *p, (*pos)++, seg)) return -1;
    return 0;
}

/* k [PRED] tokens at positions *pos..: pred_1 … pred_k (front) or
 * pred_k … pred_1 (back), so that pred_1 ends the block when appended. */
static int push_preds(Batch *b, int k, int front, int *pos, int seg) {
    for (int i = 1; i <= k; i++)
        if (push(b, TOK_PRED1 + (front ? i : k + 1 - i) - 1, (*pos)++, seg)) return -1;
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

/* ⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U in segment SEG_NTP from position 0; records
 * ntp_user[i] = [start, end) of U. */
static int push_prefix(Batch *b, const Example *e, const ViewOpts *o, int *pos, int i) {
    *pos = 0;
    if (push(b, TOK_BOS, (*pos)++, SEG_NTP)) return -1;
    if (o->include_system && (push(b, TOK_SYSTEM, (*pos)++, SEG_NTP) || push_str(b, e->system, pos, SEG_NTP)))
        return -1;
    if (push(b, TOK_USER, (*pos)++, SEG_NTP)) return -1;
    b->ntp_user[2 * i] = b->n;
    if (push_str(b, e->user, pos, SEG_NTP)) return -1;
    b->ntp_user[2 * i + 1] = b->n;
    return 0;
}

/* ⟨assistant⟩ A ⟨eos⟩ in segment seg from position pos; records
 * ntp_asst[i] = [start, end) of A. */
static int push_answer(Batch *b, const Example *e, int pos, int seg, int i) {
    if (push(b, TOK_ASSISTANT, pos++, seg)) return -1;
    b->ntp_asst[2 * i] = b->n;
    if (push_str(b, e->assistant, &pos, seg)) return -1;
    b->ntp_asst[2 * i + 1] = b->n;
    return push(b, TOK_EOS, pos, seg);
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
    if (push_answer(b, e, pos, SEG_NTP, i)) return -1;
    ntp_targets(b, p0, c0, c0, b->n, o);
    end_row(b);
    return 0;
}

/* ---- Views ---------------------------------------------------------------------- */

/* Text: ⟨bos⟩ ⟨user⟩ U ⟨pred_k⟩ … ⟨pred_1⟩ ⟨eos⟩ (back), or
 * ⟨bos⟩ ⟨user⟩ ⟨pred_1⟩ … ⟨pred_k⟩ U ⟨eos⟩ (front); no [PRED] under code2text.
 * enc_text[i] = the token before ⟨eos⟩; text_span[i] = U and the [PRED]s. */
static int add_text(Batch *b, const Example *e, const ViewOpts *o, int i) {
    int pos = 0, k = text_k(o);
    if (push(b, TOK_BOS, pos++, SEG_TEXT) || push(b, TOK_USER, pos++, SEG_TEXT)) return -1;
    b->text_span[2 * i] = b->n;
    if ((o->pred_front && push_preds(b, k, 1, &pos, SEG_TEXT)) || push_str(b, e->user, &pos, SEG_TEXT) ||
        (!o->pred_front && push_preds(b, k, 0, &pos, SEG_TEXT)))
        return -1;
    b->text_span[2 * i + 1] = b->enc_text[i] = b->n - 1;
    return push(b, TOK_EOS, pos, SEG_TEXT);
}

/* Code view from position 0 in segment seg: ⟨bos⟩ ⟨assistant⟩ A, the [PRED]s
 * under code2text (back: ⟨pred_k⟩ … ⟨pred_1⟩ after A; front: ⟨pred_1⟩ …
 * ⟨pred_k⟩ before A), then ⟨eos⟩ when with_eos. enc_code[i] = its last
 * content token; code_span[i] = A and the [PRED]s. */
static int add_code(Batch *b, const Example *e, const ViewOpts *o, int i, int with_eos) {
    int pos = 0, k = code_k(o);
    if (push(b, TOK_BOS, pos++, SEG_CODE) || push(b, TOK_ASSISTANT, pos++, SEG_CODE)) return -1;
    b->code_span[2 * i] = b->n;
    if ((o->pred_front && push_preds(b, k, 1, &pos, SEG_CODE)) || push_str(b, e->assistant, &pos, SEG_CODE) ||
        (!o->pred_front && push_preds(b, k, 0, &pos, SEG_CODE)))
        return -1;
    b->code_span[2 * i + 1] = b->enc_code[i] = b->n - 1;
    return with_eos ? push(b, TOK_EOS, pos, SEG_CODE) : 0;
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
    if (push_preds(b, text_k(o), 0, &pos, SEG_PRED)) return -1;
    b->text_span[2 * i + 1] = b->enc_text[i] = b->n - 1;
    int c0 = b->n;
    if (push_answer(b, e, ppos, SEG_CONT, i)) return -1;
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

int view_prompt(const Example *e, int include_system, int *out, int cap) {
    int n = 0;
    size_t need = 4 + strlen(e->user) + (include_system ? strlen(e->system) : 0);
    if ((size_t)cap < need) return -1;
    out[n++] = TOK_BOS;
    if (include_system) {
        out[n++] = TOK_SYSTEM;
        n += tok_encode(e->system, out + n);
    }
    out[n++] = TOK_USER;
    n += tok_encode(e->user, out + n);
    out[n++] = TOK_ASSISTANT;
    return n;
}

int view_positions(const Example *e, const ViewOpts *o, int max_new) {
    int S = (int)strlen(e->system), U = (int)strlen(e->user), A = (int)strlen(e->assistant);
    int sys = o->include_system ? 1 + S : 0;
    int ntp = 1 + sys + 1 + U + 1 + A + 1;       /* ⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U ⟨assistant⟩ A ⟨eos⟩ */
    /* the views restart their positions, but a fused Text view continues the NTP prefix */
    int text = o->fused ? 1 + sys + 1 + U + text_k(o) : 2 + U + text_k(o) + 1, code = 2 + A + code_k(o) + 1;
    int prompt = 1 + sys + 1 + U + 1 + max_new;   /* the prompt, then greedy tokens */
    int m = ntp > text ? ntp : text;
    m = m > code ? m : code;
    return m > prompt ? m : prompt;
}

int dataset_check_positions(const Dataset *d, const ViewOpts *o, int max_new, int max_pos, char *err, size_t errn) {
    for (int i = 0; i < d->n; i++) {
        int need = view_positions(&d->ex[i], o, max_new);
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
    memset(b, 0, sizeof *b);
}
