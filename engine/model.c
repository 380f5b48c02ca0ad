/* Llama-style decoder: tensor table, activation table, forward, backward,
 * cached decoding, LoRA adapters. Every tensor operation goes through m->be. */
#include "model.h"
#include "rope.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Tensor table ------------------------------------------------------------------ */

static int add_tensor(Model *m, int *cap, const char *name, int d0, int d1, int trainable) {
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
    t->trainable = trainable;
    t->goff = trainable ? m->ntrainable : 0;
    m->nparams += t->numel;
    if (trainable) m->ntrainable += t->numel;
    return m->ntensors++;
}

static const char *LAYER_NAMES[P_PER_LAYER] = {
    "input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
/* The base tensor of each LoRA target, and the target's (out, in). */
static const int LT_BASE[LT_COUNT] = {P_Q, P_K, P_V, P_O, P_GATE, P_UP, P_DOWN};

static int add_base_tensors(Model *m, int *cap, int trainable) {
    const ModelConfig *mc = &m->cfg;
    int C = mc->dim, H = mc->n_heads, KV = mc->n_kv_heads, F = mc->ffn_dim, V = mc->vocab_size, hd = m->head_dim;
    char nm[96];
    if ((m->tid_embed = add_tensor(m, cap, "model.embed_tokens.weight", V, C, trainable)) < 0) return -1;
    for (int l = 0; l < mc->n_layers; l++) {
        int shape[P_PER_LAYER][2] = {{C, 0}, {H * hd, C}, {KV * hd, C}, {KV * hd, C}, {C, H * hd},
                                     {C, 0}, {F, C},      {F, C},       {C, F}};
        for (int p = 0; p < P_PER_LAYER; p++) {
            snprintf(nm, sizeof nm, "model.layers.%d.%s.weight", l, LAYER_NAMES[p]);
            int id = add_tensor(m, cap, nm, shape[p][0], shape[p][1], trainable);
            if (id < 0) return -1;
            m->layer_tid[l * P_PER_LAYER + p] = id;
        }
    }
    if ((m->tid_norm = add_tensor(m, cap, "model.norm.weight", C, 0, trainable)) < 0) return -1;
    m->tid_lm_head = mc->tie_embeddings ? m->tid_embed : add_tensor(m, cap, "lm_head.weight", V, C, trainable);
    return m->tid_lm_head < 0 ? -1 : 0;
}

/* Adapters: model.layers.{l}.{module}.lora_A.weight (r, in), lora_B.weight (out, r). */
static int add_lora_tensors(Model *m, int *cap) {
    char nm[128];
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int t = 0; t < LT_COUNT; t++) {
            int *ab = &m->lora_tid[(l * LT_COUNT + t) * 2];
            ab[0] = ab[1] = -1;
            if (m->lora.rank <= 0 || !(m->lora.targets & (1u << t))) continue;
            const Tensor *W = &m->tensors[model_ltid(m, l, LT_BASE[t])];
            snprintf(nm, sizeof nm, "model.layers.%d.%s.lora_A.weight", l, LAYER_NAMES[LT_BASE[t]]);
            if ((ab[0] = add_tensor(m, cap, nm, m->lora.rank, W->shape[1], 1)) < 0) return -1;
            snprintf(nm, sizeof nm, "model.layers.%d.%s.lora_B.weight", l, LAYER_NAMES[LT_BASE[t]]);
            if ((ab[1] = add_tensor(m, cap, nm, W->shape[0], m->lora.rank, 1)) < 0) return -1;
        }
    return 0;
}

/* RoPE tables (rope.c: Hugging Face's default and llama3 frequencies) onto the device. */
static int rope_upload(Model *m, char *err, size_t errn) {
    size_t len = (size_t)m->cfg.max_pos * (m->head_dim / 2);
    float *c = malloc(len * sizeof(float)), *s = malloc(len * sizeof(float));
    int rc = !c || !s ? -1 : rope_tables(&m->cfg, m->head_dim, c, s, err, errn);
    if (!rc) {
        m->be->upload(m->be, m->rope_cos, c, len * sizeof(float));
        m->be->upload(m->be, m->rope_sin, s, len * sizeof(float));
    }
    free(c);
    free(s);
    return rc;
}

