/* The config schema table and its operations. See config.h. */
#include "config.h"
#include "task.h"
#include "tokenizer.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"

#define F(field) offsetof(Config, field)

/* lora_targets: a comma list of distinct names among q,k,v,o,gate,up,down. */
static int check_lora_targets(const char *v, char *err, size_t errn) {
    static const char *names[] = {"q", "k", "v", "o", "gate", "up", "down"};
    int seen[7] = {0}, n = 0;
    const char *p = v;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        int hit = -1;
        for (int i = 0; i < 7; i++)
            if (strlen(names[i]) == l && !strncmp(names[i], p, l)) hit = i;
        if (hit < 0 || seen[hit]) {
            snprintf(err, errn, "key 'lora_targets': '%.*s' is %s (expected a comma list of distinct names "
                     "among q,k,v,o,gate,up,down)", (int)l, p, hit < 0 ? "not a target" : "listed twice");
            return -1;
        }
        seen[hit] = 1;
        n++;
        if (!e) break;
        p = e + 1;
        if (!*p) { snprintf(err, errn, "key 'lora_targets': trailing comma in '%s'", v); return -1; }
    }
    if (!n) { snprintf(err, errn, "key 'lora_targets': empty (expected e.g. q,k,v,o,gate,up,down)"); return -1; }
    return 0;
}

/* tokenizer: byte, bpe:N or a path (tokenizer_spec). */
static int check_tokenizer(const char *v, char *err, size_t errn) {
    return tokenizer_spec(v, NULL, err, errn) < 0 ? -1 : 0;
}

/* name, type, offset, default, min, max, choices, identity, neutral, doc, requires, check.
 * A new key MUST give its neutral value (config.h "Run identity and schema
 * growth"); NULL is kept only by the keys older than neutral values. */
