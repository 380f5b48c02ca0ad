/* A Llama-style decoder (Hugging Face LlamaForCausalLM layout).
 *
 *   x_0 = E[ids]                                            (n, C)
 *   per layer l:  x_mid = x_l + o_proj(Attn(RoPE(qkv_proj(RMSNorm(x_l)))))
 *                 x_l+1 = x_mid + down_proj(SwiGLU(gate_up_proj(RMSNorm(x_mid))))
 *   h = RMSNorm(x_L)                                        (n, C)  -- Enc reads h
 *   logits = h · lm_headᵀ                                   (n, V)
 *
 * Parameters live in one arena (params, grads, AdamW moments share its
 * layout) as a table of named tensors with Hugging Face names and shapes;
 * q/k/v and gate/up are adjacent so each pair runs as one GEMM. */
#ifndef ENGINE_MODEL_H
#define ENGINE_MODEL_H

#include <stddef.h>

#include "backend.h"
#include "batch.h"
#include "rng.h"

typedef struct ModelConfig {
    int dim;          /* hidden_size C */
    int n_layers;     /* num_hidden_layers */
    int n_heads;      /* num_attention_heads H */
    int n_kv_heads;   /* num_key_value_heads KV (H % KV == 0) */
    int ffn_dim;      /* intermediate_size F */
    int vocab_size;   /* V */
    int max_pos;      /* max_position_embeddings */
    float rms_eps;    /* rms_norm_eps */
    float rope_theta; /* rope_theta */
    int tie_embeddings;
} ModelConfig;

/* Per-layer tensors, in arena order. */
enum {
    P_ATTN_NORM, P_Q, P_K, P_V, P_O, P_MLP_NORM, P_GATE, P_UP, P_DOWN, P_PER_LAYER
};

typedef struct Tensor {
    char name[96];    /* Hugging Face name, e.g. model.layers.0.self_attn.q_proj.weight */
    int ndim, shape[2];
    size_t offset, numel; /* in floats, within the arena */
} Tensor;

/* Saved activations of one forward pass (training) or scratch (decoding). */
typedef struct Acts {
    int n, cap_n, layers;
    size_t probs_cap;
    float *buf;       /* one arena for everything below */
    size_t buf_len;
    float *x;         /* (L+1, n, C) residual stream inputs of each layer and x_L */
    float *xn1, *rstd1, *qkv, *ao, *xmid, *xn2, *rstd2, *gu, *act; /* per layer */
    float *hf, *rstdf; /* (n, C), (n) final norm */
    float *probs;     /* (L, probs_cap) attention probabilities */
    size_t *probs_off; /* (nrows+1) per-row offsets of the last training forward */
    /* backward scratch */
    float *dx, *dxn, *dqkv, *dao, *dgu, *dact;
} Acts;

/* Key/value cache for batched greedy decoding. */
typedef struct KVCache {
    int nseq, max_len;
    float *k, *v; /* (L, nseq, max_len, KV*hd) */
} KVCache;

typedef struct Model {
    ModelConfig cfg;
    int head_dim, qkv_dim;  /* C/H, (H+2KV)*head_dim */
    Tensor *tensors;
    int ntensors;
    int *layer_tid;         /* (L, P_PER_LAYER) tensor indices */
    int tid_embed, tid_norm, tid_lm_head;
    size_t nparams;
    float *params, *grads;
    float *rope_cos, *rope_sin; /* (max_pos, head_dim/2) */
    const Backend *be;
    Acts acts;
} Model;

/* The named presets (config key `model`). Returns 0 or -1 + message. */
int model_preset(const char *name, int vocab_size, ModelConfig *mc, char *err, size_t errn);

/* Allocate a model (parameters zeroed; grads zeroed). Errors: bad shapes
 * (C % H, H % KV, odd head_dim), out of memory. */
int model_init(Model *m, const ModelConfig *mc, const Backend *be, char *err, size_t errn);
void model_free(Model *m);

/* From-scratch init: RMSNorm weights 1, every other weight N(0, std²) from
 * the given stream, tensors in arena order. */
void model_init_weights(Model *m, Rng *r, float std);

/* Tensor by Hugging Face name; NULL if absent. */
Tensor *model_tensor(Model *m, const char *name);
static inline float *model_param(Model *m, int tid) { return m->params + m->tensors[tid].offset; }
static inline float *model_grad(Model *m, int tid) { return m->grads + m->tensors[tid].offset; }
static inline int model_ltid(const Model *m, int l, int which) { return m->layer_tid[l * P_PER_LAYER + which]; }

/* Training forward over batch b: saves activations in m->acts and returns
 * h = final hidden states (b->n, C). NULL on out of memory. */
float *model_forward(Model *m, const Batch *b);

/* Backward of the last model_forward: dh (b->n, C) is dLoss/dh; parameter
 * gradients are ACCUMULATED into m->grads. Returns 0 or -1. */
int model_backward(Model *m, const Batch *b, const float *dh);

/* Decoding forward: tokens ids (n) of sequences seq (n) at positions pos (n),
 * appended to the cache (their k/v are written at those slots; each token
 * attends to slots 0..pos of its sequence). Returns h (n, C), or NULL. */
float *model_forward_cached(Model *m, KVCache *kv, const int *ids, const int *seq, const int *pos, int n);

int kvcache_init(KVCache *kv, const Model *m, int nseq, int max_len);
void kvcache_free(KVCache *kv);

#endif
