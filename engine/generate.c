/* Batched greedy decoding over the KV cache. */
#include "generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "loss.h"

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
