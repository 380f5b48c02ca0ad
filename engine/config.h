/* The one config schema (ARCHITECTURE.md "One config schema").
 *
 * Every run is a flat set of key=value pairs. The schema table in config.c
 * (name, type, default, range, doc) is the single definition used by the grid
 * parser, `harness train`, `harness train --help`, run identity and the
 * results CSV columns.
 *
 * Run identity and schema growth
 * ------------------------------
 * run_id hashes the identity text config_canonical(c, 1): the "key=value"
 * lines of the identity keys that have an effect in the run. A key whose
 * value equals its NEUTRAL value (CfgKey.neutral: the value that reproduces
 * the behaviour from before the key existed) is left out of that text, so
 * adding a key never changes the run_id of the runs recorded before it, and
 * an old runs.csv reads as if it had the new column at its neutral value.
 *
 *   RULE: every key added to the schema must declare its neutral value (for
 *   an identity key, one that leaves the run exactly as before the key). Never
 *   change a neutral value once set. neutral = NULL (always in the identity)
 *   is kept only for the keys that existed before neutral values did.
 *
 * Numeric keys compare with their neutral value as numbers ("0" == "0.0"),
 * other keys as text. The key `init` (a checkpoint directory) enters the
 * identity as "init=sha256:<checkpoint_content_hash>" (hash.h), not as its
 * path: the same files under another path are the same run (a tokenizer.json
 * in it is one of the hashed files). Likewise `tokenizer` set to the path of
 * a tokenizer.json enters as "tokenizer=sha256:<sha256 of the file>";
 * tokenizer=bpe:N enters as its text (the tokenizer is trained from the
 * train split, which the identity already names). */
#ifndef ENGINE_CONFIG_H
#define ENGINE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hash.h"

#define CFG_STR_MAX 64
#define CFG_PATH_MAX 512

typedef struct Config {
    /* model and data */
    char model[CFG_STR_MAX];         /* preset name, see model_preset() */
    char init[CFG_PATH_MAX];         /* checkpoint directory to start from ("" = from scratch) */
    /* model shape overrides (Hugging Face config.json names); 0 / "auto" = the
     * preset's or the init checkpoint's value */
    int hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, intermediate_size;
    int max_position_embeddings;
    double rope_theta;
    char tie_word_embeddings[CFG_STR_MAX]; /* auto | true | false */
    char dataset[CFG_STR_MAX];       /* a task name (task.h) */
    int train_limit;                 /* first N train examples, 0 = all */
    int test_limit;                  /* first N test examples, 0 = all */
    char system_prompt[CFG_STR_MAX]; /* include | omit */
    char ntp_targets[CFG_STR_MAX];   /* all | assistant */
    /* loss */
    char loss[CFG_STR_MAX];          /* ntp | jepa | stp */
    double lambda;                   /* JEPA weight λ */
    double gamma;                    /* NTP weight γ */
    int k;                           /* number of [PRED] tokens */
    double ld;                       /* loss dropout probability */
    char jepa_metric[CFG_STR_MAX];   /* cosine | l2 | mse */
    char jepa_pass[CFG_STR_MAX];     /* separate | packed | fused */
    double infonce_tau;              /* InfoNCE temperature */
    char pred_position[CFG_STR_MAX]; /* back | front */
    char direction[CFG_STR_MAX];     /* text2code | code2text */
    char pooling[CFG_STR_MAX];       /* last | mean */
    char predictor[CFG_STR_MAX];     /* tokens | linear */
    char stp_weight[CFG_STR_MAX];    /* none | cosine_like | jaccard_like */
    char stp_span[CFG_STR_MAX];      /* random | e2e */
    char jepa_reg[CFG_STR_MAX];      /* none | sigreg | vicreg (jepa_reg.h) */
    double jepa_reg_weight;          /* weight w of the regulariser: L += w * R */
    int sigreg_slices;               /* SIGReg: random directions per step */
    double vicreg_var, vicreg_cov;   /* VICReg: variance and covariance coefficients (relative to invariance 25) */
    /* LoRA (ALGORITHM.md §5) */
    int lora_rank;                   /* 0 = full fine-tuning */
    double lora_alpha;               /* 0 = 2 * lora_rank */
    double lora_dropout;             /* on the adapter input */
    char lora_targets[CFG_STR_MAX];  /* comma list of q,k,v,o,gate,up,down */
    /* optimiser */
    double lr;
    int epochs;
    int batch_size;
    double weight_decay;
    double grad_clip;
    double adam_beta1, adam_beta2, adam_eps;
    double init_std;
    /* evaluation */
    int max_new_tokens;
    int epoch_eval_limit;            /* examples evaluated after each epoch (0 = off) */
    /* execution (not part of run identity) */
    uint64_t seed;
    int threads;                     /* 0 = all cores */
    char device[CFG_STR_MAX];        /* cpu */
    char dtype[CFG_STR_MAX];         /* fp32 | bf16: precision of the linear layers' matrix products */
    char checkpoint[CFG_STR_MAX];    /* final | none */
    int log_every;
    int probe;                       /* 1: harness probe after training (analysis/probe.h) */
    int probe_n;                     /* test examples the probe encodes (0 = all) */
    char spider_db[CFG_PATH_MAX];    /* Spider's database/ folder ("" = not given) */
    char tokenizer[CFG_PATH_MAX];    /* byte | bpe:N | path of a tokenizer.json (tokenizer.h) */
} Config;

