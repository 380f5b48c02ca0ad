/* Llama-style decoder: parameters, forward, backward, cached decoding. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int model_preset(const char *name, int vocab_size, ModelConfig *mc, char *err, size_t errn) {
    /* name, C, L, H, KV, F */
    static const struct { const char *name; int C, L, H, KV, F; } P[] = {
        {"pico", 32, 2, 4, 2, 64},     /* tests: grouped-query heads */
        {"nano", 128, 3, 4, 4, 320},   /* the CPU demo preset */
        {"micro", 192, 6, 6, 2, 512},
    };
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) {
        if (strcmp(P[i].name, name)) continue;
        mc->dim = P[i].C;
        mc->n_layers = P[i].L;
        mc->n_heads = P[i].H;
        mc->n_kv_heads = P[i].KV;
        mc->ffn_dim = P[i].F;
        mc->vocab_size = vocab_size;
        mc->max_pos = 2048;
        mc->rms_eps = 1e-5f;
        mc->rope_theta = 10000.0f;
        mc->tie_embeddings = 0;
        return 0;
    }
    snprintf(err, errn, "unknown model preset '%s' (pico, nano, micro)", name);
    return -1;
}

static int add_tensor(Model *m, int *cap, const char *name, int d0, int d1) {
    if (m->ntensors == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        Tensor *t = realloc(m->tensors, (size_t)*cap * sizeof *t);
        if (!t) return -1;
        m->tensors = t;
    }
    Tensor *t = &m->tensors[m->ntensors];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->numel = (size_t)d0 * (d1 ? d1 : 1);
    t->offset = m->nparams;
    m->nparams += t->numel;
    return m->ntensors++;
}

