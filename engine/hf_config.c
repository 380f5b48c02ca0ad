/* config.json of a Hugging Face Llama: see hf_config.h. */
#include "hf_config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errmsg.h"
#include "model_config.h"
#include "rope.h"

#define JSON_MAX_BYTES (64L << 20)
#define SIZE_MAX_KEY (1 << 30) /* upper bound of every size key */
#define ROPE_THETA_MAX 1e12    /* as the config key rope_theta */
#define SCALE_MAX 1e6          /* upper bound of the rope_scaling factors */

/* ---------------------------------------------------------------- JSON files */

cJSON *hf_json_read(const char *path, char *err, size_t errn) {
    FILE *f = fopen(path, "rb");
    if (!f) { errf(err, errn, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    struct stat st;
    char *buf = NULL;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || st.st_size > JSON_MAX_BYTES) {
        errf(err, errn, "%s: not a regular file of at most %ld bytes", path, JSON_MAX_BYTES);
        goto fail;
    }
    size_t n = (size_t)st.st_size;
    if (!(buf = malloc(n + 1)) || fread(buf, 1, n, f) != n) { errf(err, errn, "%s: read failed", path); goto fail; }
    fclose(f);
    buf[n] = 0;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, n + 1, NULL, 1); /* nothing but spaces after the value */
    if (!j) {
        const char *e = cJSON_GetErrorPtr();
        long at = e && e >= buf && e <= buf + n ? (long)(e - buf) : -1;
        errf(err, errn, "%s: not valid JSON (near byte %ld)", path, at);
    }
    free(buf);
    return j;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

/* Write data to path.tmp, then rename it to path. */
static int write_atomic(const char *path, const char *data, size_t n, char *err, size_t errn) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return errf(err, errn, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return errf(err, errn, "%s: cannot write: %s", tmp, strerror(errno));
    int ok = fwrite(data, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path)) {
        unlink(tmp);
        return errf(err, errn, "%s: write failed", path);
    }
    return 0;
}

int hf_json_write(const char *path, const cJSON *j, char *err, size_t errn) {
    char *s = cJSON_Print(j);
    if (!s) return errf(err, errn, "%s: out of memory", path);
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) { free(s); return errf(err, errn, "%s: out of memory", path); }
    t[n] = '\n';
    int rc = write_atomic(path, t, n + 1, err, errn);
    free(t);
    return rc;
}

double hf_float_json(float f) {
    char buf[32];
    for (int prec = 6; prec < 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if ((float)strtod(buf, NULL) == f) return strtod(buf, NULL);
    }
    return (double)f;
}

/* ---------------------------------------------------------------- typed keys */

/* Value of key; NULL when absent or null. */
static const cJSON *item(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNull(v) ? NULL : v;
}

/* *out = integer value of key in [lo, hi]; def when absent unless required.
 * where: the file (and object) for messages. */
static int get_int(const cJSON *j, const char *key, int required, int def, int lo, int hi, int *out,
                   const char *where, char *err, size_t errn) {
    const cJSON *v = item(j, key);
    if (!v) {
        if (required) return errf(err, errn, "%s: missing key \"%s\"", where, key);
        *out = def;
        return 0;
    }
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || d != floor(d) || d < lo || d > hi)
        return errf(err, errn, "%s: \"%s\" must be an integer in [%d, %d]", where, key, lo, hi);
    *out = (int)d;
    return 0;
}

/* *out = number value of key in (lo, hi] (finite; so it also converts to a
 * float without overflow); def when absent unless required. */
static int get_num(const cJSON *j, const char *key, int required, double def, double lo, double hi, double *out,
                   const char *where, char *err, size_t errn) {
    const cJSON *v = item(j, key);
    if (!v) {
        if (required) return errf(err, errn, "%s: missing key \"%s\"", where, key);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble > lo && v->valuedouble <= hi))
        return errf(err, errn, "%s: \"%s\" must be a number in (%g, %g]", where, key, lo, hi);
    *out = v->valuedouble;
    return 0;
}

/* *out = 0/1 from a JSON boolean; def when absent. */
static int get_bool(const cJSON *j, const char *key, int def, int *out, const char *where, char *err, size_t errn) {
    const cJSON *v = item(j, key);
    if (!v) { *out = def; return 0; }
    if (!cJSON_IsBool(v)) return errf(err, errn, "%s: \"%s\" must be true or false", where, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* ---------------------------------------------------------------- reading */

/* Keys that must hold a given value because the engine implements only it. */
static int read_supported(const cJSON *j, const char *path, char *err, size_t errn) {
    const cJSON *mt = item(j, "model_type"), *act = item(j, "hidden_act");
    if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "llama")))
        return errf(err, errn, "%s: model_type \"%s\" is not supported (llama)", path,
                    cJSON_IsString(mt) ? mt->valuestring : "(not a string)");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu")))
        return errf(err, errn, "%s: hidden_act \"%s\" is not supported (silu)", path,
                    cJSON_IsString(act) ? act->valuestring : "(not a string)");
    static const char *bias[] = {"attention_bias", "mlp_bias"};
    for (int i = 0; i < 2; i++) {
        int b = 0;
        if (get_bool(j, bias[i], 0, &b, path, err, errn)) return -1;
        if (b) return errf(err, errn, "%s: %s true is not supported (no biases)", path, bias[i]);
    }
    return 0;
}