int model_init(Model *m, const ModelConfig *mc, const LoraConfig *lora, Backend *be, char *err, size_t errn) {
    memset(m, 0, sizeof *m);
    m->cfg = *mc;
    m->be = be;
    if (lora && lora->rank > 0) m->lora = *lora;
    int C = mc->dim, H = mc->n_heads, KV = mc->n_kv_heads;
    if (C <= 0 || H <= 0 || KV <= 0 || C % H || H % KV || (C / H) % 2 || mc->n_layers <= 0 || mc->ffn_dim <= 0 ||
        mc->vocab_size <= 0 || mc->max_pos <= 0) {
        snprintf(err, errn, "bad model shape: hidden_size %d, heads %d, kv heads %d (need hidden %% heads == 0, "
                 "heads %% kv_heads == 0, even head_dim, positive sizes)", C, H, KV);
        return -1;
    }
    m->head_dim = C / H;
    m->qkv_dim = (H + 2 * KV) * m->head_dim;
    int cap = 0;
    m->layer_tid = malloc((size_t)mc->n_layers * P_PER_LAYER * sizeof(int));
    m->lora_tid = malloc((size_t)mc->n_layers * LT_COUNT * 2 * sizeof(int));
    if (!m->layer_tid || !m->lora_tid) goto oom;
    m->tid_predictor = -1;
    if (add_base_tensors(m, &cap, m->lora.rank == 0)) goto oom;
    if (mc->jepa_predictor && (m->tid_predictor = add_tensor(m, &cap, "jepa_predictor.weight", C, C, 1)) < 0) goto oom;
    if (add_lora_tensors(m, &cap)) goto oom;
    m->trainable_off = m->nparams - m->ntrainable; /* frozen tensors come first: trainable ones are the tail */
    for (int t = 0; t < m->ntensors; t++)
        if (m->tensors[t].trainable && m->tensors[t].offset != m->trainable_off + m->tensors[t].goff) {
            snprintf(err, errn, "internal error: trainable tensors are not contiguous (%s)", m->tensors[t].name);
            model_free(m);
            return -1;
        }
    size_t half = (size_t)m->head_dim / 2;
    m->params = be->alloc(be, m->nparams * sizeof(float));
    m->grads = be->alloc(be, (m->ntrainable ? m->ntrainable : 1) * sizeof(float));
    m->rope_cos = be->alloc(be, (size_t)mc->max_pos * half * sizeof(float));
    m->rope_sin = be->alloc(be, (size_t)mc->max_pos * half * sizeof(float));
    if (!m->params || !m->grads || !m->rope_cos || !m->rope_sin) goto oom;
    if (rope_upload(m, err, errn)) {
        model_free(m);
        return -1;
    }
    if (m->tid_predictor >= 0) model_predictor_identity(m);
    return 0;
oom:
    snprintf(err, errn, "out of memory allocating the model");
    model_free(m);
    return -1;
}

void model_free(Model *m) {
    Backend *be = m->be;
    if (be) {
        be->free(be, m->params); be->free(be, m->grads); be->free(be, m->rope_cos); be->free(be, m->rope_sin);
        be->free(be, m->acts.buf); be->free(be, m->acts.ibuf);
    }
    free(m->tensors); free(m->layer_tid); free(m->lora_tid); free(m->acts.row_start_host);
    memset(m, 0, sizeof *m);
}

/* Fill each tensor on the host with fill(T, host) and upload it. */
static void init_tensors(Model *m, int lora, void (*fill)(const Tensor *, float *, Rng *, float), Rng *r, float std) {
    for (int t = 0; t < m->ntensors; t++) {
        Tensor *T = &m->tensors[t];
        int is_lora = strstr(T->name, ".lora_") != NULL;
        if (is_lora != lora) continue;
        float *h = malloc(T->numel * sizeof(float));
        if (!h) continue;
        fill(T, h, r, std);
        model_tensor_set(m, t, h);
        free(h);
    }
}

static void fill_base(const Tensor *T, float *p, Rng *r, float std) {
    for (size_t i = 0; i < T->numel; i++) p[i] = T->ndim == 1 ? 1.0f : (float)(std * rng_normal(r));
}

static void fill_lora(const Tensor *T, float *p, Rng *r, float std) {
    (void)std;
    int is_a = strstr(T->name, ".lora_A.") != NULL;
    double bound = 1.0 / sqrt((double)T->shape[1]); /* kaiming_uniform(a=√5): gain √(2/6), bound = gain·√(3/in) */
    for (size_t i = 0; i < T->numel; i++) p[i] = is_a ? (float)((2.0 * rng_uniform(r) - 1.0) * bound) : 0.0f;
}