static const CfgKey SCHEMA[] = {
    {"model", CFG_ENUM, F(model), "nano", 0, 0, "pico|nano|micro", 1, NULL,
     "model preset (Llama-style, byte-level vocabulary)", NULL, NULL},
    {"init", CFG_STR, F(init), "", 0, 0, NULL, 1, "",
     "start from this checkpoint directory (ours, Hugging Face Llama, or a PEFT adapter; \"\" = from scratch)",
     NULL, NULL},
    {"hidden_size", CFG_INT, F(hidden_size), "0", 0, 65536, NULL, 1, "0", "override the preset (0 = preset or init)", NULL, NULL},
    {"num_hidden_layers", CFG_INT, F(num_hidden_layers), "0", 0, 1024, NULL, 1, "0",
     "override the preset (0 = preset or init)", NULL, NULL},
    {"num_attention_heads", CFG_INT, F(num_attention_heads), "0", 0, 1024, NULL, 1, "0",
     "override the preset (0 = preset or init)", NULL, NULL},
    {"num_key_value_heads", CFG_INT, F(num_key_value_heads), "0", 0, 1024, NULL, 1, "0",
     "override the preset (0 = preset or init)", NULL, NULL},
    {"intermediate_size", CFG_INT, F(intermediate_size), "0", 0, 1 << 20, NULL, 1, "0",
     "override the preset (0 = preset or init)", NULL, NULL},
    {"max_position_embeddings", CFG_INT, F(max_position_embeddings), "0", 0, 1 << 20, NULL, 1, "0",
     "override the preset (0 = preset or init)", NULL, NULL},
    {"rope_theta", CFG_FLOAT, F(rope_theta), "0", 0, 1e12, NULL, 1, "0", "override the preset (0 = preset or init)",
     NULL, NULL},
    {"tie_word_embeddings", CFG_ENUM, F(tie_word_embeddings), "auto", 0, 0, "auto|true|false", 1, "auto",
     "share the LM head with the embedding (auto = preset or init)", NULL, NULL},
    {"dataset", CFG_ENUM, F(dataset), "synth", 0, 0, TASK_NAMES, 1, NULL,
     "task: its data files, evaluation and metrics (the task table, `harness train --help`)", NULL, NULL},
    {"train_limit", CFG_INT, F(train_limit), "0", 0, 1e9, NULL, 1, NULL,
     "use the first N train examples (0 = all)", NULL, NULL},
    {"test_limit", CFG_INT, F(test_limit), "0", 0, 1e9, NULL, 1, NULL,
     "evaluate on the first N test examples (0 = all)", NULL, NULL},
    {"system_prompt", CFG_ENUM, F(system_prompt), "include", 0, 0, "include|omit", 1, NULL,
     "keep or drop <system> S in the NTP sequence and the prompt", NULL, NULL},
    {"ntp_targets", CFG_ENUM, F(ntp_targets), "all", 0, 0, "all|assistant", 1, NULL,
     "NTP trains every token after <bos>, or only the answer and <eos>", NULL, NULL},
    {"loss", CFG_ENUM, F(loss), "ntp", 0, 0, "ntp|jepa|stp", 1, NULL,
     "ntp: gamma*L_NTP; jepa: gamma*L_NTP + lambda*d(Pred(Enc(Text)), Enc(Code)); stp: Semantic Tube Prediction "
     "gamma*L_NTP + lambda*(1 - cos(before+after, patch))", NULL, NULL},
    {"lambda", CFG_FLOAT, F(lambda), "1", 0, 1e6, NULL, 1, NULL,
     "JEPA (or STP) weight (0 = distance logged, not trained on)", "loss!=ntp", NULL},
    {"gamma", CFG_FLOAT, F(gamma), "1", 0, 1e6, NULL, 1, NULL, "NTP weight", NULL, NULL},
    {"k", CFG_INT, F(k), "1", 0, 16, NULL, 1, NULL, "number of [PRED] tokens (0 = Pred is identity)", "loss=jepa", NULL},
    {"ld", CFG_FLOAT, F(ld), "0", 0, 1, NULL, 1, NULL,
     "loss dropout: probability that a batch skips the JEPA term", "loss=jepa", NULL},
    {"jepa_metric", CFG_ENUM, F(jepa_metric), "cosine", 0, 0, "cosine|l2|mse|infonce", 1, NULL,
     "d: 1-cos, L2 distance, mean squared error, or InfoNCE over the batch", "loss=jepa", NULL},
    {"jepa_pass", CFG_ENUM, F(jepa_pass), "packed", 0, 0, "separate|packed|fused", 1, NULL,
     "separate: rows NTP;Text;Code. packed: rows NTP;Text||Code, block-causal. fused: one row per example, "
     "Text states shared with NTP", "loss=jepa", NULL},
    {"infonce_tau", CFG_FLOAT, F(infonce_tau), "0.07", 1e-4, 100, NULL, 1, "0.07",
     "InfoNCE temperature (in-batch negatives)", "jepa_metric=infonce", NULL},
    {"pred_position", CFG_ENUM, F(pred_position), "back", 0, 0, "back|front", 1, "back",
     "[PRED] tokens after the Text view (back) or before it (front)", "loss=jepa", NULL},
    {"direction", CFG_ENUM, F(direction), "text2code", 0, 0, "text2code|code2text", 1, "text2code",
     "which view gets the predictor: Pred(Enc(Text)) vs Enc(Code), or Pred(Enc(Code)) vs Enc(Text)", "loss=jepa",
     NULL},
    {"pooling", CFG_ENUM, F(pooling), "last", 0, 0, "last|mean", 1, "last",
     "Enc = the state before <eos> (last) or the mean over the view's content tokens", "loss=jepa", NULL},
    {"predictor", CFG_ENUM, F(predictor), "tokens", 0, 0, "tokens|linear", 1, "tokens",
     "Pred = k [PRED] tokens, or a learned hidden x hidden linear map on Enc (k unused)", "loss=jepa", NULL},
    {"stp_weight", CFG_ENUM, F(stp_weight), "none", 0, 0, "none|cosine_like|jaccard_like", 1, "none",
     "STP length weight of each example (the authors' ablation)", "loss=stp", NULL},
    {"stp_span", CFG_ENUM, F(stp_span), "random", 0, 0, "random|e2e", 1, "random",
     "STP: a random span of the trajectory, or user vs assistant end-to-end (two-view ablation)", "loss=stp", NULL},
    {"jepa_reg", CFG_ENUM, F(jepa_reg), "none", 0, 0, "none|sigreg|vicreg", 1, "none",
     "anti-collapse regulariser R on Pred(Enc(Text)) and Enc(Code): sigreg (LeJEPA's Epps-Pulley test on random "
     "directions) or vicreg (variance hinge + covariance); the loss adds jepa_reg_weight*R (acts with loss=jepa only)",
     NULL, NULL},
    {"jepa_reg_weight", CFG_FLOAT, F(jepa_reg_weight), "1", 0, 1e6, NULL, 1, "1",
     "weight w of the regulariser: L = gamma*L_NTP + lambda*d + w*R (0 = R logged, not trained on); w = lambda "
     "weighs VICReg as its paper does; SIGReg wants ~0.03 (README \"Collapse diagnostics\")", "jepa_reg!=none", NULL},
    {"sigreg_slices", CFG_INT, F(sigreg_slices), "256", 1, 65536, NULL, 1, "256",
     "SIGReg: random unit directions drawn per step (the run's sigreg stream)", "jepa_reg=sigreg", NULL},
    {"vicreg_var", CFG_FLOAT, F(vicreg_var), "25", 0, 1e6, NULL, 1, "25",
     "VICReg variance coefficient mu, relative to VICReg's invariance coefficient 25 (R uses mu/25)",
     "jepa_reg=vicreg", NULL},
    {"vicreg_cov", CFG_FLOAT, F(vicreg_cov), "1", 0, 1e6, NULL, 1, "1",
     "VICReg covariance coefficient nu, relative to VICReg's invariance coefficient 25 (R uses nu/25)",
     "jepa_reg=vicreg", NULL},
    {"lora_rank", CFG_INT, F(lora_rank), "0", 0, 65536, NULL, 1, "0",
     "LoRA rank r (0 = full fine-tuning); base weights, embeddings and LM head frozen", NULL, NULL},
    {"lora_alpha", CFG_FLOAT, F(lora_alpha), "0", 0, 1e6, NULL, 1, "0", "LoRA alpha (0 = 2 * lora_rank); scaling alpha/r",
     "lora_rank!=0", NULL},
    {"lora_dropout", CFG_FLOAT, F(lora_dropout), "0.1", 0, 0.99, NULL, 1, "0.1", "dropout on the adapter input",
     "lora_rank!=0", NULL},
    {"lora_targets", CFG_STR, F(lora_targets), "q,k,v,o,gate,up,down", 0, 0, NULL, 1, "q,k,v,o,gate,up,down",
     "projections that get adapters", "lora_rank!=0", check_lora_targets},
    {"lr", CFG_FLOAT, F(lr), "3e-3", 0, 10, NULL, 1, NULL, "peak learning rate (linear decay to 0)", NULL, NULL},
    {"epochs", CFG_INT, F(epochs), "3", 0, 1000, NULL, 1, NULL,
     "passes over the train split (0 = evaluate the init checkpoint only)", NULL, NULL},
    {"batch_size", CFG_INT, F(batch_size), "32", 1, 4096, NULL, 1, NULL, "examples per update", NULL, NULL},
    {"weight_decay", CFG_FLOAT, F(weight_decay), "0", 0, 10, NULL, 1, NULL, "AdamW decoupled weight decay", NULL, NULL},
    {"grad_clip", CFG_FLOAT, F(grad_clip), "1", 0, 1e9, NULL, 1, NULL,
     "clip the global gradient L2 norm (0 = off)", NULL, NULL},
    {"adam_beta1", CFG_FLOAT, F(adam_beta1), "0.9", 0, 1, NULL, 1, NULL, "AdamW beta1", NULL, NULL},
    {"adam_beta2", CFG_FLOAT, F(adam_beta2), "0.999", 0, 1, NULL, 1, NULL, "AdamW beta2", NULL, NULL},
    {"adam_eps", CFG_FLOAT, F(adam_eps), "1e-8", 1e-30, 1, NULL, 1, NULL, "AdamW epsilon", NULL, NULL},
    {"init_std", CFG_FLOAT, F(init_std), "0.02", 0, 10, NULL, 1, NULL,
     "std of the normal init of weights (from-scratch presets)", NULL, NULL},
    {"max_new_tokens", CFG_INT, F(max_new_tokens), "128", 1, 4096, NULL, 1, NULL,
     "greedy decoding limit at evaluation", NULL, NULL},
    {"epoch_eval_limit", CFG_INT, F(epoch_eval_limit), "200", 0, 1e9, NULL, 0, NULL,
     "test examples evaluated after each epoch for curve.csv (0 = off; the final evaluation uses test_limit)", NULL, NULL},
    {"seed", CFG_U64, F(seed), "82", 0, 1.8e19, NULL, 1, NULL, "run seed (feeds every random stream)", NULL, NULL},
    {"threads", CFG_INT, F(threads), "0", 0, 1024, NULL, 0, NULL,
     "CPU threads (0 = all cores; harness run -j N splits the cores)", NULL, NULL},
    {"device", CFG_ENUM, F(device), "cpu", 0, 0, "cpu|ref|cuda", 0, NULL,
     "backend: cpu (OpenBLAS + OpenMP), ref (the plain-loop reference, slow; for checking) or cuda (fp32 on the "
     "first GPU; builds configured with CUDA)", NULL, NULL},
    {"dtype", CFG_ENUM, F(dtype), "fp32", 0, 0, "fp32|bf16", 1, "fp32",
     "precision of the linear layers' matrix products: fp32, or bf16 (operands rounded to bfloat16, fp32 "
     "accumulation; master weights, gradients, optimizer state, norms, attention and losses stay fp32)", NULL, NULL},
    {"checkpoint", CFG_ENUM, F(checkpoint), "final", 0, 0, "final|none", 0, NULL,
     "write checkpoint/ (safetensors + config.json) at the end of the run", NULL, NULL},
    {"log_every", CFG_INT, F(log_every), "10", 1, 1000000, NULL, 0, NULL,
     "steps between curve.csv rows", NULL, NULL},
    {"probe", CFG_INT, F(probe), "0", 0, 1, NULL, 0, "0",
     "1: after training, probe the model into RUN_DIR/probe (harness probe: .npy, SVD, least squares, t-SNE) "
     "and record Table 10's numbers in runs.csv; needs checkpoint=final", NULL, NULL},
    {"probe_n", CFG_INT, F(probe_n), "1000", 0, 1e9, NULL, 0, "1000",
     "test examples the probe encodes (0 = all)", "probe=1", NULL},
    {"spider_db", CFG_STR, F(spider_db), "", 0, 0, NULL, 0, "",
     "Spider's database/ folder (<db_id>/<db_id>.sqlite), for execution accuracy", "dataset=spider", NULL},
    {"tokenizer", CFG_STR, F(tokenizer), "byte", 0, 0, NULL, 1, "byte",
     "byte: bytes and the engine's special tokens (with init=: the checkpoint's tokenizer.json when it has one); "
     "bpe:N: a byte-level BPE of N merges trained on the train split at the start of the run (saved as "
     "tokenizer.json); else the path of a Hugging Face tokenizer.json (its SHA-256 enters the run identity)",
     NULL, check_tokenizer},
};

