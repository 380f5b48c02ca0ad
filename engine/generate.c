/* Batched greedy decoding over the KV cache; exact / startswith accuracy. */
#include "generate.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "tokenizer.h"

/* argmax over logits of h (C) through the LM head (V, C). */
static int argmax_row(const float *h, const float *W, int C, int V) {
    int best = 0;
    float bv = -INFINITY;
    for (int v = 0; v < V; v++) {
        const float *w = W + (size_t)v * C;
        float s = 0;
        for (int c = 0; c < C; c++) s += h[c] * w[c];
        if (s > bv) { bv = s; best = v; }
    }
    return best;
}

int generate_greedy(Model *model, const int *const *prompts, const int *plen, int m, int max_new, int eos,
                    int **out, int *olen) {
    int C = model->cfg.dim, V = model->cfg.vocab_size, maxp = 0, total = 0;
    for (int i = 0; i < m; i++) {
        if (plen[i] <= 0) return -1; /* a prompt has at least ⟨bos⟩ */
        maxp = plen[i] > maxp ? plen[i] : maxp;
        total += plen[i];
        olen[i] = 0;
    }
    int max_len = maxp + max_new;
    if (max_len > model->cfg.max_pos) return -1;
    KVCache kv;
    if (kvcache_init(&kv, model, m, max_len)) { kvcache_free(&kv); return -1; }
    int cap = total > m ? total : m;
    int *ids = malloc((size_t)cap * sizeof(int)), *seq = malloc((size_t)cap * sizeof(int)),
        *pos = malloc((size_t)cap * sizeof(int)), *last = malloc((size_t)m * sizeof(int)),
        *active = malloc((size_t)m * sizeof(int)), *cur = malloc((size_t)m * sizeof(int));
    int rc = -1;
    if (!ids || !seq || !pos || !last || !active || !cur) goto done;
    /* Prefill: every prompt token in one flat batch. */
    int n = 0;
    for (int i = 0; i < m; i++) {
        for (int t = 0; t < plen[i]; t++) { ids[n] = prompts[i][t]; seq[n] = i; pos[n] = t; n++; }
        last[i] = n - 1;
        cur[i] = plen[i];
    }
    float *h = model_forward_cached(model, &kv, ids, seq, pos, n);
    if (!h) goto done;
    const float *W = model_param(model, model->tid_lm_head);
    int nact = 0;
    for (int i = 0; i < m; i++) {
        int tok = argmax_row(h + (size_t)last[i] * C, W, C, V);
        if (tok == eos || max_new == 0) continue;
        out[i][olen[i]++] = tok;
        if (olen[i] < max_new) active[nact++] = i;
    }
    /* Decode: one token per still-active sequence per step. */
    while (nact > 0) {
        for (int a = 0; a < nact; a++) {
            int i = active[a];
            ids[a] = out[i][olen[i] - 1];
            seq[a] = i;
            pos[a] = cur[i]++;
        }
        h = model_forward_cached(model, &kv, ids, seq, pos, nact);
        if (!h) goto done;
        int keep = 0;
        for (int a = 0; a < nact; a++) {
            int i = active[a];
            int tok = argmax_row(h + (size_t)a * C, W, C, V);
            if (tok == eos || olen[i] >= max_new) continue;
            out[i][olen[i]++] = tok;
            if (olen[i] < max_new) active[keep++] = i;
        }
        nact = keep;
    }
    rc = 0;
done:
    free(ids); free(seq); free(pos); free(last); free(active); free(cur);
    kvcache_free(&kv);
    return rc;
}

/* Copy of s without leading/trailing white space. */
static char *strip(const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    char *r = malloc(n + 1);
    if (r) { memcpy(r, s, n); r[n] = 0; }
    return r;
}

#define EVAL_CHUNK 64

int evaluate(Model *model, const Dataset *d, int n, int include_system, int max_new, FILE *pred,
             EvalResult *res, EvalProgress progress, void *ctx) {
    memset(res, 0, sizeof *res);
    if (n <= 0 || n > d->n) n = d->n;
    int *pbuf[EVAL_CHUNK], plen[EVAL_CHUNK], *obuf[EVAL_CHUNK], olen[EVAL_CHUNK];
    for (int i = 0; i < EVAL_CHUNK; i++) { pbuf[i] = NULL; obuf[i] = malloc((size_t)(max_new + 1) * sizeof(int)); }
    int rc = 0;
    for (int s = 0; s < n && rc == 0; s += EVAL_CHUNK) {
        int m = n - s < EVAL_CHUNK ? n - s : EVAL_CHUNK;
        for (int i = 0; i < m; i++) {
            const Example *e = &d->ex[s + i];
            int cap = (int)(strlen(e->user) + strlen(e->system) + 8);
            free(pbuf[i]);
            pbuf[i] = malloc((size_t)cap * sizeof(int));
            plen[i] = view_prompt(e, include_system, pbuf[i], cap);
        }
        if (generate_greedy(model, (const int *const *)pbuf, plen, m, max_new, TOK_EOS, obuf, olen)) {
            rc = -1;
            break;
        }
        for (int i = 0; i < m; i++) {
            const Example *e = &d->ex[s + i];
            char *raw = malloc((size_t)olen[i] + 1);
            tok_decode(obuf[i], olen[i], raw);
            char *gen = strip(raw), *tgt = strip(e->assistant);
            int ex = strcmp(gen, tgt) == 0, sw = strncmp(gen, tgt, strlen(tgt)) == 0;
            res->exact += ex;
            res->startswith += sw;
            if (pred) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddStringToObject(o, "prompt", e->user);
                cJSON_AddStringToObject(o, "target", tgt);
                cJSON_AddStringToObject(o, "generated", gen);
                cJSON_AddBoolToObject(o, "exact", ex);
                cJSON_AddBoolToObject(o, "startswith", sw);
                char *js = cJSON_PrintUnformatted(o);
                fprintf(pred, "%s\n", js);
                free(js);
                cJSON_Delete(o);
            }
            free(raw); free(gen); free(tgt);
        }
        res->n += m;
        if (progress) progress(res->n, n, ctx);
    }
    for (int i = 0; i < EVAL_CHUNK; i++) { free(pbuf[i]); free(obuf[i]); }
    if (res->n > 0) {
        res->acc_exact = 100.0 * res->exact / res->n;
        res->acc_startswith = 100.0 * res->startswith / res->n;
    }
    return rc;
}