void model_init_weights(Model *m, Rng *r, float std) {
    init_tensors(m, 0, fill_base, r, std);
    if (m->tid_predictor >= 0) model_predictor_identity(m); /* not drawn: other streams' tensors keep their values */
}

void model_predictor_identity(Model *m) {
    int C = m->cfg.dim;
    float *h = calloc((size_t)C * C, sizeof(float));
    if (!h) return;
    for (int i = 0; i < C; i++) h[(size_t)i * C + i] = 1.0f;
    model_tensor_set(m, m->tid_predictor, h);
    free(h);
}
void model_init_lora(Model *m, Rng *r) { init_tensors(m, 1, fill_lora, r, 0); }

int model_tensor_id(const Model *m, const char *name) {
    for (int t = 0; t < m->ntensors; t++)
        if (!strcmp(m->tensors[t].name, name)) return t;
    return -1;
}

Tensor *model_tensor(Model *m, const char *name) {
    int t = model_tensor_id(m, name);
    return t < 0 ? NULL : &m->tensors[t];
}

void model_tensor_get(const Model *m, int tid, float *host) {
    const Tensor *T = &m->tensors[tid];
    m->be->download(m->be, host, m->params + T->offset, T->numel * sizeof(float));
}

void model_tensor_set(Model *m, int tid, const float *host) {
    const Tensor *T = &m->tensors[tid];
    m->be->upload(m->be, m->params + T->offset, host, T->numel * sizeof(float));
}

void model_zero_grads(Model *m) { m->be->zero(m->be, m->grads, m->ntrainable * sizeof(float)); }

void model_set_training(Model *m, int training, uint64_t key) {
    m->training = training;
    m->dropout_key = key;
}

/* ---- Activation table ------------------------------------------------------------ */

enum { S_LAYERS1, S_LAYERS, S_ONE };                    /* slots: layers+1, layers, 1 */
enum { W_1, W_C, W_QKV, W_HD, W_2F, W_F, W_ATTN, W_LORA_T, W_LORA_R, W_LORA_IN }; /* floats per token */
typedef struct ActSpec { const char *name; int slots, width, train_only; } ActSpec;

/* Every activation: its slots and width. Sizes and pointers derive from this table. */
static const ActSpec ACTS[ACT_COUNT] = {
    [ACT_X] = {"x: residual stream into each layer, and x_L", S_LAYERS1, W_C, 0},
    [ACT_XN1] = {"xn1 = RMSNorm(x)", S_LAYERS, W_C, 0},
    [ACT_RSTD1] = {"rstd1", S_LAYERS, W_1, 0},
    [ACT_QKV] = {"qkv (RoPE applied)", S_LAYERS, W_QKV, 0},
    [ACT_AO] = {"ao: attention output", S_LAYERS, W_HD, 0},
    [ACT_XMID] = {"xmid = x + o_proj(ao)", S_LAYERS, W_C, 0},
    [ACT_XN2] = {"xn2 = RMSNorm(xmid)", S_LAYERS, W_C, 0},
    [ACT_RSTD2] = {"rstd2", S_LAYERS, W_1, 0},
    [ACT_GU] = {"gu = [gate | up]", S_LAYERS, W_2F, 0},
    [ACT_ACT] = {"act = SwiGLU(gu)", S_LAYERS, W_F, 0},
    [ACT_ATTN] = {"attention state saved by the backend", S_LAYERS, W_ATTN, 1},
    [ACT_LORA_T] = {"LoRA t = dropout(x)·Aᵀ of every target", S_LAYERS, W_LORA_T, 0},
    [ACT_HF] = {"h = final RMSNorm", S_ONE, W_C, 0},
    [ACT_RSTDF] = {"rstd of the final norm", S_ONE, W_1, 0},
    [ACT_LORA_X] = {"LoRA dropout(x) scratch", S_ONE, W_LORA_IN, 0},
    [ACT_DX] = {"dx", S_ONE, W_C, 1},
    [ACT_DXN] = {"dxn", S_ONE, W_C, 1},
    [ACT_DQKV] = {"dqkv", S_ONE, W_QKV, 1},
    [ACT_DAO] = {"dao", S_ONE, W_HD, 1},
    [ACT_DGU] = {"dgu", S_ONE, W_2F, 1},
    [ACT_DACT] = {"dact", S_ONE, W_F, 1},
    [ACT_DLORA_T] = {"LoRA dt", S_ONE, W_LORA_R, 1},
    [ACT_DLORA_X] = {"LoRA d dropout(x)", S_ONE, W_LORA_IN, 1},
};