static int read_shape(const cJSON *j, ModelConfig *mc, const char *path, char *err, size_t errn) {
    const int M = SIZE_MAX_KEY;
    double eps = 0, theta = 0;
    int hd = 0;
    if (get_int(j, "hidden_size", 1, 0, 1, M, &mc->dim, path, err, errn) ||
        get_int(j, "num_hidden_layers", 1, 0, 1, M, &mc->n_layers, path, err, errn) ||
        get_int(j, "num_attention_heads", 1, 0, 1, M, &mc->n_heads, path, err, errn) ||
        get_int(j, "intermediate_size", 1, 0, 1, M, &mc->ffn_dim, path, err, errn) ||
        get_int(j, "vocab_size", 1, 0, 1, M, &mc->vocab_size, path, err, errn) ||
        get_int(j, "num_key_value_heads", 0, mc->n_heads, 1, M, &mc->n_kv_heads, path, err, errn) ||
        get_int(j, "max_position_embeddings", 0, 2048, 1, M, &mc->max_pos, path, err, errn) ||
        get_num(j, "rms_norm_eps", 0, 1e-6, 0, 1, &eps, path, err, errn) ||
        get_num(j, "rope_theta", 0, 10000.0, 0, ROPE_THETA_MAX, &theta, path, err, errn) ||
        get_bool(j, "tie_word_embeddings", 0, &mc->tie_embeddings, path, err, errn) ||
        get_int(j, "head_dim", 0, 0, 1, M, &hd, path, err, errn))
        return -1;
    mc->rms_eps = (float)eps; /* both in range of a float: get_num */
    mc->rope_theta = (float)theta;
    if (hd && (long long)hd * mc->n_heads != mc->dim)
        return errf(err, errn, "%s: head_dim %d != hidden_size / num_attention_heads (%d / %d) is not supported",
                    path, hd, mc->dim, mc->n_heads);
    return 0;
}

/* rope_scaling: null/absent/"default" -> none; "llama3" -> its four parameters. */
static int read_rope_scaling(const cJSON *j, ModelConfig *mc, const char *path, char *err, size_t errn) {
    const cJSON *rs = item(j, "rope_scaling");
    if (!rs) return 0;
    if (!cJSON_IsObject(rs)) return errf(err, errn, "%s: \"rope_scaling\" must be an object or null", path);
    const cJSON *t = item(rs, "rope_type");
    if (!t) t = item(rs, "type");
    if (!cJSON_IsString(t))
        return errf(err, errn, "%s: \"rope_scaling\" needs a string \"rope_type\" (or \"type\")", path);
    if (!strcmp(t->valuestring, "default")) return 0;
    if (strcmp(t->valuestring, "llama3"))
        return errf(err, errn, "%s: rope_scaling type \"%s\" is not supported (llama3 only)", path, t->valuestring);
    char where[4200];
    snprintf(where, sizeof where, "%s: \"rope_scaling\"", path);
    mc->rope_scaling = ROPE_SCALING_LLAMA3;
    return get_num(rs, "factor", 1, 0, 0, SCALE_MAX, &mc->rope_factor, where, err, errn) ||
                   get_num(rs, "low_freq_factor", 1, 0, 0, SCALE_MAX, &mc->rope_low_freq_factor, where, err, errn) ||
                   get_num(rs, "high_freq_factor", 1, 0, 0, SCALE_MAX, &mc->rope_high_freq_factor, where, err, errn) ||
                   get_int(rs, "original_max_position_embeddings", 1, 0, 1, SIZE_MAX_KEY, &mc->rope_original_max_pos,
                           where, err, errn)
               ? -1
               : 0;
}

