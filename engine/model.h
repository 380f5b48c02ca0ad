/* A Llama-style decoder (Hugging Face LlamaForCausalLM layout).
 *
 *   x_0 = E[ids]                                            (n, C)
 *   per layer l:  x_mid = x_l + o_proj(Attn(RoPE(qkv_proj(RMSNorm(x_l)))))
 *                 x_l+1 = x_mid + down_proj(SwiGLU(gate_up_proj(RMSNorm(x_mid))))
 *   h = RMSNorm(x_L)                                        (n, C)  -- Enc reads h
 *   logits = h · lm_headᵀ                                   (n, V)
 *
 * Parameters live in one device buffer as a table of named tensors with
 * Hugging Face names and shapes; q/k/v and gate/up are adjacent so each pair
 * runs as one GEMM. Each tensor carries a trainable flag: gradients (and the
 * optimizer's moments) exist only for trainable tensors, in a second buffer
 * with the same relative order. Every linear layer goes through one helper
 * (model.c `linear_forward`/`linear_backward`) that also applies the optional
 * LoRA adapter (ALGORITHM.md §5), so an adapter touches that helper, the
 * tensor table and checkpointing only.
 *
 * Activations are described by one table (model.c ACTS): each entry's size is
 * derived from (tokens, model shape), and the arena and every pointer are
 * derived from it; no size is written twice.
 *
 * All float pointers of Model and Acts are device memory of m->be. */
#ifndef ENGINE_MODEL_H
#define ENGINE_MODEL_H

#include <stddef.h>

#include "backend.h"
#include "batch.h"
#include "rng.h"
#include <stdint.h>

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
    /* rope_scaling of config.json (rope.h): ROPE_SCALING_NONE (0, also null or
     * absent) or ROPE_SCALING_LLAMA3 with Hugging Face's parameters below
     * (unused, and 0, under ROPE_SCALING_NONE). */
    int rope_scaling;
    double rope_factor;           /* "factor" (Llama 3.2: 32) */
    double rope_low_freq_factor;  /* "low_freq_factor" (1) */
    double rope_high_freq_factor; /* "high_freq_factor" (4) */
    int rope_original_max_pos;    /* "original_max_position_embeddings" (8192) */
    int jepa_predictor;           /* 1: the model carries jepa_predictor.weight (predictor=linear);
                                     not a Hugging Face key (a plain HF loader ignores the tensor) */
} ModelConfig;

/* Per-layer base tensors, in arena order. */
enum {
    P_ATTN_NORM, P_Q, P_K, P_V, P_O, P_MLP_NORM, P_GATE, P_UP, P_DOWN, P_PER_LAYER
};

/* LoRA targets (bit i of LoraConfig.targets), in PEFT's module order. */
enum { LT_Q, LT_K, LT_V, LT_O, LT_GATE, LT_UP, LT_DOWN, LT_COUNT };

typedef struct LoraConfig {
    int rank;          /* r; 0 = no adapters (full fine-tuning) */
    float alpha;       /* scaling = alpha / r */
    float dropout;     /* on the adapter input, training only */
    unsigned targets;  /* bit mask of LT_* */
} LoraConfig;

typedef struct Tensor {
    char name[96];    /* Hugging Face name, e.g. model.layers.0.self_attn.q_proj.weight */
    int ndim, shape[2];
    size_t offset, numel; /* floats, within the parameter buffer */
    int trainable;
    size_t goff;      /* floats, within the gradient buffer (trainable tensors only) */
} Tensor;

/* The activation table's entries (model.c ACTS gives each its size rule). */
enum {
    ACT_X, ACT_XN1, ACT_RSTD1, ACT_QKV, ACT_AO, ACT_XMID, ACT_XN2, ACT_RSTD2, ACT_GU, ACT_ACT, ACT_ATTN, ACT_LORA_T,
    ACT_HF, ACT_RSTDF, ACT_LORA_X,
    ACT_DX, ACT_DXN, ACT_DQKV, ACT_DAO, ACT_DGU, ACT_DACT, ACT_DLORA_T, ACT_DLORA_X,
    ACT_COUNT
};

/* Saved activations of one forward pass (training) or scratch (decoding). */
typedef struct Acts {
    int n, layers, train;  /* tokens, saved layers, backward scratch present */
    size_t attn_len;       /* floats of attention state per layer */
    size_t len[ACT_COUNT];   /* floats of one slot of each entry */
    float *ptr[ACT_COUNT];   /* device: slot 0 of each entry */
    float *buf;            /* device arena */
    size_t buf_len;
    int *ibuf;             /* device ints: ids, pos, seg, row_start, vis of the batch */
    size_t ibuf_len;
    int *ids, *pos, *seg, *row_start;
    unsigned char *vis;
    int *row_start_host;   /* host copy of the last forward's row offsets */
    int nrows, nseg;
} Acts;

/* Key/value cache for batched greedy decoding. */
typedef struct KVCache {
    int nseq, max_len;
    float *k, *v; /* device (L, nseq, max_len, KV*hd) */
} KVCache;