static int lora_ntargets(const Model *m) {
    int k = 0;
    for (int t = 0; t < LT_COUNT; t++) k += m->lora.rank > 0 && (m->lora.targets & (1u << t));
    return k;
}

static size_t act_width(const Model *m, int w) {
    const ModelConfig *c = &m->cfg;
    int r = m->lora.rank, in = c->dim > c->ffn_dim ? c->dim : c->ffn_dim;
    switch (w) {
    case W_1: return 1;
    case W_C: return (size_t)c->dim;
    case W_QKV: return (size_t)m->qkv_dim;
    case W_HD: return (size_t)c->n_heads * m->head_dim;
    case W_2F: return 2 * (size_t)c->ffn_dim;
    case W_F: return (size_t)c->ffn_dim;
    case W_LORA_T: return (size_t)r * lora_ntargets(m);
    case W_LORA_R: return (size_t)r;
    case W_LORA_IN: return r > 0 && m->lora.dropout > 0 ? (size_t)in : 0;
    }
    return 0;
}

/* Lay out the arena for n tokens and `layers` saved layers (1 when
 * decoding), attn_len floats of attention state per layer, backward scratch
 * when train. Returns 0 or -1 (out of memory). */
static int acts_reserve(Model *m, int n, int layers, size_t attn_len, int train) {
    Acts *a = &m->acts;
    size_t total = 0;
    for (int i = 0; i < ACT_COUNT; i++) {
        const ActSpec *s = &ACTS[i];
        size_t slots = s->slots == S_LAYERS1 ? (size_t)layers + 1 : s->slots == S_LAYERS ? (size_t)layers : 1;
        a->len[i] = (s->train_only && !train) ? 0
                    : s->width == W_ATTN      ? attn_len
                                              : (size_t)n * act_width(m, s->width);
        total += slots * ((a->len[i] + 15) / 16 * 16); /* 64-byte aligned slots */
    }
    if (total > a->buf_len) { /* grow with 25% headroom: batches vary in length */
        size_t want = total + total / 4;
        m->be->free(m->be, a->buf);
        a->buf = m->be->alloc(m->be, want * sizeof(float));
        a->buf_len = a->buf ? want : 0;
        if (!a->buf) return -1;
    }
    float *p = a->buf;
    for (int i = 0; i < ACT_COUNT; i++) {
        const ActSpec *s = &ACTS[i];
        size_t slots = s->slots == S_LAYERS1 ? (size_t)layers + 1 : s->slots == S_LAYERS ? (size_t)layers : 1;
        a->len[i] = (a->len[i] + 15) / 16 * 16;
        a->ptr[i] = p;
        p += slots * a->len[i];
    }
    a->n = n;
    a->layers = layers;
    a->train = train;
    a->attn_len = attn_len;
    return 0;
}

/* Slot s of activation i. */
static inline float *act(Model *m, int i, int s) { return m->acts.ptr[i] + (size_t)s * m->acts.len[i]; }

/* Upload the batch's per-token ints and layout into device memory. */
static int upload_batch(Model *m, const Batch *b) {
    Acts *a = &m->acts;
    size_t nvis = ((size_t)b->nseg * b->nseg + 3) / 4;
    size_t need = 3 * (size_t)b->n + b->nrows + 1 + nvis;
    if (need > a->ibuf_len) {
        m->be->free(m->be, a->ibuf);
        a->ibuf = m->be->alloc(m->be, need * sizeof(int));
        a->ibuf_len = a->ibuf ? need : 0;
        if (!a->ibuf) return -1;
    }
    int *rs = realloc(a->row_start_host, (size_t)(b->nrows + 1) * sizeof(int));
    if (!rs) return -1;
    a->row_start_host = rs;
    memcpy(rs, b->row_start, (size_t)(b->nrows + 1) * sizeof(int));
    a->ids = a->ibuf;
    a->pos = a->ids + b->n;
    a->seg = a->pos + b->n;
    a->row_start = a->seg + b->n;
    a->vis = (unsigned char *)(a->row_start + b->nrows + 1);
    Backend *be = m->be;
    be->upload(be, a->ids, b->ids, (size_t)b->n * sizeof(int));
    be->upload(be, a->pos, b->pos, (size_t)b->n * sizeof(int));
    be->upload(be, a->seg, b->seg, (size_t)b->n * sizeof(int));
    be->upload(be, a->row_start, b->row_start, (size_t)(b->nrows + 1) * sizeof(int));
    be->upload(be, a->vis, b->vis, (size_t)b->nseg * b->nseg);
    a->nrows = b->nrows;
    a->nseg = b->nseg;
    return 0;
}

