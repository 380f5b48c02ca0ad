/* Batched greedy decoding over the KV cache; exact / startswith accuracy. */
#include "generate.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "loss.h"
#include "tokenizer.h"

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
    if (max_len > model->cfg.max_pos) return -1;
    KVCache kv;
    LossWork w = {0};
    if (kvcache_init(&kv, model, m, max_len)) { kvcache_free(&kv, model); return -1; }
    int cap = total > m ? total : m;
    int *ids = malloc((size_t)cap * sizeof(int)), *seq = malloc((size_t)cap * sizeof(int)),
        *pos = malloc((size_t)cap * sizeof(int)), *last = malloc((size_t)m * sizeof(int)),
        *active = malloc((size_t)m * sizeof(int)), *cur = malloc((size_t)m * sizeof(int)),
        *tok = malloc((size_t)m * sizeof(int)), *rows = malloc((size_t)m * sizeof(int));
    int rc = -1;
    if (!ids || !seq || !pos || !last || !active || !cur || !tok || !rows) goto done;
    /* Prefill: every prompt token in one flat batch. */
    int n = 0;
    for (int i = 0; i < m; i++) {
        for (int t = 0; t < plen[i]; t++) { ids[n] = prompts[i][t]; seq[n] = i; pos[n] = t; n++; }
        last[i] = n - 1;
        cur[i] = plen[i];
    }
    float *h = model_forward_cached(model, &kv, ids, seq, pos, n);
    if (!h) goto done;
    int nact = 0;
    if (lm_head_argmax(model, h, last, m, tok, &w)) goto done;
    for (int i = 0; i < m; i++) {
        if (tok[i] == eos || max_new == 0) continue;
        out[i][olen[i]++] = tok[i];
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
        for (int a = 0; a < nact; a++) rows[a] = a;
        if (lm_head_argmax(model, h, rows, nact, tok, &w)) goto done;
        int keep = 0;
        for (int a = 0; a < nact; a++) {
            int i = active[a];
            if (tok[a] == eos || olen[i] >= max_new) continue;
            out[i][olen[i]++] = tok[a];
            if (olen[i] < max_new) active[keep++] = i;
        }
        nact = keep;
    }
    rc = 0;
done:
    free(ids); free(seq); free(pos); free(last); free(active); free(cur); free(tok); free(rows);
    loss_work_free(&w);
    kvcache_free(&kv, model);
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
