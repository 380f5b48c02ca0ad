/* Checkpoints: a directory in the format of Hugging Face's LlamaForCausalLM
 * (config.json, model.safetensors or a sharded model.safetensors.index.json;
 * tensor names and shapes, rotate-half RoPE; tokenizer.json for a BPE
 * tokenizer), plus in our own a "tokenizer" object in config.json (kind,
 * chat template and special-token ids) and an "llm_jepa" object with the
 * run's config. A run with LoRA adapters also writes the adapter alone as
 * PEFT files under adapter/ (adapter_config.json, adapter_model.safetensors).
 *
 * Tokenizer of a checkpoint: its tokenizer.json (the adapter directory's,
 * else its base's) read by tokenizer_load (tokenizer.h: chat template,
 * special tokens appended when missing), else the engine's byte tokenizer.
 * A "tokenizer" object in config.json must name the same kind and, for BPE,
 * the same special-token ids.
 *
 * Vocabulary: rows the tokenizer's ids go beyond are appended to the
 * checkpoint's vocabulary, their embedding (and untied LM head) rows set to
 * the mean of the existing rows, as the reference's resize_token_embeddings
 * (ALGORITHM.md §2): for the byte tokenizer, a vocabulary of at least 256
 * but fewer than TOK_VOCAB ids gets the missing special tokens (fewer than
 * 256 is refused); for BPE, the special tokens tokenizer_load appended (a
 * vocabulary smaller than the file's own ids is refused). */
#ifndef ENGINE_CHECKPOINT_H
#define ENGINE_CHECKPOINT_H

#include <stddef.h>

#include "config.h"
#include "model.h"
#include "tokenizer.h"

/* Write dir/model.safetensors (F32, every adapter merged into its base
 * weight), dir/config.json (with tok's "tokenizer" object when tok is not
 * NULL), dir/tokenizer.json when tok is a BPE tokenizer (tokenizer_save), and
 * with adapters dir/adapter/ (PEFT files whose base_model_name_or_path is
 * run->init, "" when trained from scratch). Creates dir. run may be NULL.
 * Returns 0 or -1 with err naming the file. */
int checkpoint_save(Model *m, const Tokenizer *tok, const Config *run, const char *dir, char *err, size_t errn);

/* A model from checkpoint dir (ours, Hugging Face Llama, or a PEFT adapter
 * directory over a base, merged), without adapters of its own, on be, and
 * its tokenizer into *tok (free with tokenizer_free; the byte tokenizer on
 * errors). If run != NULL and the checkpoint records its run config, it is
 * read into *run with *has_run = 1. Errors name the file: missing or
 * malformed files, a missing tensor, a shape mismatch, an unsupported dtype,
 * truncated data, a vocabulary that cannot hold the tokenizer, a tokenizer
 * error (tokenizer_load), a directory path longer than 1503 bytes. Every
 * number read is range-checked before use (see hf_config.h, safetensors.h,
 * peft.h): hostile files are refused, never undefined behaviour. */
int checkpoint_load_tok(Model *m, Backend *be, const char *dir, Config *run, int *has_run, Tokenizer *tok, char *err,
                        size_t errn);

/* checkpoint_load_tok for callers that use the byte tokenizer: a checkpoint
 * with a BPE tokenizer (tokenizer.json) is refused with a message saying so,
 * so that its model is never fed byte ids. */
int checkpoint_load(Model *m, Backend *be, const char *dir, Config *run, int *has_run, char *err, size_t errn);

/* The tokenizer of checkpoint dir (see the top of this file) into *tok
 * (tokenizer_free). note (may be NULL) gets tokenizer_load's note. Returns 0,
 * or -1 with err: not a checkpoint directory, tokenizer_load's errors. */
int checkpoint_tokenizer(const char *dir, Tokenizer *tok, char *note, size_t notn, char *err, size_t errn);

/* The tokenizer of run config c that needs no training data into *tok
 * (tokenizer_free): with init, the init checkpoint's (checkpoint_tokenizer;
 * c->tokenizer must then be byte, its neutral value); tokenizer=PATH:
 * tokenizer_load(PATH); tokenizer=byte: the byte tokenizer. Returns 0, or
 * -1 with err: a malformed value, tokenizer=bpe:N or PATH together with init
 * (the model keeps its checkpoint's tokenizer), tokenizer=bpe:N (trained by
 * train_run on its train split), tokenizer_load's errors. */
int run_tokenizer(const Config *c, Tokenizer *tok, char *note, size_t notn, char *err, size_t errn);

/* The model of run config c with tokenizer tok on be (ALGORITHM.md §5):
 * from scratch (preset, shape keys, vocab_size = tok->vocab_size, weights
 * from the "init" stream) or from c->init (the checkpoint's shape wins; a
 * conflicting shape key is an error; tok must be the checkpoint's tokenizer,
 * run_tokenizer), plus the run's LoRA adapters (A from the "lora_init"
 * stream, B = 0) when lora_rank > 0, at precision c->dtype (Model.dtype). note (size notn) receives a line for
 * the log, e.g. the special tokens appended. Returns 0 or -1 with err. */
int model_build_tok(const Config *c, const Tokenizer *tok, Backend *be, Model *m, char *note, size_t notn, char *err,
                    size_t errn);

/* model_build_tok with run_tokenizer(c) for callers that use the byte
 * tokenizer: a run whose tokenizer is BPE (tokenizer=, or an init checkpoint
 * with a tokenizer.json) is refused with a message saying so. */
int model_build(const Config *c, Backend *be, Model *m, char *note, size_t notn, char *err, size_t errn);

#endif
