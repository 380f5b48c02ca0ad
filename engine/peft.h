/* PEFT LoRA adapters (Hugging Face peft): adapter_config.json and the tensor
 * names of adapter_model.safetensors.
 *
 * For a projection W (out, in) of layer i, LoRA adds (lora_alpha / r) · B A
 * with A (r, in) and B (out, r), stored as
 *   base_model.model.model.layers.{i}.self_attn.{q,k,v,o}_proj.lora_{A,B}.weight
 *   base_model.model.model.layers.{i}.mlp.{gate,up,down}_proj.lora_{A,B}.weight */
#ifndef ENGINE_PEFT_H
#define ENGINE_PEFT_H

#include <stddef.h>

#include "model.h"

/* Targets are model.h's LT_Q .. LT_DOWN (q, k, v, o, gate, up, down). */
#define PEFT_ALL_TARGETS ((1u << LT_COUNT) - 1)

typedef struct PeftConfig {
    LoraConfig lora;      /* rank = "r" (>= 1), alpha = "lora_alpha", dropout = "lora_dropout"
                             (in [0, 1)), targets = "target_modules" (bit 1 << LT_*, non-zero) */
    char base_model[512]; /* "base_model_name_or_path" ("" when null) */
} PeftConfig;

/* Read adapter_config.json at path. Defaults as peft's LoraConfig: r 8,
 * lora_alpha 8, lora_dropout 0. Required: peft_type "LORA" and
 * target_modules (a list of q_proj, k_proj, v_proj, o_proj, gate_proj,
 * up_proj, down_proj, or the string "all-linear"). Refused, with err naming
 * path and key: another peft_type, use_dora / use_rslora / fan_in_fan_out
 * true, bias other than "none", task_type other than "CAUSAL_LM", any other
 * target module or a regular expression, non-empty layers_to_transform,
 * layer_replication, modules_to_save, exclude_modules, target_parameters,
 * rank_pattern or alpha_pattern; r not an integer in [1, 65536],
 * lora_alpha not a number in [0, 1e6], lora_dropout outside [0, 1) (so the
 * float fields are finite and in range). */
int peft_config_read(const char *path, PeftConfig *pc, char *err, size_t errn);

/* Write adapter_config.json (atomically) as peft saves one: peft_type
 * "LORA", task_type "CAUSAL_LM", r, lora_alpha, lora_dropout,
 * target_modules (in LT_* order), base_model_name_or_path (null when
 * empty), bias "none", fan_in_fan_out, use_dora, use_rslora false,
 * inference_mode true. Returns 0 or -1 with err naming the file. */
int peft_config_write(const char *path, const PeftConfig *pc, char *err, size_t errn);

/* "q_proj" ... "down_proj" for LT_Q ... LT_DOWN; NULL otherwise. */
const char *peft_target_module(int target);

/* LT_* of "q" or "q_proj" (..., "down" or "down_proj"); -1 otherwise. */
int peft_target_parse(const char *name);

/* Bit mask of a comma list of target names (the config key lora_targets,
 * e.g. "q,k,v,o,gate,up,down"). Returns 0 or -1 with err naming the entry. */
int peft_targets_parse(const char *list, unsigned *mask, char *err, size_t errn);

/* PEFT name of LoRA tensor A (b = 0) or B (b = 1) of target in layer into
 * out. Returns 0, or -1 for a bad target / layer < 0 / out too small. */
int peft_tensor_name(int layer, int target, int b, char *out, size_t outn);

/* Inverse of peft_tensor_name: 0 with *layer, *target, *b set, or -1 when
 * name is not a LoRA tensor name of this form. */
int peft_tensor_parse(const char *name, int *layer, int *target, int *b);

/* Shape of that tensor for model mc and rank r: A (r, in), B (out, r), with
 * (out, in) the projection's shape: q (H·hd, C), k and v (KV·hd, C),
 * o (C, H·hd), gate and up (F, C), down (C, F). Returns 0 or -1 (bad target). */
int peft_tensor_shape(const ModelConfig *mc, int r, int target, int b, int shape[2]);

#endif