const CfgKey *config_schema(int *n) {
    *n = (int)(sizeof SCHEMA / sizeof SCHEMA[0]);
    return SCHEMA;
}

const CfgKey *config_key(const char *name) {
    int n;
    const CfgKey *s = config_schema(&n);
    for (int i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0) return &s[i];
    return NULL;
}

static int choice_ok(const char *choices, const char *v) {
    size_t lv = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *e = strchr(p, '|');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == lv && strncmp(p, v, l) == 0) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* Levenshtein distance of a and b, letters compared case-blind; a large
 * number for names longer than 63 bytes. */
static int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 1 << 20;
    int row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j], v = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            if (up + 1 < v) v = up + 1;
            if (row[j - 1] + 1 < v) v = row[j - 1] + 1;
            row[j] = v;
            diag = up;
        }
    }
    return row[lb];
}

const char *config_suggest(const char *name) {
    int n, best = 1 << 20;
    const CfgKey *s = config_schema(&n), *hit = NULL;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(name, s[i].name);
        if (d < best) best = d, hit = &s[i];
    }
    size_t l = strlen(name);
    int limit = l <= 2 ? 0 : l <= 7 ? 2 : 3; /* "q" -> "k" is no suggestion; "LR" -> "lr", "sede" -> "seed" are */
    return hit && best <= limit ? hit->name : NULL;
}

