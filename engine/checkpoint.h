/* Checkpoints: a directory in the format of Hugging Face's LlamaForCausalLM
 * (config.json, model.safetensors or a sharded model.safetensors.index.json;
 * tensor names and shapes, rotate-half RoPE), plus in our own a "tokenizer"
 * object (kind and special-token ids) and an "llm_jepa" object with the run's
 * config. A run with LoRA adapters also writes the adapter alone as PEFT
 * files under adapter/ (adapter_config.json, adapter_model.safetensors).
 *
 * Vocabulary: until Hugging Face tokenizers are supported, a checkpoint is
 * used with the engine's byte tokenizer (ids 0..255 bytes, then the special
 * tokens up to TOK_VOCAB). A vocabulary of fewer than 256 ids is refused; one
 * of at least 256 but fewer than TOK_VOCAB ids gets the missing special
 * tokens appended, their embedding (and untied LM head) rows set to the mean
 * of the existing rows, as the reference's resize_token_embeddings
 * (ALGORITHM.md §2). */
#ifndef ENGINE_CHECKPOINT_H
#define ENGINE_CHECKPOINT_H

#include <stddef.h>

#include "config.h"
#include "model.h"
#include "tokenizer.h"

/* Write dir/model.safetensors (F32, every adapter merged into its base
 * weight), dir/config.json, and with adapters dir/adapter/ (PEFT files whose
 * base_model_name_or_path is run->init, "" when trained from scratch).
 * Creates dir. run may be NULL. Returns 0 or -1 with err naming the file. */
int checkpoint_save(Model *m, const Tokenizer *tok, const Config *run, const char *dir, char *err, size_t errn);

/* A model from checkpoint dir (ours, Hugging Face Llama, or a PEFT adapter
 * directory over a base, merged), without adapters of its own, on be. If
 * run != NULL and the checkpoint records its run config, it is read into
 * *run with *has_run = 1. Errors name the file: missing or malformed files,
 * a missing tensor, a shape mismatch, an unsupported dtype, truncated data,
 * a vocabulary that cannot hold the byte tokenizer, a directory path longer
 * than 1503 bytes. Every number read is range-checked before use (see
 * hf_config.h, safetensors.h, peft.h): hostile files are refused, never
 * undefined behaviour. */
int checkpoint_load(Model *m, Backend *be, const char *dir, Config *run, int *has_run, char *err, size_t errn);

/* The model of run config c on be (ALGORITHM.md §5): from scratch (preset,
 * shape keys, weights from the "init" stream) or from c->init (the
 * checkpoint's shape wins; a conflicting shape key is an error), plus the
 * run's LoRA adapters (A from the "lora_init" stream, B = 0) when
 * lora_rank > 0. note (size notn) receives a line for the log, e.g. the
 * special tokens appended. Returns 0 or -1 with err. */
int model_build(const Config *c, Backend *be, Model *m, char *note, size_t notn, char *err, size_t errn);

#endif