typedef struct Model {
    ModelConfig cfg;
    LoraConfig lora;
    int head_dim, qkv_dim;  /* C/H, (H+2KV)*head_dim */
    Tensor *tensors;
    int ntensors;
    int *layer_tid;         /* (L, P_PER_LAYER) base tensor indices */
    int *lora_tid;          /* (L, LT_COUNT, 2) A and B tensor indices, -1 = no adapter */
    int tid_embed, tid_norm, tid_lm_head;
    int tid_predictor;      /* jepa_predictor.weight (C, C) under predictor=linear, else -1 */
    size_t nparams, ntrainable;
    size_t trainable_off;   /* trainable tensors are one contiguous run of params from here,
                               in the gradient buffer's order (the optimizer's view) */
    float *params;          /* device (nparams) */
    float *grads;           /* device (ntrainable) */
    float *rope_cos, *rope_sin; /* device (max_pos, head_dim/2) */
    Backend *be;
    Acts acts;
    int training;           /* 1: LoRA dropout active (model_set_training) */
    uint64_t dropout_key;   /* LoRA dropout masks of the next forward derive from it */
    int dtype;              /* precision of the linear layers' matrix products (backend.h DTYPE_*;
                               config key dtype); model_init sets DTYPE_FP32 */
} Model;

/* Allocate a model on backend be: the tensor table (base tensors; the JEPA
 * linear predictor jepa_predictor.weight (C, C) when mc->jepa_predictor,
 * always trainable, initialised to the identity; then the adapters of lora
 * when lora && lora->rank > 0, which freezes every base tensor), parameters
 * zeroed, gradients zeroed, RoPE tables. Errors: bad shapes (C % H, H % KV,
 * odd head_dim), out of memory. */
int model_init(Model *m, const ModelConfig *mc, const LoraConfig *lora, Backend *be, char *err, size_t errn);
void model_free(Model *m);

/* From-scratch init: RMSNorm weights 1, every other base weight N(0, std²)
 * from stream r, tensors in arena order. Adapters are not touched. */
void model_init_weights(Model *m, Rng *r, float std);

/* The JEPA linear predictor W = I (Pred starts as the identity, i.e. as
 * k = 0). No-op without a predictor. */
void model_predictor_identity(Model *m);

/* LoRA init (ALGORITHM.md §5, PEFT's defaults): every A Kaiming-uniform with
 * a = √5, i.e. U(−1/√in, 1/√in), from stream r in arena order; every B = 0. */
void model_init_lora(Model *m, Rng *r);

/* Tensor index by Hugging Face name; -1 if absent. */
int model_tensor_id(const Model *m, const char *name);
/* Tensor by name; NULL if absent. */
Tensor *model_tensor(Model *m, const char *name);
/* Copy tensor tid between host memory and the device (numel floats). */
void model_tensor_get(const Model *m, int tid, float *host);
void model_tensor_set(Model *m, int tid, const float *host);
/* Device pointers of a tensor's values and gradient (NULL when frozen). */
static inline float *model_param(Model *m, int tid) { return m->params + m->tensors[tid].offset; }
static inline float *model_grad(Model *m, int tid) {
    return m->tensors[tid].trainable ? m->grads + m->tensors[tid].goff : NULL;
}
static inline int model_ltid(const Model *m, int l, int which) { return m->layer_tid[l * P_PER_LAYER + which]; }

/* The trainable parameters, device (ntrainable), aligned with m->grads. */
static inline float *model_trainable(Model *m) { return m->params + m->trainable_off; }

/* Zero every gradient. */
void model_zero_grads(Model *m);
/* Training mode (LoRA dropout on) or evaluation mode; key seeds the dropout
 * masks of the next forward passes (each forward advances it). */
void model_set_training(Model *m, int training, uint64_t key);

/* Training forward over batch b: uploads the batch, saves activations in
 * m->acts and returns h = final hidden states, device (b->n, C). NULL on out
 * of memory. */
float *model_forward(Model *m, const Batch *b);

/* Backward of the last model_forward: dh device (b->n, C) is dLoss/dh;
 * gradients of trainable tensors are ACCUMULATED into m->grads. 0 or -1. */
int model_backward(Model *m, const Batch *b, const float *dh);

/* Decoding forward: tokens ids (n) of sequences seq (n) at positions pos (n)
 * (host arrays), appended to the cache (their k/v are written at those
 * slots; each token attends to slots 0..pos of its sequence). Returns h,
 * device (n, C), or NULL. */
float *model_forward_cached(Model *m, KVCache *kv, const int *ids, const int *seq, const int *pos, int n);

int kvcache_init(KVCache *kv, Model *m, int nseq, int max_len);
void kvcache_free(KVCache *kv, Model *m);

/* Every parameter into host (nparams floats, laid out by tensor offset) with
 * each adapter merged into its base weight, W + (alpha/r)·B·A, computed on
 * the device (PEFT's merge_and_unload). Returns 0 or -1 (out of memory). */
int model_params_merged(Model *m, float *host);

#endif