/* Digits only after an optional leading '-' (no blanks, '+', fraction,
 * exponent or hex): the text of an integer key. */
static int integer_text(const char *v) {
    if (*v == '-') v++;
    if (!*v) return 0;
    for (; *v; v++)
        if (*v < '0' || *v > '9') return 0;
    return 1;
}

/* A decimal number: digits, '.', an exponent and signs only, starting with
 * a digit, sign or '.' ("inf", "nan" and hex floats are not numbers here). */
static int decimal_text(const char *v) {
    if (!*v) return 0;
    for (const char *p = v; *p; p++)
        if (!strchr("0123456789.eE+-", *p)) return 0;
    return 1;
}

/* Set key k of c from text value (k's type and range checked). */
static int set_key(Config *c, const CfgKey *k, const char *value, char *err, size_t errn) {
    char *base = (char *)c + k->offset;
    const char *key = k->name;
    char *end = NULL;
    errno = 0;
    switch (k->type) {
    case CFG_ENUM:
        if (strlen(value) >= CFG_STR_MAX || !choice_ok(k->choices, value))
            return errf(err, errn, "key '%s': '%.80s' is not one of %s", key, value, k->choices);
        snprintf(base, CFG_STR_MAX, "%s", value);
        return 0;
    case CFG_STR: {
        int path = k->offset == F(init) || k->offset == F(tokenizer) || k->offset == F(spider_db);
        size_t cap = path ? CFG_PATH_MAX : CFG_STR_MAX;
        if (strlen(value) >= cap) return errf(err, errn, "key '%s': value longer than %zu characters", key, cap - 1);
        for (const char *p = value; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return errf(err, errn, "key '%s': control character 0x%02x in the value", key, (unsigned char)*p);
        if (k->check && k->check(value, err, errn)) return -1;
        snprintf(base, cap, "%s", value);
        return 0;
    }
    case CFG_INT: {
        if (!integer_text(value))
            return errf(err, errn, "key '%s': expected an integer (decimal digits, e.g. 1000; no fraction, exponent "
                        "or hex), got '%.80s'", key, value);
        long long v = strtoll(value, &end, 10);
        if (errno || v < k->min || v > k->max)
            return errf(err, errn, "key '%s': %.80s is out of range [%.0f, %.0f]", key, value, k->min, k->max);
        *(int *)base = (int)v;
        return 0;
    }
    case CFG_U64: {
        if (*value == '-' || !integer_text(value))
            return errf(err, errn, "key '%s': expected a non-negative integer (decimal digits), got '%.80s'", key, value);
        unsigned long long v = strtoull(value, &end, 10);
        if (errno) return errf(err, errn, "key '%s': %.80s is out of range [0, 2^64)", key, value);
        *(uint64_t *)base = (uint64_t)v;
        return 0;
    }
    case CFG_FLOAT: {
        double v = decimal_text(value) ? strtod(value, &end) : 0;
        if (!end || end == value || *end || (!isfinite(v) && errno != ERANGE))
            return errf(err, errn, "key '%s': expected a number (decimal, e.g. 0.5 or 1e-3; not inf, nan or hex), "
                        "got '%.80s'", key, value);
        if (errno == ERANGE || v < k->min || v > k->max) /* ERANGE: beyond a double, or below its smallest normal */
            return errf(err, errn, "key '%s': %.80s is out of range [%g, %g]", key, value, k->min, k->max);
        *(double *)base = v;
        return 0;
    }
    }
    return errf(err, errn, "key '%s': bad schema type", key);
}

int config_set(Config *c, const char *key, const char *value, char *err, size_t errn) {
    const CfgKey *k = config_key(key);
    if (!k) {
        const char *near = config_suggest(key);
        if (near) return errf(err, errn, "unknown key '%s' (did you mean '%s'? harness train --help lists the keys)", key, near);
        return errf(err, errn, "unknown key '%s' (harness train --help lists the keys)", key);
    }
    return set_key(c, k, value, err, errn);
}

void config_get(const Config *c, const CfgKey *k, char *out, size_t outn) {
    const char *base = (const char *)c + k->offset;
    switch (k->type) {
    case CFG_ENUM:
    case CFG_STR: snprintf(out, outn, "%s", base); break;
    case CFG_INT: snprintf(out, outn, "%d", *(const int *)base); break;
    case CFG_U64: snprintf(out, outn, "%llu", (unsigned long long)*(const uint64_t *)base); break;
    case CFG_FLOAT: snprintf(out, outn, "%.17g", *(const double *)base); break;
    }
}

int config_set_kv(Config *c, const char *kv, char *err, size_t errn) {
    const char *eq = strchr(kv, '=');
    char key[128];
    if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key) {
        snprintf(err, errn, "'%s': expected key=value", kv);
        return -1;
    }
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    return config_set(c, key, eq + 1, err, errn);
}

