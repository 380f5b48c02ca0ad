/* The model's shape: named presets, validity, and the resolution of a run's
 * shape from a preset or an init checkpoint plus the Config shape keys. */
#ifndef ENGINE_MODEL_CONFIG_H
#define ENGINE_MODEL_CONFIG_H

#include <stddef.h>

#include "config.h"
#include "model.h"

/* The named presets (config key `model`): pico (hidden 32, 2 layers, 4 heads
 * / 2 KV heads, FFN 64), nano (128, 3, 4/4, 320), micro (192, 6, 6/2, 512);
 * all with max_position_embeddings 2048, rms_norm_eps 1e-5, rope_theta
 * 10000, untied embeddings, no rope scaling; vocab_size as given. Every
 * field of *mc is set. Returns 0 or -1 with err listing the preset names. */
int model_config_preset(const char *name, int vocab_size, ModelConfig *mc, char *err, size_t errn);

/* Whether mc describes a model the engine can build: every size positive,
 * hidden_size % num_attention_heads == 0, num_attention_heads %
 * num_key_value_heads == 0, even head_dim, rms_norm_eps > 0, rope_check(),
 * at most 2^40 parameters. Returns 0 or -1 with err naming the key(s) and
 * values (Hugging Face key names). */
int model_config_check(const ModelConfig *mc, char *err, size_t errn);

/* The run's model shape into *out.
 *   from_checkpoint == NULL (from scratch): the preset c->model with
 *     vocab_size (> 0), then every shape key of c that is set (non-zero,
 *     tie_word_embeddings != "auto") replaces the preset's value: hidden_size,
 *     num_hidden_layers, num_attention_heads, num_key_value_heads,
 *     intermediate_size, max_position_embeddings (may be raised or lowered),
 *     rope_theta, tie_word_embeddings.
 *   from_checkpoint != NULL: the checkpoint's shape (c->model is ignored);
 *     a set shape key must equal the checkpoint's value, else an error
 *     "hidden_size=256 conflicts with the init checkpoint's 128", except
 *     that max_position_embeddings may be raised above the checkpoint's
 *     (context extension, e.g. yelp's 5,085-byte reviews on a 2048-position
 *     base: RoPE is computed for any position and no weight depends on the
 *     length; the model was not trained there, so expect what untrained
 *     positions give); lowering it is an error. vocab_size is the number of token ids the tokenizer
 *     uses (0: not checked); more than the checkpoint's vocab_size is an
 *     error; the vocabulary stays the checkpoint's.
 * Then model_config_check. Returns 0 or -1 with err naming the key. */
int model_config_resolve(const Config *c, const ModelConfig *from_checkpoint, int vocab_size, ModelConfig *out,
                         char *err, size_t errn);

#endif
