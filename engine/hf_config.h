/* Hugging Face config.json of a LlamaForCausalLM, read into a ModelConfig and
 * written back; plus our two extra objects in it: "tokenizer" (kind and
 * special-token ids) and "llm_jepa" (the run config, every value a string).
 *
 * Keys read (Hugging Face's LlamaConfig names, defaults as LlamaConfig's
 * where it has one that a file may rely on):
 *   model_type                 "llama" (absent: assumed "llama")
 *   hidden_size, num_hidden_layers, num_attention_heads,
 *   intermediate_size, vocab_size                        required integers
 *   num_key_value_heads        default num_attention_heads
 *   head_dim                   must equal hidden_size / num_attention_heads
 *   rms_norm_eps               default 1e-6, a number in (0, 1]
 *   rope_theta                 default 10000, a number in (0, 1e12]
 *   max_position_embeddings    default 2048
 *   tie_word_embeddings        default false
 *   rope_scaling               null/absent/"default": none; "llama3" (key
 *                              "rope_type" or "type") with factor,
 *                              low_freq_factor, high_freq_factor and
 *                              original_max_position_embeddings (the
 *                              factors numbers in (0, 1e6]); any other
 *                              type is refused
 *   hidden_act                 "silu" if present; attention_bias and
 *                              mlp_bias must be false if present
 *   bos_token_id, pad_token_id (int, -1 or null: none), eos_token_id (int,
 *                              list or null)
 * A null value is the same as an absent key. Every token id must lie in
 * [0, vocab_size). Integers must be exact (64.5 is refused) and every size
 * key lies in [1, 2^30]; numbers that overflow a double (1e999) are refused,
 * so nothing read is NaN or infinite and every conversion to int or float is
 * in range. */
#ifndef ENGINE_HF_CONFIG_H
#define ENGINE_HF_CONFIG_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "model.h"
#include "tokenizer.h"

#define HF_MAX_PRED 64 /* entries of "tokenizer"."pred" */
#define HF_MAX_EOS 8   /* entries of an eos_token_id list */

/* Our "tokenizer" object: {"kind": "byte", "bos": 256, ..., "pred": [262, ...]};
 * a BPE tokenizer (tokenizer.h) also records "chat" (its chat template) and
 * leaves out the role tokens its template has none of. */
typedef struct HfTokenizerInfo {
    char kind[32];                               /* "byte" or "bpe" */
    char chat[32];                               /* chat template; "" when not recorded */
    int bos, eos, pad, system, user, assistant; /* token ids; system, user, assistant -1 when absent */
    int npred;
    int pred[HF_MAX_PRED];                       /* pred[i-1] = id of pred_i */
} HfTokenizerInfo;

typedef struct HfKV { char *key, *value; } HfKV;

/* What config.json says beyond the model shape. */
typedef struct HfExtras {
    int bos_token_id, pad_token_id;      /* -1 when absent, null or -1 */
    int n_eos;                           /* 0 when absent or null */
    int eos_token_id[HF_MAX_EOS];
    int has_tokenizer;                   /* 1: "tokenizer" present, in tok */
    HfTokenizerInfo tok;
    int has_run;                         /* 1: "llm_jepa" present, in run[0..nrun) */
    int nrun;
    HfKV *run;                           /* owned; free with hf_extras_free */
} HfExtras;

/* Read config.json at path into *mc (every field set; rope scaling fields 0
 * when none) and, when x != NULL, *x (free with hf_extras_free, also after
 * an error). The shape is then checked by model_config_check.
 * Returns 0, or -1 with err naming path and the key: unreadable file, not
 * JSON, model_type not "llama", missing required key, a value of the wrong
 * type or out of range, head_dim != hidden_size / num_attention_heads, an
 * unsupported rope_scaling type, hidden_act, bias, or a "tokenizer" /
 * "llm_jepa" object of the wrong form ("tokenizer": every id key required
 * for kind "byte"; "system", "user" and "assistant" optional otherwise). */
int hf_config_read(const char *path, ModelConfig *mc, HfExtras *x, char *err, size_t errn);
void hf_extras_free(HfExtras *x);

/* Write Hugging Face's config.json for mc to path, atomically (path.tmp then
 * rename): architectures, model_type "llama", every key above (head_dim =
 * hidden_size / num_attention_heads, hidden_act "silu", rope_scaling when
 * mc->rope_scaling is set), torch_dtype (NULL: "float32"); with tok, the
 * bos/eos/pad ids and our "tokenizer" object (for BPE with "chat", and the
 * role ids only when the template has them; the byte tokenizer's object is
 * unchanged from before BPE tokenizers existed); with run, "llm_jepa" holding
 * every config key as text. Returns 0 or -1 with err naming the file. */
int hf_config_write(const char *path, const ModelConfig *mc, const Tokenizer *tok, const Config *run,
                    const char *torch_dtype, char *err, size_t errn);

/* The double nearest the shortest decimal that reads back as f (so a float
 * 1e-5f is written as 1e-05, not 9.9999997473787516e-06). */
double hf_float_json(float f);

/* Parse the JSON file at path (at most 64 MiB). Returns the tree (caller
 * frees with cJSON_Delete), or NULL with err naming the file. */
cJSON *hf_json_read(const char *path, char *err, size_t errn);

/* Write j, formatted, plus a newline to path atomically (path.tmp, rename).
 * Returns 0 or -1 with err naming the file. */
int hf_json_write(const char *path, const cJSON *j, char *err, size_t errn);

#endif