void config_defaults(Config *c) {
    memset(c, 0, sizeof *c);
    int n;
    const CfgKey *s = config_schema(&n);
    char err[256];
    for (int i = 0; i < n; i++)
        if (set_key(c, &s[i], s[i].def, err, sizeof err) != 0) abort(); /* schema bug */
}

int config_key_applies_by(const CfgKey *k, const char *(*get)(const char *name, void *ctx), void *ctx) {
    if (!k->requires) return 1;
    const char *eq = strchr(k->requires, '=');
    int neg = eq > k->requires && eq[-1] == '!';
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(eq - k->requires) - neg, k->requires);
    const char *v = get(name, ctx);
    return v && (strcmp(v, eq + 1) == 0) != neg;
}

static const char *config_lookup(const char *name, void *ctx) {
    static _Thread_local char buf[CFG_PATH_MAX];
    const CfgKey *k = config_key(name);
    if (!k) return NULL;
    if (k->type == CFG_ENUM || k->type == CFG_STR) return (const char *)ctx + k->offset; /* the text itself */
    config_get((const Config *)ctx, k, buf, sizeof buf);
    return buf;
}

int config_key_applies(const Config *c, const CfgKey *k) {
    return config_key_applies_by(k, config_lookup, (void *)c);
}

/* Numeric value of text v for a numeric key type; 0 when not a number. */
static int as_number(CfgType t, const char *v, long double *out) {
    char *end = NULL;
    errno = 0;
    if (t == CFG_U64) *out = (long double)strtoull(v, &end, 10);
    else *out = strtold(v, &end);
    return !errno && end != v && !*end;
}

