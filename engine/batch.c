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

/* NTP: ⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U ⟨assistant⟩ A ⟨eos⟩ with next-token targets. */
static int add_ntp(Batch *b, const Example *e, const ViewOpts *o) {
    if (new_row(b)) return -1;
    int start = b->n, pos = 0, first_target = -1;
    if (push(b, TOK_BOS, pos++, SEG_NTP)) return -1;
    if (o->include_system) {
        if (push(b, TOK_SYSTEM, pos++, SEG_NTP) || push_str(b, e->system, &pos, SEG_NTP)) return -1;
    }
    if (push(b, TOK_USER, pos++, SEG_NTP) || push_str(b, e->user, &pos, SEG_NTP)) return -1;
    if (push(b, TOK_ASSISTANT, pos++, SEG_NTP)) return -1;
    int asst = b->n - 1;
    if (push_str(b, e->assistant, &pos, SEG_NTP) || push(b, TOK_EOS, pos++, SEG_NTP)) return -1;
    first_target = o->targets_all ? start : asst; /* token t predicts token t+1 */
    for (int t = first_target; t < b->n - 1; t++) {
        b->tgt[t] = b->ids[t + 1];
        b->ntargets++;
    }
    end_row(b);
    return 0;
}

/* Text: ⟨bos⟩ ⟨user⟩ U ⟨pred_k⟩ … ⟨pred_1⟩ ⟨eos⟩; returns the index of the
 * token before ⟨eos⟩ (pred_1, or the last user token when k = 0). */
static int add_text(Batch *b, const Example *e, const ViewOpts *o, int *enc) {
    int pos = 0;
    if (push(b, TOK_BOS, pos++, SEG_TEXT) || push(b, TOK_USER, pos++, SEG_TEXT) ||
        push_str(b, e->user, &pos, SEG_TEXT))
        return -1;
    for (int i = o->k; i >= 1; i--)
        if (push(b, TOK_PRED1 + i - 1, pos++, SEG_TEXT)) return -1;
    *enc = b->n - 1;
    return push(b, TOK_EOS, pos++, SEG_TEXT);
}

/* Code: ⟨bos⟩ ⟨assistant⟩ A ⟨eos⟩; enc = the last answer token. */
static int add_code(Batch *b, const Example *e, int *enc) {
    int pos = 0;
    if (push(b, TOK_BOS, pos++, SEG_CODE) || push(b, TOK_ASSISTANT, pos++, SEG_CODE) ||
        push_str(b, e->assistant, &pos, SEG_CODE))
        return -1;
    *enc = b->n - 1;
    return push(b, TOK_EOS, pos++, SEG_CODE);
}

int batch_build(Batch *b, const Example *ex, const int *idx, int m, const ViewOpts *o, int with_jepa) {
    b->n = 0;
    b->nrows = 0;
    b->ntargets = 0;
    b->nex = m;
    b->jepa = with_jepa;
    b->nseg = SEG_COUNT;
    memset(b->vis, 0, sizeof b->vis);
    for (int s = 0; s < SEG_COUNT; s++) b->vis[s * SEG_COUNT + s] = 1; /* blocks see only themselves */
    free(b->enc_text);
    free(b->enc_code);
    b->enc_text = malloc((size_t)(m ? m : 1) * sizeof(int));
    b->enc_code = malloc((size_t)(m ? m : 1) * sizeof(int));
    if (!b->enc_text || !b->enc_code) return -1;
    for (int i = 0; i < m; i++)
        if (add_ntp(b, &ex[idx[i]], o)) return -1;
    for (int i = 0; i < m; i++) b->enc_text[i] = b->enc_code[i] = -1;
    if (!with_jepa) return 0;
    if (o->packed) {
        for (int i = 0; i < m; i++) {
            if (new_row(b) || add_text(b, &ex[idx[i]], o, &b->enc_text[i]) ||
                add_code(b, &ex[idx[i]], &b->enc_code[i]))
                return -1;
            end_row(b);
        }
    } else {
        for (int i = 0; i < m; i++) {
            if (new_row(b) || add_text(b, &ex[idx[i]], o, &b->enc_text[i])) return -1;
            end_row(b);
        }
        for (int i = 0; i < m; i++) {
            if (new_row(b) || add_code(b, &ex[idx[i]], &b->enc_code[i])) return -1;
            end_row(b);
        }
    }
    return 0;
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
    int text = 2 + U + o->k + 1, code = 2 + A + 1; /* views restart their positions */
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
    memset(b, 0, sizeof *b);
}