/* bos_token_id, pad_token_id (int; -1: none) and eos_token_id (int or list), ids in [0, V). */
static int read_hf_ids(const cJSON *j, int V, HfExtras *x, const char *path, char *err, size_t errn) {
    if (get_int(j, "bos_token_id", 0, -1, -1, V - 1, &x->bos_token_id, path, err, errn) ||
        get_int(j, "pad_token_id", 0, -1, -1, V - 1, &x->pad_token_id, path, err, errn))
        return -1;
    const cJSON *e = item(j, "eos_token_id");
    if (!e) return 0;
    if (cJSON_IsNumber(e)) {
        x->n_eos = 1;
        return get_int(j, "eos_token_id", 1, 0, 0, V - 1, &x->eos_token_id[0], path, err, errn);
    }
    if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) > HF_MAX_EOS)
        return errf(err, errn, "%s: \"eos_token_id\" must be an integer or a list of at most %d", path, HF_MAX_EOS);
    const cJSON *v;
    cJSON_ArrayForEach(v, e) {
        double d = v->valuedouble;
        if (!cJSON_IsNumber(v) || d != floor(d) || d < 0 || d >= V)
            return errf(err, errn, "%s: \"eos_token_id\" entries must be integers in [0, %d]", path, V - 1);
        x->eos_token_id[x->n_eos++] = (int)d;
    }
    return 0;
}

/* Our "tokenizer" object; every key required when the object is there. */
static int read_tokenizer(const cJSON *j, int V, HfExtras *x, const char *path, char *err, size_t errn) {
    const cJSON *t = item(j, "tokenizer");
    if (!t) return 0;
    char where[4200];
    snprintf(where, sizeof where, "%s: \"tokenizer\"", path);
    if (!cJSON_IsObject(t)) return errf(err, errn, "%s must be an object", where);
    HfTokenizerInfo *ti = &x->tok;
    const cJSON *kind = item(t, "kind"), *pred = item(t, "pred");
    if (!cJSON_IsString(kind) || strlen(kind->valuestring) >= sizeof ti->kind)
        return errf(err, errn, "%s: \"kind\" must be a string of fewer than %zu bytes", where, sizeof ti->kind);
    snprintf(ti->kind, sizeof ti->kind, "%s", kind->valuestring);
    const cJSON *chat = item(t, "chat");
    if (chat && (!cJSON_IsString(chat) || strlen(chat->valuestring) >= sizeof ti->chat))
        return errf(err, errn, "%s: \"chat\" must be a string of fewer than %zu bytes", where, sizeof ti->chat);
    snprintf(ti->chat, sizeof ti->chat, "%s", chat ? chat->valuestring : "");
    const char *names[] = {"bos", "eos", "pad", "system", "user", "assistant"};
    int *ids[] = {&ti->bos, &ti->eos, &ti->pad, &ti->system, &ti->user, &ti->assistant};
    int byte = !strcmp(ti->kind, "byte");
    for (int i = 0; i < 6; i++)
        if (get_int(t, names[i], byte || i < 3, -1, 0, V - 1, ids[i], where, err, errn)) return -1;
    if (!cJSON_IsArray(pred) || cJSON_GetArraySize(pred) > HF_MAX_PRED)
        return errf(err, errn, "%s: \"pred\" must be a list of at most %d token ids", where, HF_MAX_PRED);
    const cJSON *v;
    cJSON_ArrayForEach(v, pred) {
        double d = v->valuedouble;
        if (!cJSON_IsNumber(v) || d != floor(d) || d < 0 || d >= V)
            return errf(err, errn, "%s: \"pred\" entries must be integers in [0, %d]", where, V - 1);
        ti->pred[ti->npred++] = (int)d;
    }
    x->has_tokenizer = 1;
    return 0;
}

/* "llm_jepa": {"key": "value", ...}, kept as text for config_set. */
static int read_run(const cJSON *j, HfExtras *x, const char *path, char *err, size_t errn) {
    const cJSON *r = item(j, "llm_jepa"), *e;
    if (!r) return 0;
    if (!cJSON_IsObject(r)) return errf(err, errn, "%s: \"llm_jepa\" must be an object", path);
    int n = cJSON_GetArraySize(r);
    if (!(x->run = calloc((size_t)n + 1, sizeof *x->run))) return errf(err, errn, "%s: out of memory", path);
    x->has_run = 1;
    cJSON_ArrayForEach(e, r) {
        if (!cJSON_IsString(e))
            return errf(err, errn, "%s: \"llm_jepa\": \"%s\": values must be strings", path, e->string);
        HfKV *kv = &x->run[x->nrun++];
        kv->key = strdup(e->string);
        kv->value = strdup(e->valuestring);
        if (!kv->key || !kv->value) return errf(err, errn, "%s: out of memory", path);
    }
    return 0;
}

static void extras_init(HfExtras *x) {
    memset(x, 0, sizeof *x);
    x->bos_token_id = x->pad_token_id = -1;
}

void hf_extras_free(HfExtras *x) {
    for (int i = 0; x->run && i < x->nrun; i++) {
        free(x->run[i].key);
        free(x->run[i].value);
    }
    free(x->run);
    extras_init(x);
}