int config_is_neutral(const CfgKey *k, const char *v) {
    if (!k->neutral) return 0;
    if (k->type == CFG_ENUM || k->type == CFG_STR) return strcmp(v, k->neutral) == 0;
    long double x, y;
    if (!as_number(k->type, v, &x) || !as_number(k->type, k->neutral, &y)) return 0;
    if (k->type == CFG_FLOAT) return (double)x == (double)y; /* as the Config field holds it */
    return x == y;
}

int config_in_identity(const Config *c, const CfgKey *k) {
    if (!k->identity || !config_key_applies(c, k)) return 0;
    char v[CFG_PATH_MAX];
    config_get(c, k, v, sizeof v);
    return !config_is_neutral(k, v);
}

int config_neutral_text(const CfgKey *k, char *out, size_t outn) {
    if (!k->neutral) return -1;
    Config tmp;
    char err[256];
    memset(&tmp, 0, sizeof tmp);
    if (config_set(&tmp, k->name, k->neutral, err, sizeof err)) return -1; /* schema bug */
    config_get(&tmp, k, out, outn);
    return 0;
}

/* The identity text of key k in c into v, which holds its config_get value:
 * kept, except for init, which becomes "sha256:" and the content hash of its
 * directory, and tokenizer=PATH, which becomes "sha256:" and the file's. */
static int identity_value(const Config *c, const CfgKey *k, HashCache *hc, char *v, size_t vn, char *err,
                          size_t errn) {
    int file = k->offset == F(tokenizer) && tokenizer_spec(c->tokenizer, NULL, NULL, 0) == TOKSPEC_FILE;
    if (k->offset != F(init) && !file) return 0; /* v already holds config_get's text */
    char hex[65], herr[768];
    int rc = file ? hash_cache_file(hc, c->tokenizer, hex, herr, sizeof herr)
                  : hash_cache_checkpoint(hc, c->init, hex, herr, sizeof herr);
    if (rc) {
        snprintf(err, errn, "%s: %s", k->name, herr);
        return -1;
    }
    snprintf(v, vn, "sha256:%s", hex);
    return 0;
}

int config_canonical(const Config *c, int identity_only, HashCache *hc, char **out, char *err, size_t errn) {
    int n;
    const CfgKey *s = config_schema(&n);
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    *out = NULL;
    if (!buf) { snprintf(err, errn, "out of memory"); return -1; }
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        char v[CFG_PATH_MAX];
        if (identity_only && (!s[i].identity || !config_key_applies(c, &s[i]))) continue;
        config_get(c, &s[i], v, sizeof v);
        /* config_in_identity, on the text just printed */
        if (identity_only && config_is_neutral(&s[i], v)) continue;
        if (identity_only && identity_value(c, &s[i], hc, v, sizeof v, err, errn)) { free(buf); return -1; }
        int w = snprintf(buf + len, cap - len, "%s=%s\n", s[i].name, v);
        if (w < 0 || (size_t)w >= cap - len) { /* cannot happen: 42 keys of < 600 bytes */
            free(buf);
            snprintf(err, errn, "config text longer than %zu bytes", cap);
            return -1;
        }
        len += (size_t)w;
    }
    *out = buf;
    return 0;
}