static AttnLayout attn_layout(const Model *m, int n) {
    const Acts *a = &m->acts;
    AttnLayout L = {n, a->nrows, a->row_start, a->seg, a->vis, a->nseg, a->row_start_host};
    return L;
}

/* ---- Linear layers with optional LoRA adapters ------------------------------------- */

/* A projection of a layer: one GEMM over a base tensor (q/k/v and gate/up
 * stacked), and the adapter targets whose outputs are column blocks of it. */
typedef struct Proj { int base, in, out, ntgt, tgt[3], col0[3]; } Proj;

static Proj proj_of(const Model *m, int base) {
    const ModelConfig *c = &m->cfg;
    int hd = m->head_dim, H = c->n_heads, KV = c->n_kv_heads, F = c->ffn_dim, C = c->dim;
    switch (base) {
    case P_Q: return (Proj){P_Q, C, m->qkv_dim, 3, {LT_Q, LT_K, LT_V}, {0, H * hd, (H + KV) * hd}};
    case P_O: return (Proj){P_O, H * hd, C, 1, {LT_O, 0, 0}, {0, 0, 0}};
    case P_GATE: return (Proj){P_GATE, C, 2 * F, 2, {LT_GATE, LT_UP, 0}, {0, F, 0}};
    default: return (Proj){P_DOWN, F, C, 1, {LT_DOWN, 0, 0}, {0, 0, 0}};
    }
}

/* Index of target t among the enabled targets (its block of the saved t). */
static int lora_slot(const Model *m, int t) {
    int k = 0;
    for (int i = 0; i < t; i++) k += (m->lora.targets >> i) & 1u;
    return k;
}

/* Dropout key of (forward pass, layer, target). */
static uint64_t lora_key(const Model *m, int l, int t) {
    return m->dropout_key ^ ((uint64_t)(l * LT_COUNT + t + 1) * 0xD1B54A32D192ED03ULL);
}

static int lora_dropping(const Model *m) { return m->training && m->lora.dropout > 0; }

/* The adapter input: dropout(x) into scratch while training, else x itself. */
static const float *lora_input(Model *m, int l, int t, const float *x, int n, int in) {
    if (!lora_dropping(m)) return x;
    float *xd = act(m, ACT_LORA_X, 0);
    m->be->dropout_forward(m->be, xd, x, (size_t)n * in, m->lora.dropout, lora_key(m, l, t));
    return xd;
}

/* y (n, out) = x (n, in) · Wᵀ + Σ_targets (alpha/r) · (dropout(x) · Aᵀ) · Bᵀ into the target's columns. */
static void linear_forward(Model *m, int l, int base, float *y, const float *x, int n, int slot) {
    Backend *be = m->be;
    Proj p = proj_of(m, base);
    be->linear_forward(be, y, x, model_param(m, model_ltid(m, l, base)), n, p.in, p.out, m->dtype);
    int r = m->lora.rank;
    float s = r > 0 ? m->lora.alpha / r : 0;
    for (int i = 0; i < p.ntgt; i++) {
        const int *ab = &m->lora_tid[(l * LT_COUNT + p.tgt[i]) * 2];
        if (ab[0] < 0) continue;
        float *t = act(m, ACT_LORA_T, slot) + (size_t)lora_slot(m, p.tgt[i]) * n * r;
        int w = m->tensors[ab[1]].shape[0];
        const float *xd = lora_input(m, l, p.tgt[i], x, n, p.in);
        be->gemm(be, 0, 1, n, r, p.in, 1.0f, xd, p.in, model_param(m, ab[0]), p.in, 0.0f, t, r);
        be->gemm(be, 0, 1, n, w, r, s, t, r, model_param(m, ab[1]), r, 1.0f, y + p.col0[i], p.out);
    }
}

/* Backward of linear_forward: dx (n, in) = ∂/∂x (dx_acc = DX_SET: dx's old content is overwritten, not read) or
 * += ∂/∂x (DX_ADD); base and adapter gradients += (frozen: skipped). The base product writes dx as dx_acc says,
 * then each adapter adds its part. */