int hf_config_read(const char *path, ModelConfig *mc, HfExtras *x, char *err, size_t errn) {
    memset(mc, 0, sizeof *mc);
    if (x) extras_init(x);
    cJSON *j = hf_json_read(path, err, errn);
    if (!j) return -1;
    int rc = -1;
    if (!cJSON_IsObject(j)) { errf(err, errn, "%s: expected a JSON object", path); goto done; }
    if (read_supported(j, path, err, errn) || read_shape(j, mc, path, err, errn) ||
        read_rope_scaling(j, mc, path, err, errn))
        goto done;
    char msg[512];
    if (model_config_check(mc, msg, sizeof msg)) { errf(err, errn, "%s: %s", path, msg); goto done; }
    if (x && (read_hf_ids(j, mc->vocab_size, x, path, err, errn) ||
              read_tokenizer(j, mc->vocab_size, x, path, err, errn) || read_run(j, x, path, err, errn)))
        goto done;
    rc = 0;
done:
    cJSON_Delete(j);
    return rc;
}

/* ---------------------------------------------------------------- writing */

static void add_tokenizer(cJSON *j, const Tokenizer *tok) {
    cJSON_AddNumberToObject(j, "bos_token_id", tok->bos);
    cJSON_AddNumberToObject(j, "eos_token_id", tok->eos);
    cJSON_AddNumberToObject(j, "pad_token_id", tok->pad);
    cJSON *t = cJSON_AddObjectToObject(j, "tokenizer");
    cJSON_AddStringToObject(t, "kind", tokenizer_kind_name(tok));
    if (tok->kind != TOKENIZER_BYTE) cJSON_AddStringToObject(t, "chat", tok->chat);
    cJSON_AddNumberToObject(t, "bos", tok->bos);
    cJSON_AddNumberToObject(t, "eos", tok->eos);
    cJSON_AddNumberToObject(t, "pad", tok->pad);
    const char *names[] = {"system", "user", "assistant"};
    const int ids[] = {tok->system, tok->user, tok->assistant};
    for (int i = 0; i < 3; i++)
        if (ids[i] >= 0) cJSON_AddNumberToObject(t, names[i], ids[i]);
    cJSON *preds = cJSON_AddArrayToObject(t, "pred");
    for (int i = 1; i <= tok->npred; i++) cJSON_AddItemToArray(preds, cJSON_CreateNumber(tok_pred(tok, i)));
}

static void add_run(cJSON *j, const Config *run) {
    cJSON *r = cJSON_AddObjectToObject(j, "llm_jepa");
    int n;
    const CfgKey *s = config_schema(&n);
    for (int i = 0; i < n; i++) {
        char v[CFG_PATH_MAX];
        config_get(run, &s[i], v, sizeof v);
        cJSON_AddStringToObject(r, s[i].name, v);
    }
}

static void add_shape(cJSON *j, const ModelConfig *c) {
    cJSON_AddNumberToObject(j, "hidden_size", c->dim);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(j, "head_dim", c->n_heads ? c->dim / c->n_heads : 0);
    cJSON_AddNumberToObject(j, "intermediate_size", c->ffn_dim);
    cJSON_AddNumberToObject(j, "rms_norm_eps", hf_float_json(c->rms_eps));
    cJSON_AddNumberToObject(j, "rope_theta", hf_float_json(c->rope_theta));
    if (c->rope_scaling == ROPE_SCALING_LLAMA3) {
        cJSON *rs = cJSON_AddObjectToObject(j, "rope_scaling");
        cJSON_AddStringToObject(rs, "rope_type", "llama3");
        cJSON_AddNumberToObject(rs, "factor", c->rope_factor);
        cJSON_AddNumberToObject(rs, "low_freq_factor", c->rope_low_freq_factor);
        cJSON_AddNumberToObject(rs, "high_freq_factor", c->rope_high_freq_factor);
        cJSON_AddNumberToObject(rs, "original_max_position_embeddings", c->rope_original_max_pos);
    } else {
        cJSON_AddNullToObject(j, "rope_scaling");
    }
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->max_pos);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tie_embeddings);
}

int hf_config_write(const char *path, const ModelConfig *mc, const Tokenizer *tok, const Config *run,
                    const char *torch_dtype, char *err, size_t errn) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return errf(err, errn, "%s: out of memory", path);
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("LlamaForCausalLM"));
    cJSON_AddStringToObject(j, "model_type", "llama");
    add_shape(j, mc);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddStringToObject(j, "torch_dtype", torch_dtype ? torch_dtype : "float32");
    if (tok) add_tokenizer(j, tok);
    if (run) add_run(j, run);
    int rc = hf_json_write(path, j, err, errn);
    cJSON_Delete(j);
    return rc;
}
