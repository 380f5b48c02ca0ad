/* Batched greedy decoding over the KV cache; a prompt prefix shared by
 * several prompts is computed once and copied. */
#include "generate.h"

#include <stdlib.h>
#include <string.h>

#include "loss.h"

/* One prompt for sorting: its tokens, length and index in the call. */
typedef struct PromptRef {
    const int *ids;
    int len, i;
} PromptRef;

/* Lexicographic order of token sequences (a prefix first), ties by index. */
static int by_tokens(const void *pa, const void *pb) {
    const PromptRef *a = pa, *b = pb;
    int n = a->len < b->len ? a->len : b->len;
    for (int t = 0; t < n; t++)
        if (a->ids[t] != b->ids[t]) return a->ids[t] < b->ids[t] ? -1 : 1;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* Keys and values of slots 0..len-1 of sequence src copied to sequence dst,
 * every layer (the cache layout of kvcache_init: (L, nseq, max_len, KV*hd)). */
static void copy_prefix(Model *model, KVCache *kv, int dst, int src, int len) {
    size_t kvs = (size_t)model->cfg.n_kv_heads * model->head_dim, layer = (size_t)kv->nseq * kv->max_len * kvs;
    size_t d = (size_t)dst * kv->max_len * kvs, s = (size_t)src * kv->max_len * kvs, bytes = (size_t)len * kvs * sizeof(float);
    for (int l = 0; l < model->cfg.n_layers; l++) {
        model->be->copy(model->be, kv->k + l * layer + d, kv->k + l * layer + s, bytes);
        model->be->copy(model->be, kv->v + l * layer + d, kv->v + l * layer + s, bytes);
    }
}

/* Prefill plan of one call: prompts in lexicographic order (order); prompt
 * i copies its first share[i] slots from prompt donor[i] (computed in an
 * earlier wave) and computes the rest in wave[i]. */
typedef struct Plan {
    PromptRef *order;
    int *share, *donor, *wave, nwave;
} Plan;

/* Sort the prompts. Prompt k in that order shares with k-1 their common
 * prefix, up to its own length - 1 (its last token is always computed: its
 * state gives the first new token); the donor is the earliest prompt before
 * it that holds that whole prefix, so that the waves (each one flat forward)
 * are as few as the prompts' nesting is deep. */
static void plan_sharing(Plan *pl, const int *const *prompts, const int *plen, int m, int *lcp) {
    for (int i = 0; i < m; i++) pl->order[i] = (PromptRef){prompts[i], plen[i], i};
    qsort(pl->order, (size_t)m, sizeof *pl->order, by_tokens);
    pl->nwave = 1;
    for (int k = 0; k < m; k++) {
        const PromptRef *b = &pl->order[k];
        lcp[k] = 0;
        if (k > 0) {
            const PromptRef *a = &pl->order[k - 1];
            int n = a->len < b->len ? a->len : b->len;
            while (lcp[k] < n && a->ids[lcp[k]] == b->ids[lcp[k]]) lcp[k]++;
        }
        int i = b->i, s = lcp[k] < plen[i] - 1 ? lcp[k] : plen[i] - 1, j = k - 1;
        while (j > 0 && lcp[j] >= s) j--; /* prompts j..k all begin with those s tokens */
        pl->share[i] = s;
        pl->donor[i] = s > 0 ? pl->order[j].i : -1;
        pl->wave[i] = s > 0 ? pl->wave[pl->donor[i]] + 1 : 0;
        if (pl->wave[i] + 1 > pl->nwave) pl->nwave = pl->wave[i] + 1;
    }
}

/* Work arrays of one call: rows of a forward (cap entries), per prompt (m). */
typedef struct GenWork {
    int *ids, *seq, *pos, *last, *active, *cur, *tok, *rows, *lcp;
} GenWork;

/* The prompts of wave w: shared prefixes copied, the other prompt tokens in
 * one forward, the first new token of each from its last prompt token.
 * Appends the sequences that go on decoding to active (*nact). 0 or -1. */
static int prefill_wave(Model *model, KVCache *kv, const Plan *pl, GenWork *g, LossWork *w, int wv,
                        const int *const *prompts, const int *plen, int m, int max_new, int eos, int **out,
                        int *olen, int *nact) {
    int n = 0, nl = 0;
    for (int k = 0; k < m; k++) {
        int i = pl->order[k].i;
        if (pl->wave[i] != wv) continue;
        if (pl->share[i] > 0) copy_prefix(model, kv, i, pl->donor[i], pl->share[i]);
        for (int t = pl->share[i]; t < plen[i]; t++) { g->ids[n] = prompts[i][t]; g->seq[n] = i; g->pos[n] = t; n++; }
        g->last[nl] = n - 1;
        g->rows[nl++] = i;
        g->cur[i] = plen[i];
    }
    if (n == 0) return 0;
    float *h = model_forward_cached(model, kv, g->ids, g->seq, g->pos, n);
    if (!h || lm_head_argmax(model, h, g->last, nl, g->tok, w)) return -1;
    for (int r = 0; r < nl; r++) {
        int i = g->rows[r];
        if (g->tok[r] == eos || max_new == 0) continue;
        out[i][olen[i]++] = g->tok[r];
        if (olen[i] < max_new) g->active[(*nact)++] = i;
    }
    return 0;
}

/* Decode: one token per still-active sequence per step. 0 or -1. */
static int decode(Model *model, KVCache *kv, GenWork *g, LossWork *w, int nact, int max_new, int eos, int **out,
                  int *olen) {
    while (nact > 0) {
        for (int a = 0; a < nact; a++) {
            int i = g->active[a];
            g->ids[a] = out[i][olen[i] - 1];
            g->seq[a] = i;
            g->pos[a] = g->cur[i]++;
        }
        float *h = model_forward_cached(model, kv, g->ids, g->seq, g->pos, nact);
        if (!h) return -1;
        for (int a = 0; a < nact; a++) g->rows[a] = a;
        if (lm_head_argmax(model, h, g->rows, nact, g->tok, w)) return -1;
        int keep = 0;
        for (int a = 0; a < nact; a++) {
            int i = g->active[a];
            if (g->tok[a] == eos || olen[i] >= max_new) continue;
            out[i][olen[i]++] = g->tok[a];
            if (olen[i] < max_new) g->active[keep++] = i;
        }
        nact = keep;
    }
    return 0;
}

int generate_greedy(Model *model, const int *const *prompts, const int *plen, int m, int max_new, int eos,
                    int **out, int *olen) {
    int maxp = 0, total = 0;
    if (m <= 0) return 0;
    for (int i = 0; i < m; i++) {
        if (plen[i] <= 0) return -1; /* a prompt has at least ⟨bos⟩ */
        maxp = plen[i] > maxp ? plen[i] : maxp;
        total += plen[i];
        olen[i] = 0;
    }
    int max_len = maxp + max_new;
    if (max_new < 0 || max_len > model->cfg.max_pos) return -1;
    KVCache kv;
    LossWork w = {0};
    Plan pl = {0};
    GenWork g = {0};
    int rc = -1, nact = 0;
    size_t cap = (size_t)(total > m ? total : m) * sizeof(int), im = (size_t)m * sizeof(int);
    if (kvcache_init(&kv, model, m, max_len)) goto done;
    pl.order = malloc((size_t)m * sizeof *pl.order);
    pl.share = malloc(im), pl.donor = malloc(im), pl.wave = malloc(im);
    g.ids = malloc(cap), g.seq = malloc(cap), g.pos = malloc(cap);
    g.last = malloc(im), g.active = malloc(im), g.cur = malloc(im), g.tok = malloc(im), g.rows = malloc(im);
    g.lcp = malloc(im);
    if (!pl.order || !pl.share || !pl.donor || !pl.wave || !g.ids || !g.seq || !g.pos || !g.last || !g.active ||
        !g.cur || !g.tok || !g.rows || !g.lcp)
        goto done;
    plan_sharing(&pl, prompts, plen, m, g.lcp);
    for (int wv = 0; wv < pl.nwave; wv++)
        if (prefill_wave(model, &kv, &pl, &g, &w, wv, prompts, plen, m, max_new, eos, out, olen, &nact)) goto done;
    if (decode(model, &kv, &g, &w, nact, max_new, eos, out, olen)) goto done;
    rc = 0;
done:
    free(pl.order); free(pl.share); free(pl.donor); free(pl.wave);
    free(g.ids); free(g.seq); free(g.pos); free(g.last); free(g.active); free(g.cur); free(g.tok); free(g.rows);
    free(g.lcp);
    loss_work_free(&w);
    kvcache_free(&kv, model);
    return rc;
}