static void linear_backward(Model *m, int l, int base, float *dx, int dx_acc, const float *dy, const float *x, int n,
                            int slot) {
    Backend *be = m->be;
    Proj p = proj_of(m, base);
    int tid = model_ltid(m, l, base), r = m->lora.rank;
    be->linear_backward(be, dx, model_grad(m, tid), dy, x, model_param(m, tid), n, p.in, p.out, m->dtype, dx_acc);
    float s = r > 0 ? m->lora.alpha / r : 0;
    for (int i = 0; i < p.ntgt; i++) {
        const int *ab = &m->lora_tid[(l * LT_COUNT + p.tgt[i]) * 2];
        if (ab[0] < 0) continue;
        const float *t = act(m, ACT_LORA_T, slot) + (size_t)lora_slot(m, p.tgt[i]) * n * r;
        float *dt = act(m, ACT_DLORA_T, 0);
        int w = m->tensors[ab[1]].shape[0];
        const float *dyi = dy + p.col0[i], *A = model_param(m, ab[0]), *Bm = model_param(m, ab[1]);
        const float *xd = lora_input(m, l, p.tgt[i], x, n, p.in); /* the forward's mask, recomputed */
        be->gemm(be, 1, 0, w, r, n, s, dyi, p.out, t, r, 1.0f, model_grad(m, ab[1]), r);  /* dB += s dyᵀ t */
        be->gemm(be, 0, 0, n, r, w, s, dyi, p.out, Bm, r, 0.0f, dt, r);                  /* dt = s dy B */
        be->gemm(be, 1, 0, r, p.in, n, 1.0f, dt, r, xd, p.in, 1.0f, model_grad(m, ab[0]), p.in); /* dA += dtᵀ xd */
        if (lora_dropping(m)) {
            float *dxd = act(m, ACT_DLORA_X, 0);
            be->gemm(be, 0, 0, n, p.in, r, 1.0f, dt, r, A, p.in, 0.0f, dxd, p.in);
            be->dropout_backward(be, dx, dxd, (size_t)n * p.in, m->lora.dropout, lora_key(m, l, p.tgt[i]));
        } else {
            be->gemm(be, 0, 0, n, p.in, r, 1.0f, dt, r, A, p.in, 1.0f, dx, p.in);       /* dx += dt A */
        }
    }
}

/* ---- Decoder layer ---------------------------------------------------------------- */

/* Views of layer l's saved activations (slot s of each entry). */
typedef struct LayerActs { float *x, *xn1, *rstd1, *qkv, *ao, *xmid, *xn2, *rstd2, *gu, *act, *attn, *xout; int s; } LayerActs;

static LayerActs layer_acts(Model *m, int l) {
    int s = m->acts.layers == 1 ? 0 : l; /* decoding reuses one slot */
    LayerActs la = {act(m, ACT_X, s), act(m, ACT_XN1, s), act(m, ACT_RSTD1, s), act(m, ACT_QKV, s), act(m, ACT_AO, s),
                    act(m, ACT_XMID, s), act(m, ACT_XN2, s), act(m, ACT_RSTD2, s), act(m, ACT_GU, s), act(m, ACT_ACT, s),
                    act(m, ACT_ATTN, s), act(m, ACT_X, s + 1), s};
    return la;
}

/* x_mid = x + o(attn(rope(qkv(norm(x))))) ; x_out = x_mid + down(swiglu(gate_up(norm(x_mid)))).
 * Exactly one of L (training) and kv (decoding) is set. 0 or -1 (out of memory). */
static int layer_forward(Model *m, int l, LayerActs *la, const int *pos, int n, const AttnLayout *L,
                         const KVView *kv) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    int C = c->dim, H = c->n_heads, KV = c->n_kv_heads, hd = m->head_dim, F = c->ffn_dim;
    be->rmsnorm_forward(be, la->xn1, la->rstd1, la->x, model_param(m, model_ltid(m, l, P_ATTN_NORM)), n, C,
                        c->rms_eps);
    linear_forward(m, l, P_Q, la->qkv, la->xn1, n, la->s);
    /* the H query heads and the KV key heads are contiguous in each row of qkv: one call rotates both */
    be->rope(be, la->qkv, pos, m->rope_cos, m->rope_sin, n, m->qkv_dim, 0, H + KV, hd, 0);
    if (L) {
        if (be->attention_forward(be, la->ao, la->attn, la->qkv, L, H, KV, hd)) return -1;
    } else {
        be->attention_cached(be, la->ao, la->qkv, kv, n, H, KV, hd);
    }
    linear_forward(m, l, P_O, la->xmid, la->ao, n, la->s);
    be->add(be, la->xmid, la->x, (size_t)n * C);
    be->rmsnorm_forward(be, la->xn2, la->rstd2, la->xmid, model_param(m, model_ltid(m, l, P_MLP_NORM)), n, C,
                        c->rms_eps);
    linear_forward(m, l, P_GATE, la->gu, la->xn2, n, la->s);
    be->swiglu_forward(be, la->act, la->gu, n, F);
    linear_forward(m, l, P_DOWN, la->xout, la->act, n, la->s);
    be->add(be, la->xout, la->xmid, (size_t)n * C);
    return 0;
}