int model_init(Model *m, const ModelConfig *mc, const Backend *be, char *err, size_t errn) {
    memset(m, 0, sizeof *m);
    m->cfg = *mc;
    m->be = be;
    int C = mc->dim, H = mc->n_heads, KV = mc->n_kv_heads, F = mc->ffn_dim, V = mc->vocab_size;
    if (C <= 0 || H <= 0 || KV <= 0 || C % H || H % KV || (C / H) % 2 || mc->n_layers <= 0 || F <= 0 ||
        V <= 0) {
        snprintf(err, errn, "bad model shape: hidden_size %d, heads %d, kv heads %d (need hidden %% heads == 0, "
                 "heads %% kv_heads == 0, even head_dim)", C, H, KV);
        return -1;
    }
    int hd = C / H;
    m->head_dim = hd;
    m->qkv_dim = (H + 2 * KV) * hd;
    int cap = 0;
    char nm[96];
    m->layer_tid = malloc((size_t)mc->n_layers * P_PER_LAYER * sizeof(int));
    if (!m->layer_tid) goto oom;
    if ((m->tid_embed = add_tensor(m, &cap, "model.embed_tokens.weight", V, C)) < 0) goto oom;
    static const char *names[P_PER_LAYER] = {
        "input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
    for (int l = 0; l < mc->n_layers; l++) {
        int shape[P_PER_LAYER][2] = {{C, 0}, {H * hd, C}, {KV * hd, C}, {KV * hd, C}, {C, H * hd},
                                     {C, 0}, {F, C},      {F, C},       {C, F}};
        for (int p = 0; p < P_PER_LAYER; p++) {
            snprintf(nm, sizeof nm, "model.layers.%d.%s.weight", l, names[p]);
            int id = add_tensor(m, &cap, nm, shape[p][0], shape[p][1]);
            if (id < 0) goto oom;
            m->layer_tid[l * P_PER_LAYER + p] = id;
        }
    }
    if ((m->tid_norm = add_tensor(m, &cap, "model.norm.weight", C, 0)) < 0) goto oom;
    m->tid_lm_head = mc->tie_embeddings ? m->tid_embed : add_tensor(m, &cap, "lm_head.weight", V, C);
    if (m->tid_lm_head < 0) goto oom;
    m->params = calloc(m->nparams, sizeof(float));
    m->grads = calloc(m->nparams, sizeof(float));
    int half = hd / 2;
    m->rope_cos = malloc((size_t)mc->max_pos * half * sizeof(float));
    m->rope_sin = malloc((size_t)mc->max_pos * half * sizeof(float));
    if (!m->params || !m->grads || !m->rope_cos || !m->rope_sin) goto oom;
    for (int p = 0; p < mc->max_pos; p++)
        for (int i = 0; i < half; i++) {
            /* inv_freq_i = theta^(-2i/hd), as in Hugging Face's Llama rotary embedding */
            double f = (double)p * pow((double)mc->rope_theta, -2.0 * i / hd);
            m->rope_cos[(size_t)p * half + i] = (float)cos(f);
            m->rope_sin[(size_t)p * half + i] = (float)sin(f);
        }
    return 0;
oom:
    snprintf(err, errn, "out of memory allocating the model");
    model_free(m);
    return -1;
}

void model_free(Model *m) {
    free(m->tensors); free(m->layer_tid); free(m->params); free(m->grads);
    free(m->rope_cos); free(m->rope_sin); free(m->acts.buf); free(m->acts.probs_off);
    memset(m, 0, sizeof *m);
}

void model_init_weights(Model *m, Rng *r, float std) {
    for (int t = 0; t < m->ntensors; t++) {
        Tensor *T = &m->tensors[t];
        float *p = m->params + T->offset;
        if (T->ndim == 1) {
            for (size_t i = 0; i < T->numel; i++) p[i] = 1.0f;
        } else {
            for (size_t i = 0; i < T->numel; i++) p[i] = (float)(std * rng_normal(r));
        }
    }
}

Tensor *model_tensor(Model *m, const char *name) {
    for (int t = 0; t < m->ntensors; t++)
        if (!strcmp(m->tensors[t].name, name)) return &m->tensors[t];
    return NULL;
}

/* Lay out the activation arena for n tokens, `layers` saved layers and
 * probs_len floats of attention probabilities per layer. */
static int acts_reserve(Model *m, int n, int layers, size_t probs_len) {
    Acts *a = &m->acts;
    int C = m->cfg.dim, F = m->cfg.ffn_dim, QKV = m->qkv_dim, HD = m->cfg.n_heads * m->head_dim;
    size_t N = (size_t)n;
    size_t per_layer = N * (C + C + 1 + QKV + HD + C + C + 1 + 2 * F + F) + probs_len;
    size_t need = (size_t)(layers + 1) * N * C + (size_t)layers * per_layer + N * C + N +
                  N * (C + C + QKV + HD + 2 * F + F);
    if (need > a->buf_len) {
        free(a->buf);
        a->buf = malloc(need * sizeof(float));
        if (!a->buf) { a->buf_len = 0; return -1; }
        a->buf_len = need;
    }
    float *p = a->buf;
#define TAKE(ptr, len) do { ptr = p; p += (len); } while (0)
    TAKE(a->x, (size_t)(layers + 1) * N * C);
    TAKE(a->xn1, layers * N * C);
    TAKE(a->rstd1, layers * N);
    TAKE(a->qkv, layers * N * QKV);
    TAKE(a->ao, layers * N * HD);
    TAKE(a->xmid, layers * N * C);
    TAKE(a->xn2, layers * N * C);
    TAKE(a->rstd2, layers * N);
    TAKE(a->gu, layers * N * 2 * F);
    TAKE(a->act, layers * N * F);
    TAKE(a->probs, layers * probs_len);
    TAKE(a->hf, N * C);
    TAKE(a->rstdf, N);
    TAKE(a->dx, N * C);
    TAKE(a->dxn, N * C);
    TAKE(a->dqkv, N * QKV);
    TAKE(a->dao, N * HD);
    TAKE(a->dgu, N * 2 * F);
    TAKE(a->dact, N * F);
#undef TAKE
    a->n = n;
    a->layers = layers;
    a->probs_cap = probs_len;
    return 0;
}

/* Per-layer views into the arena. */
typedef struct LayerActs { float *x, *xn1, *rstd1, *qkv, *ao, *xmid, *xn2, *rstd2, *gu, *act, *probs, *xout; } LayerActs;

static LayerActs layer_acts(Model *m, int l) {
    Acts *a = &m->acts;
    size_t N = (size_t)a->n;
    int C = m->cfg.dim, F = m->cfg.ffn_dim, HD = m->cfg.n_heads * m->head_dim;
    int s = a->layers == 1 ? 0 : l; /* decoding reuses one slot */
    LayerActs la = {
        a->x + (size_t)s * N * C, a->xn1 + s * N * C, a->rstd1 + s * N, a->qkv + s * N * m->qkv_dim,
        a->ao + s * N * HD, a->xmid + s * N * C, a->xn2 + s * N * C, a->rstd2 + s * N,
        a->gu + s * N * 2 * F, a->act + s * N * F, a->probs + s * a->probs_cap, a->x + (size_t)(s + 1) * N * C};
    return la;
}

/* One decoder layer forward. Exactly one of L (training) and kv (decoding) is
 * set. Returns 0 or -1 (out of memory). */
static int layer_forward(Model *m, int l, LayerActs *la, const int *pos, int n, const AttnLayout *L,
                          const KVView *kv) {
    const Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    int C = c->dim, H = c->n_heads, KV = c->n_kv_heads, hd = m->head_dim, F = c->ffn_dim;
    be->rmsnorm_forward(la->xn1, la->rstd1, la->x, model_param(m, model_ltid(m, l, P_ATTN_NORM)), n, C, c->rms_eps);
    be->linear_forward(la->qkv, la->xn1, model_param(m, model_ltid(m, l, P_Q)), n, C, m->qkv_dim);
    be->rope(la->qkv, pos, m->rope_cos, m->rope_sin, n, m->qkv_dim, 0, H, hd, 0);
    be->rope(la->qkv, pos, m->rope_cos, m->rope_sin, n, m->qkv_dim, H * hd, KV, hd, 0);
    if (L) {
        if (be->attention_forward(la->ao, la->probs, la->qkv, L, H, KV, hd)) return -1;
    } else {
        be->attention_cached(la->ao, la->qkv, kv, n, H, KV, hd);
    }
    be->linear_forward(la->xmid, la->ao, model_param(m, model_ltid(m, l, P_O)), n, H * hd, C);
    be->add(la->xmid, la->x, (size_t)n * C);
    be->rmsnorm_forward(la->xn2, la->rstd2, la->xmid, model_param(m, model_ltid(m, l, P_MLP_NORM)), n, C, c->rms_eps);
    be->linear_forward(la->gu, la->xn2, model_param(m, model_ltid(m, l, P_GATE)), n, C, 2 * F);
    be->swiglu_forward(la->act, la->gu, n, F);
    be->linear_forward(la->xout, la->act, model_param(m, model_ltid(m, l, P_DOWN)), n, F, C);
    be->add(la->xout, la->xmid, (size_t)n * C);
    return 0;
}

/* probs offsets per row: (H, T, T) each. */
static size_t *probs_layout(const Batch *b, int H) {
    size_t *off = malloc((size_t)(b->nrows + 1) * sizeof *off);
    if (!off) return NULL;
    off[0] = 0;
    for (int r = 0; r < b->nrows; r++) {
        size_t T = (size_t)(b->row_start[r + 1] - b->row_start[r]);
        off[r + 1] = off[r] + (size_t)H * T * T;
    }
    return off;
}

static AttnLayout attn_layout(const Batch *b, const size_t *off) {
    AttnLayout L = {b->n, b->nrows, b->row_start, b->seg, b->vis, b->nseg, off};
    return L;
}

float *model_forward(Model *m, const Batch *b) {
    const ModelConfig *c = &m->cfg;
    free(m->acts.probs_off);
    m->acts.probs_off = probs_layout(b, c->n_heads);
    if (!m->acts.probs_off) return NULL;
    if (acts_reserve(m, b->n, c->n_layers, m->acts.probs_off[b->nrows])) return NULL;
    AttnLayout L = attn_layout(b, m->acts.probs_off);
    m->be->embedding_forward(m->acts.x, b->ids, model_param(m, m->tid_embed), b->n, c->dim);
    for (int l = 0; l < c->n_layers; l++) {
        LayerActs la = layer_acts(m, l);
        if (layer_forward(m, l, &la, b->pos, b->n, &L, NULL)) return NULL;
    }
    LayerActs last = layer_acts(m, c->n_layers - 1);
    m->be->rmsnorm_forward(m->acts.hf, m->acts.rstdf, last.xout, model_param(m, m->tid_norm), b->n, c->dim,
                           c->rms_eps);
    return m->acts.hf;
}

int model_backward(Model *m, const Batch *b, const float *dh) {
    const Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    Acts *a = &m->acts;
    int n = b->n, C = c->dim, H = c->n_heads, KV = c->n_kv_heads, hd = m->head_dim, F = c->ffn_dim;
    size_t N = (size_t)n;
    AttnLayout L = attn_layout(b, a->probs_off);
    memset(a->dx, 0, N * C * sizeof(float));
    LayerActs last = layer_acts(m, c->n_layers - 1);
    be->rmsnorm_backward(a->dx, model_grad(m, m->tid_norm), dh, last.xout, model_param(m, m->tid_norm), a->rstdf,
                         n, C);
    for (int l = c->n_layers - 1; l >= 0; l--) {
        LayerActs la = layer_acts(m, l);
        /* MLP: x_out = x_mid + down(swiglu(gate_up(norm(x_mid)))) */
        memset(a->dact, 0, N * F * sizeof(float));
        be->linear_backward(a->dact, model_grad(m, model_ltid(m, l, P_DOWN)), a->dx, la.act,
                            model_param(m, model_ltid(m, l, P_DOWN)), n, F, C);
        memset(a->dgu, 0, N * 2 * F * sizeof(float));
        be->swiglu_backward(a->dgu, a->dact, la.gu, n, F);
        memset(a->dxn, 0, N * C * sizeof(float));
        be->linear_backward(a->dxn, model_grad(m, model_ltid(m, l, P_GATE)), a->dgu, la.xn2,
                            model_param(m, model_ltid(m, l, P_GATE)), n, C, 2 * F);
        be->rmsnorm_backward(a->dx, model_grad(m, model_ltid(m, l, P_MLP_NORM)), a->dxn, la.xmid,
                             model_param(m, model_ltid(m, l, P_MLP_NORM)), la.rstd2, n, C);
        /* Attention: x_mid = x + o(attn(rope(qkv(norm(x))))) */
        memset(a->dao, 0, N * H * hd * sizeof(float));
        be->linear_backward(a->dao, model_grad(m, model_ltid(m, l, P_O)), a->dx, la.ao,
                            model_param(m, model_ltid(m, l, P_O)), n, H * hd, C);
        memset(a->dqkv, 0, N * m->qkv_dim * sizeof(float));
        if (be->attention_backward(a->dqkv, a->dao, la.probs, la.qkv, &L, H, KV, hd)) return -1;
        be->rope(a->dqkv, b->pos, m->rope_cos, m->rope_sin, n, m->qkv_dim, 0, H, hd, 1);
        be->rope(a->dqkv, b->pos, m->rope_cos, m->rope_sin, n, m->qkv_dim, H * hd, KV, hd, 1);
        memset(a->dxn, 0, N * C * sizeof(float));
        be->linear_backward(a->dxn, model_grad(m, model_ltid(m, l, P_Q)), a->dqkv, la.xn1,
                            model_param(m, model_ltid(m, l, P_Q)), n, C, m->qkv_dim);
        be->rmsnorm_backward(a->dx, model_grad(m, model_ltid(m, l, P_ATTN_NORM)), a->dxn, la.x,
                             model_param(m, model_ltid(m, l, P_ATTN_NORM)), la.rstd1, n, C);
    }
    be->embedding_backward(model_grad(m, m->tid_embed), a->dx, b->ids, n, C);
    return 0;
}

int kvcache_init(KVCache *kv, const Model *m, int nseq, int max_len) {
    size_t len = (size_t)m->cfg.n_layers * nseq * max_len * m->cfg.n_kv_heads * m->head_dim;
    kv->nseq = nseq;
    kv->max_len = max_len;
    kv->k = malloc(len * sizeof(float));
    kv->v = malloc(len * sizeof(float));
    return kv->k && kv->v ? 0 : -1;
}

void kvcache_free(KVCache *kv) {
    free(kv->k);
    free(kv->v);
    kv->k = kv->v = NULL;
}

float *model_forward_cached(Model *m, KVCache *kv, const int *ids, const int *seq, const int *pos, int n) {
    const ModelConfig *c = &m->cfg;
    if (acts_reserve(m, n, 1, 0)) return NULL;
    size_t layer_len = (size_t)kv->nseq * kv->max_len * c->n_kv_heads * m->head_dim;
    m->be->embedding_forward(m->acts.x, ids, model_param(m, m->tid_embed), n, c->dim);
    for (int l = 0; l < c->n_layers; l++) {
        LayerActs la = layer_acts(m, 0);
        KVView v = {kv->k + l * layer_len, kv->v + l * layer_len, kv->max_len, seq, pos};
        if (layer_forward(m, l, &la, pos, n, NULL, &v)) return NULL;
        memcpy(la.x, la.xout, (size_t)n * c->dim * sizeof(float));
    }
    LayerActs la = layer_acts(m, 0);
    m->be->rmsnorm_forward(m->acts.hf, m->acts.rstdf, la.x, model_param(m, m->tid_norm), n, c->dim, c->rms_eps);
    return m->acts.hf;
}