typedef enum { CFG_INT, CFG_U64, CFG_FLOAT, CFG_ENUM, CFG_STR } CfgType;

typedef struct CfgKey {
    const char *name;
    CfgType type;
    size_t offset;          /* offsetof(Config, field) */
    const char *def;        /* default, as text */
    double min, max;        /* inclusive range for numbers */
    const char *choices;    /* "a|b|c" for CFG_ENUM */
    int identity;           /* 1: part of run_id and of a cell */
    const char *neutral;    /* value that reproduces the behaviour from before the key existed: at
                               this value the key is left out of the identity text and run_id
                               (NULL: always part of it; only keys older than this field) */
    const char *doc;
    const char *requires;   /* "key=value" or "key!=value" under which the key has an
                               effect (NULL: always) */
    /* CFG_STR: checks a value; 0, or -1 with a message. NULL: any string of
     * fewer than the field's size characters. */
    int (*check)(const char *value, char *err, size_t errn);
} CfgKey;

/* The schema table and its length. */
const CfgKey *config_schema(int *n);
/* Lookup by name; NULL when unknown. */
const CfgKey *config_key(const char *name);

/* Fill every field with its schema default. */
void config_defaults(Config *c);

/* Set one key from text. Returns 0, or -1 with a message in err (size errn)
 * naming the key and what was expected:
 *   - an unknown key: "unknown key 'lamda' (did you mean 'lambda'? ...)"
 *     when config_suggest has a suggestion;
 *   - integer keys (CFG_INT, CFG_U64): decimal digits only, after an
 *     optional '-' for CFG_INT: "2.5", "1e3", "0x10", "+3", " 3" and "" are
 *     "expected an integer"; a value outside [min, max] (or 2^64 for the
 *     seed) is "out of range";
 *   - float keys: a decimal number (digits, '.', exponent): "inf", "nan",
 *     hex floats and trailing text are "expected a number"; a value outside
 *     [min, max], or that overflows or underflows a double, is "out of
 *     range";
 *   - enum keys: one of the choices ("is not one of");
 *   - string keys: shorter than the field, no control characters, and the
 *     key's own check (lora_targets). */
int config_set(Config *c, const char *key, const char *value, char *err, size_t errn);

/* The schema key nearest to name (Levenshtein distance, case-blind) when it
 * is close enough to be a typo (at most 1 edit for names of up to 3
 * characters, 2 up to 7, 3 beyond); NULL otherwise. */
const char *config_suggest(const char *name);

/* Set one key from "key=value" text (a command-line argument): config_set
 * of the text before and after the first '='. Returns 0, or -1 with err:
 * "'TEXT': expected key=value" when there is no '=' or no key, else
 * config_set's message. */
int config_set_kv(Config *c, const char *kv, char *err, size_t errn);

/* Value of one key as canonical text (%.17g for floats, so it round-trips). */
void config_get(const Config *c, const CfgKey *k, char *out, size_t outn);

/* Whether key k has an effect given the other keys, whose values as text
 * come from get(name, ctx) (e.g. lambda has none under loss=ntp). */
int config_key_applies_by(const CfgKey *k, const char *(*get)(const char *name, void *ctx), void *ctx);
/* The same for a Config. */
int config_key_applies(const Config *c, const CfgKey *k);

/* Whether text value v of key k equals k's neutral value (numerically for
 * numeric keys). 0 when k has no neutral value. */
int config_is_neutral(const CfgKey *k, const char *v);

/* Whether key k is part of c's identity text: an identity key that has an
 * effect in c (config_key_applies) and is not at its neutral value. */
int config_in_identity(const Config *c, const CfgKey *k);

/* Canonical "key=value\n" text of every key, in schema order, into *out
 * (malloc'd; the caller frees). With identity_only, only the keys of
 * config_in_identity (seed included), and init as "init=sha256:<hex>", the
 * checkpoint_content_hash of its directory, and tokenizer=PATH as
 * "tokenizer=sha256:<hex>", the SHA-256 of the file, both looked up through
 * hc (NULL: no cache): an NTP run's id does not depend on lambda, nor a run's
 * on where its init checkpoint or tokenizer.json lies. Returns 0, or -1 with
 * a message in err (size errn): "init: " or "tokenizer: " and why the
 * directory or file cannot be hashed, or out of memory; *out is then NULL. */
int config_canonical(const Config *c, int identity_only, HashCache *hc, char **out, char *err, size_t errn);

/* run_id: 16 hex digits of FNV-1a 64 over config_canonical(c, 1) into out
 * (size >= 17), init hashed through hc (NULL: no cache). Returns 0, or -1
 * with config_canonical's message (out is then ""). */
int config_run_id_cached(const Config *c, HashCache *hc, char out[17], char *err, size_t errn);
/* The same without a cache. */
int config_run_id(const Config *c, char out[17], char *err, size_t errn);

/* The neutral value of k as config_get would print it (e.g. "0.10000000000000001"
 * for "0.1") into out. Returns 0, or -1 when k has no neutral value. */
int config_neutral_text(const CfgKey *k, char *out, size_t outn);

/* Print the schema (name, type, default, identity, range, doc) for --help;
 * the identity column says "yes", "no", or "unless N" (left out of run_id at
 * its neutral value N). */
void config_print_help(FILE *f);

/* Cross-key checks (e.g. k within the tokenizer's pred tokens). 0 or -1 + err. */
int config_validate(const Config *c, char *err, size_t errn);

#endif