/* Backward of layer l: on entry dx (n, C) = ∂L/∂x_out, on exit ∂L/∂x. 0 or -1. */
static int layer_backward(Model *m, int l, LayerActs *la, const int *pos, int n, const AttnLayout *L) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    int C = c->dim, H = c->n_heads, KV = c->n_kv_heads, hd = m->head_dim, F = c->ffn_dim;
    size_t N = (size_t)n;
    float *dx = act(m, ACT_DX, 0), *dxn = act(m, ACT_DXN, 0), *dqkv = act(m, ACT_DQKV, 0), *dao = act(m, ACT_DAO, 0),
          *dgu = act(m, ACT_DGU, 0), *dact = act(m, ACT_DACT, 0);
    int tn2 = model_ltid(m, l, P_MLP_NORM), tn1 = model_ltid(m, l, P_ATTN_NORM);
    /* MLP: dx is ∂L/∂x_out = ∂L/∂x_mid through the residual, plus the branch. The first writer of each
     * scratch gradient (dact, dgu, dxn, dao) assigns it: no zeroing pass. */
    linear_backward(m, l, P_DOWN, dact, DX_SET, dx, la->act, n, la->s);
    be->swiglu_backward(be, dgu, dact, la->gu, n, F);
    linear_backward(m, l, P_GATE, dxn, DX_SET, dgu, la->xn2, n, la->s);
    be->rmsnorm_backward(be, dx, model_grad(m, tn2), dxn, la->xmid, model_param(m, tn2), la->rstd2, n, C);
    /* Attention */
    linear_backward(m, l, P_O, dao, DX_SET, dx, la->ao, n, la->s);
    be->zero(be, dqkv, N * m->qkv_dim * sizeof(float));
    if (be->attention_backward(be, dqkv, dao, la->ao, la->attn, la->qkv, L, H, KV, hd)) return -1;
    be->rope(be, dqkv, pos, m->rope_cos, m->rope_sin, n, m->qkv_dim, 0, H + KV, hd, 1);
    linear_backward(m, l, P_Q, dxn, DX_SET, dqkv, la->xn1, n, la->s);
    be->rmsnorm_backward(be, dx, model_grad(m, tn1), dxn, la->x, model_param(m, tn1), la->rstd1, n, C);
    return 0;
}

/* ---- Whole model ------------------------------------------------------------------- */

float *model_forward(Model *m, const Batch *b) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    if (upload_batch(m, b)) return NULL;
    AttnLayout L = attn_layout(m, b->n);
    size_t attn_len = be->attention_saved(be, &L, c->n_heads, c->n_kv_heads, m->head_dim);
    if (acts_reserve(m, b->n, c->n_layers, attn_len, 1)) return NULL;
    L = attn_layout(m, b->n);
    be->embedding_forward(be, act(m, ACT_X, 0), m->acts.ids, model_param(m, m->tid_embed), b->n, c->dim);
    for (int l = 0; l < c->n_layers; l++) {
        LayerActs la = layer_acts(m, l);
        if (layer_forward(m, l, &la, m->acts.pos, b->n, &L, NULL)) return NULL;
    }
    be->rmsnorm_forward(be, act(m, ACT_HF, 0), act(m, ACT_RSTDF, 0), act(m, ACT_X, c->n_layers),
                        model_param(m, m->tid_norm), b->n, c->dim, c->rms_eps);
    return act(m, ACT_HF, 0);
}

int model_backward(Model *m, const Batch *b, const float *dh) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    int n = b->n, C = c->dim;
    AttnLayout L = attn_layout(m, n);
    float *dx = act(m, ACT_DX, 0);
    be->zero(be, dx, (size_t)n * C * sizeof(float));
    be->rmsnorm_backward(be, dx, model_grad(m, m->tid_norm), dh, act(m, ACT_X, c->n_layers),
                         model_param(m, m->tid_norm), act(m, ACT_RSTDF, 0), n, C);
    for (int l = c->n_layers - 1; l >= 0; l--) {
        LayerActs la = layer_acts(m, l);
        if (layer_backward(m, l, &la, m->acts.pos, n, &L)) return -1;
    }
    float *dE = model_grad(m, m->tid_embed);
    if (dE) be->embedding_backward(be, dE, dx, m->acts.ids, n, C);
    return 0;
}