int config_run_id_cached(const Config *c, HashCache *hc, char out[17], char *err, size_t errn) {
    char *s;
    out[0] = 0;
    if (config_canonical(c, 1, hc, &s, err, errn)) return -1;
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = s; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    free(s);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    return 0;
}

int config_run_id(const Config *c, char out[17], char *err, size_t errn) {
    return config_run_id_cached(c, NULL, out, err, errn);
}

void config_print_help(FILE *f) {
    int n;
    const CfgKey *s = config_schema(&n);
    fprintf(f, "Config keys (key=value). identity: whether the key is part of the run identity (run_id):\n"
               "\"yes\"; \"no\"; \"unless N\": yes except at N, its neutral value (the behaviour from before the\n"
               "key existed), so runs recorded before it keep their run_id. init enters the identity as the\n"
               "content hash of its .json/.safetensors files, not its path, and tokenizer=PATH as the SHA-256\n"
               "of the file. lambda, k, ld, jepa_metric and jepa_pass act only with loss=jepa and are not part\n"
               "of an NTP run's identity; lora_alpha, lora_dropout and lora_targets act only with\n"
               "lora_rank != 0.\n\n");
    fprintf(f, "  %-24s %-7s %-9s %-15s %-22s %s\n", "key", "type", "default", "identity", "allowed", "meaning");
    for (int i = 0; i < n; i++) {
        const char *ty = s[i].type == CFG_ENUM ? "enum" : s[i].type == CFG_STR ? "string" : s[i].type == CFG_FLOAT ? "float" : "int";
        char range[64], id[80];
        if (s[i].type == CFG_ENUM) snprintf(range, sizeof range, "%s", s[i].choices);
        else if (s[i].type == CFG_STR) snprintf(range, sizeof range, "text");
        else if (s[i].type == CFG_U64) snprintf(range, sizeof range, "[0, 2^64)");
        else snprintf(range, sizeof range, "[%g, %g]", s[i].min, s[i].max);
        if (!s[i].identity) snprintf(id, sizeof id, "no");
        else if (!s[i].neutral) snprintf(id, sizeof id, "yes");
        else snprintf(id, sizeof id, "unless %s", *s[i].neutral ? s[i].neutral : "\"\"");
        fprintf(f, "  %-24s %-7s %-9s %-15s %-22s %s\n", s[i].name, ty, *s[i].def ? s[i].def : "\"\"", id, range,
                s[i].doc);
    }
}

int config_validate(const Config *c, char *err, size_t errn) {
    if (c->adam_beta1 >= 1 || c->adam_beta2 >= 1) {
        snprintf(err, errn, "adam_beta1 and adam_beta2 must be < 1");
        return -1;
    }
    int jepa = !strcmp(c->loss, "jepa");
    int pred_on_text = strcmp(c->direction, "code2text") && strcmp(c->predictor, "linear") && c->k > 0;
    if (jepa && !strcmp(c->jepa_pass, "fused") && !strcmp(c->pred_position, "front") && pred_on_text) {
        snprintf(err, errn, "jepa_pass=fused needs pred_position=back when the Text view carries [PRED] tokens: in "
                 "front of it, the Text view is not a prefix of the NTP sequence (ALGORITHM.md §3)");
        return -1;
    }
    if (!jepa && strcmp(c->jepa_reg, "none")) {
        snprintf(err, errn, "jepa_reg=%s regularises the JEPA term's embeddings: it needs loss=jepa (loss=%s)",
                 c->jepa_reg, c->loss);
        return -1;
    }
    if (jepa && !strcmp(c->jepa_reg, "vicreg") && c->batch_size < 2) {
        snprintf(err, errn, "jepa_reg=vicreg needs batch_size >= 2 (a covariance over the batch)");
        return -1;
    }
    if (jepa && !strcmp(c->jepa_metric, "infonce") && c->batch_size < 2) {
        snprintf(err, errn, "jepa_metric=infonce needs batch_size >= 2 (the other examples are the negatives)");
        return -1;
    }
    return 0;
}
