/* Checkpoints: a directory with model.safetensors and config.json, in the
 * format of Hugging Face's LlamaForCausalLM (tensor names and shapes,
 * rotate-half RoPE, config.json keys), plus a "tokenizer" object (kind and
 * special-token ids) and an "llm_jepa" object with the run's config. */
#ifndef ENGINE_CHECKPOINT_H
#define ENGINE_CHECKPOINT_H

#include <stddef.h>

#include "config.h"
#include "model.h"
#include "tokenizer.h"

/* Write dir/model.safetensors (F32) and dir/config.json; creates dir.
 * run may be NULL. Returns 0 or -1 with err (naming the file). */
int checkpoint_save(const Model *m, const Tokenizer *tok, const Config *run, const char *dir, char *err, size_t errn);

/* Read dir/config.json into *mc (and, if present and run != NULL, the run
 * config into *run with *has_run = 1). Errors name the file and the key. */
int checkpoint_read_config(const char *dir, ModelConfig *mc, Config *run, int *has_run, char *err, size_t errn);

/* Initialise m from dir: config.json, then every tensor of the model from
 * model.safetensors (dtype F32, BF16 or F16; lm_head.weight may be absent
 * when tie_word_embeddings is true). Errors: missing or malformed file,
 * missing tensor, shape mismatch, unsupported dtype, truncated data. */
int checkpoint_load(Model *m, Backend *be, const char *dir, Config *run, int *has_run, char *err, size_t errn);

#endif