int kvcache_init(KVCache *kv, Model *m, int nseq, int max_len) {
    size_t len = (size_t)m->cfg.n_layers * nseq * max_len * m->cfg.n_kv_heads * m->head_dim;
    kv->nseq = nseq;
    kv->max_len = max_len;
    kv->k = m->be->alloc(m->be, len * sizeof(float));
    kv->v = m->be->alloc(m->be, len * sizeof(float));
    return kv->k && kv->v ? 0 : -1;
}

void kvcache_free(KVCache *kv, Model *m) {
    m->be->free(m->be, kv->k);
    m->be->free(m->be, kv->v);
    kv->k = kv->v = NULL;
}

/* Upload decoding ids, seq, pos (n each) into the int arena. */
static int upload_tokens(Model *m, const int *ids, const int *seq, const int *pos, int n) {
    Acts *a = &m->acts;
    if ((size_t)3 * n > a->ibuf_len) {
        m->be->free(m->be, a->ibuf);
        a->ibuf = m->be->alloc(m->be, (size_t)3 * n * sizeof(int));
        a->ibuf_len = a->ibuf ? (size_t)3 * n : 0;
        if (!a->ibuf) return -1;
    }
    a->ids = a->ibuf;
    a->pos = a->ids + n;
    a->seg = a->pos + n; /* holds seq while decoding */
    m->be->upload(m->be, a->ids, ids, (size_t)n * sizeof(int));
    m->be->upload(m->be, a->pos, pos, (size_t)n * sizeof(int));
    m->be->upload(m->be, a->seg, seq, (size_t)n * sizeof(int));
    return 0;
}

float *model_forward_cached(Model *m, KVCache *kv, const int *ids, const int *seq, const int *pos, int n) {
    Backend *be = m->be;
    const ModelConfig *c = &m->cfg;
    int maxp = 0;
    for (int i = 0; i < n; i++) maxp = pos[i] > maxp ? pos[i] : maxp;
    if (upload_tokens(m, ids, seq, pos, n) || acts_reserve(m, n, 1, 0, 0)) return NULL;
    size_t layer_len = (size_t)kv->nseq * kv->max_len * c->n_kv_heads * m->head_dim;
    be->embedding_forward(be, act(m, ACT_X, 0), m->acts.ids, model_param(m, m->tid_embed), n, c->dim);
    for (int l = 0; l < c->n_layers; l++) {
        LayerActs la = layer_acts(m, 0);
        KVView v = {kv->k + l * layer_len, kv->v + l * layer_len, kv->max_len, m->acts.seg, m->acts.pos, maxp + 1};
        if (layer_forward(m, l, &la, m->acts.pos, n, NULL, &v)) return NULL;
        be->copy(be, la.x, la.xout, (size_t)n * c->dim * sizeof(float));
    }
    be->rmsnorm_forward(be, act(m, ACT_HF, 0), act(m, ACT_RSTDF, 0), act(m, ACT_X, 0), model_param(m, m->tid_norm), n,
                        c->dim, c->rms_eps);
    return act(m, ACT_HF, 0);
}

/* ---- Merging adapters -------------------------------------------------------------- */

int model_params_merged(Model *m, float *host) {
    Backend *be = m->be;
    float *w = be->alloc(be, m->nparams * sizeof(float));
    if (!w) return -1;
    be->copy(be, w, m->params, m->nparams * sizeof(float));
    int r = m->lora.rank;
    for (int l = 0; r > 0 && l < m->cfg.n_layers; l++)
        for (int t = 0; t < LT_COUNT; t++) {
            const int *ab = &m->lora_tid[(l * LT_COUNT + t) * 2];
            if (ab[0] < 0) continue;
            const Tensor *W = &m->tensors[model_ltid(m, l, LT_BASE[t])];
            int out = W->shape[0], in = W->shape[1];
            /* W (out, in) += (alpha/r) · B (out, r) · A (r, in) */
            be->gemm(be, 0, 0, out, in, r, m->lora.alpha / r, model_param(m, ab[1]), r, model_param(m, ab[0]), in,
                     1.0f, w + W->offset, in);
        }
    be->download(be, host, w, m->nparams * sizeof(float));
    be->free(be, w);
    return 0;
}
