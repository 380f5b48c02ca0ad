/* safetensors + config.json reading and writing (cJSON). */
#include "checkpoint.h"
#include "fsutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int write_file(const char *path, const void *a, size_t na, const void *b, size_t nb, char *err, size_t errn) {
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) { snprintf(err, errn, "%s: cannot write: %s", tmp, strerror(errno)); return -1; }
    int ok = fwrite(a, 1, na, f) == na && (nb == 0 || fwrite(b, 1, nb, f) == nb);
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path)) { snprintf(err, errn, "%s: write failed", path); return -1; }
    return 0;
}

int checkpoint_save(const Model *m, const Tokenizer *tok, const Config *run, const char *dir, char *err, size_t errn) {
    if (mkdir_p(dir)) { snprintf(err, errn, "%s: cannot create directory: %s", dir, strerror(errno)); return -1; }
    const ModelConfig *c = &m->cfg;
    char path[1100];
    /* config.json */
    cJSON *j = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("LlamaForCausalLM"));
    cJSON_AddStringToObject(j, "model_type", "llama");
    cJSON_AddNumberToObject(j, "hidden_size", c->dim);
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(j, "head_dim", m->head_dim);
    cJSON_AddNumberToObject(j, "intermediate_size", c->ffn_dim);
    cJSON_AddNumberToObject(j, "rms_norm_eps", c->rms_eps);
    cJSON_AddNumberToObject(j, "rope_theta", c->rope_theta);
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->max_pos);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tie_embeddings);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddStringToObject(j, "torch_dtype", "float32");
    cJSON_AddNumberToObject(j, "bos_token_id", tok->bos);
    cJSON_AddNumberToObject(j, "eos_token_id", tok->eos);
    cJSON_AddNumberToObject(j, "pad_token_id", tok->pad);
    cJSON *t = cJSON_AddObjectToObject(j, "tokenizer");
    cJSON_AddStringToObject(t, "kind", tok->kind);
    cJSON_AddNumberToObject(t, "bos", tok->bos);
    cJSON_AddNumberToObject(t, "eos", tok->eos);
    cJSON_AddNumberToObject(t, "pad", tok->pad);
    cJSON_AddNumberToObject(t, "system", tok->system);
    cJSON_AddNumberToObject(t, "user", tok->user);
    cJSON_AddNumberToObject(t, "assistant", tok->assistant);
    cJSON *preds = cJSON_AddArrayToObject(t, "pred");
    for (int i = 1; i <= tok->npred; i++) cJSON_AddItemToArray(preds, cJSON_CreateNumber(tok_pred(tok, i)));
    if (run) {
        cJSON *r = cJSON_AddObjectToObject(j, "llm_jepa");
        int n;
        const CfgKey *s = config_schema(&n);
        for (int i = 0; i < n; i++) {
            char v[CFG_PATH_MAX];
            config_get(run, &s[i], v, sizeof v);
            cJSON_AddStringToObject(r, s[i].name, v);
        }
    }
    char *js = cJSON_Print(j);
    cJSON_Delete(j);
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = write_file(path, js, strlen(js), "\n", 1, err, errn);
    free(js);
    if (rc) return -1;

    /* model.safetensors: u64 header length, JSON header, raw little-endian data */
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    size_t off = 0;
    for (int i = 0; i < m->ntensors; i++) {
        const Tensor *T = &m->tensors[i];
        if (strstr(T->name, ".lora_")) continue; /* the merged model is a plain Llama */
        cJSON *e = cJSON_AddObjectToObject(h, T->name);
        cJSON_AddStringToObject(e, "dtype", "F32");
        cJSON *sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < T->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber(T->shape[d]));
        cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + T->numel * 4)));
        off += T->numel * 4;
    }
    char *hs = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    size_t hl = strlen(hs), padded = (hl + 7) / 8 * 8;
    size_t total = 8 + padded + off;
    unsigned char *buf = malloc(total);
    if (!buf) { free(hs); snprintf(err, errn, "out of memory"); return -1; }
    uint64_t L = padded;
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(L >> (8 * i));
    memcpy(buf + 8, hs, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    free(hs);
    unsigned char *p = buf + 8 + padded;
    float *host = malloc(m->nparams * sizeof(float));
    if (!host || model_params_merged((Model *)m, host)) {
        free(host); free(buf);
        snprintf(err, errn, "out of memory");
        return -1;
    }
    for (int i = 0; i < m->ntensors; i++) {
        const Tensor *T = &m->tensors[i];
        if (strstr(T->name, ".lora_")) continue;
        memcpy(p, host + T->offset, T->numel * 4); /* x86-64 and aarch64 are little-endian */
        p += T->numel * 4;
    }
    free(host);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rc = write_file(path, buf, total, NULL, 0, err, errn);
    free(buf);
    return rc;
}

static char *read_all(const char *path, size_t *len, char *err, size_t errn) {
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errn, "%s: cannot open: %s", path, strerror(errno)); return NULL; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        snprintf(err, errn, "%s: read failed", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

static int get_int(cJSON *j, const char *key, int *out, const char *path, char *err, size_t errn) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v)) { snprintf(err, errn, "%s: expected a number for \"%s\"", path, key); return -1; }
    *out = v->valueint;
    return 0;
}

int checkpoint_read_config(const char *dir, ModelConfig *mc, Config *run, int *has_run, char *err, size_t errn) {
    char path[1100];
    snprintf(path, sizeof path, "%s/config.json", dir);
    size_t len;
    char *txt = read_all(path, &len, err, errn);
    if (!txt) return -1;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    if (!j) { snprintf(err, errn, "%s: not valid JSON", path); return -1; }
    int rc = -1;
    memset(mc, 0, sizeof *mc);
    if (get_int(j, "hidden_size", &mc->dim, path, err, errn) ||
        get_int(j, "num_hidden_layers", &mc->n_layers, path, err, errn) ||
        get_int(j, "num_attention_heads", &mc->n_heads, path, err, errn) ||
        get_int(j, "intermediate_size", &mc->ffn_dim, path, err, errn) ||
        get_int(j, "vocab_size", &mc->vocab_size, path, err, errn))
        goto done;
    mc->n_kv_heads = mc->n_heads;
    cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "num_key_value_heads")) && cJSON_IsNumber(v)) mc->n_kv_heads = v->valueint;
    mc->rms_eps = 1e-6f;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "rms_norm_eps")) && cJSON_IsNumber(v)) mc->rms_eps = (float)v->valuedouble;
    mc->rope_theta = 10000.0f;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "rope_theta")) && cJSON_IsNumber(v)) mc->rope_theta = (float)v->valuedouble;
    mc->max_pos = 2048;
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "max_position_embeddings")) && cJSON_IsNumber(v)) mc->max_pos = v->valueint;
    v = cJSON_GetObjectItemCaseSensitive(j, "tie_word_embeddings");
    mc->tie_embeddings = cJSON_IsTrue(v);
    if ((v = cJSON_GetObjectItemCaseSensitive(j, "head_dim")) && cJSON_IsNumber(v) && mc->n_heads > 0 &&
        v->valueint * mc->n_heads != mc->dim) {
        snprintf(err, errn, "%s: head_dim %d != hidden_size / num_attention_heads is not supported", path, v->valueint);
        goto done;
    }
    if (has_run) *has_run = 0;
    cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "llm_jepa");
    if (run && cJSON_IsObject(r)) {
        config_defaults(run);
        cJSON *e;
        cJSON_ArrayForEach(e, r) {
            char msg[256];
            if (!cJSON_IsString(e) || config_set(run, e->string, e->valuestring, msg, sizeof msg)) {
                snprintf(err, errn, "%s: \"llm_jepa\": %s", path, cJSON_IsString(e) ? msg : "values must be strings");
                goto done;
            }
        }
        if (has_run) *has_run = 1;
    }
    rc = 0;
done:
    cJSON_Delete(j);
    return rc;
}

static float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static float f16_to_f32(uint16_t h) {
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, u;
    if (e == 0) {
        if (m == 0) u = s;
        else { /* subnormal */
            e = 127 - 15 + 1;
            while (!(m & 0x400)) { m <<= 1; e--; }
            u = s | (e << 23) | ((m & 0x3ff) << 13);
        }
    } else if (e == 31) u = s | 0x7f800000u | (m << 13);
    else u = s | ((e + 127 - 15) << 23) | (m << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int checkpoint_load(Model *m, Backend *be, const char *dir, Config *run, int *has_run, char *err, size_t errn) {
    ModelConfig mc;
    if (checkpoint_read_config(dir, &mc, run, has_run, err, errn)) return -1;
    if (model_init(m, &mc, NULL, be, err, errn)) return -1;
    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    size_t len;
    char *buf = read_all(path, &len, err, errn);
    if (!buf) { model_free(m); return -1; }
    int rc = -1;
    cJSON *h = NULL;
    uint64_t hl = 0;
    if (len < 8) { snprintf(err, errn, "%s: too short for a safetensors header", path); goto done; }
    for (int i = 0; i < 8; i++) hl |= (uint64_t)(unsigned char)buf[i] << (8 * i);
    if (hl > len - 8) { snprintf(err, errn, "%s: header length %llu exceeds the file", path, (unsigned long long)hl); goto done; }
    h = cJSON_ParseWithLength(buf + 8, (size_t)hl);
    if (!h) { snprintf(err, errn, "%s: header is not valid JSON", path); goto done; }
    const unsigned char *data = (const unsigned char *)buf + 8 + hl;
    size_t dlen = len - 8 - hl;
    for (int t = 0; t < m->ntensors; t++) {
        Tensor *T = &m->tensors[t];
        cJSON *e = cJSON_GetObjectItemCaseSensitive(h, T->name);
        if (!e) { snprintf(err, errn, "%s: missing tensor %s", path, T->name); goto done; }
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(e, "shape"),
              *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2) {
            snprintf(err, errn, "%s: tensor %s: expected dtype, shape and data_offsets", path, T->name);
            goto done;
        }
        int nd = cJSON_GetArraySize(sh), okshape = nd == T->ndim;
        for (int d = 0; okshape && d < nd; d++) okshape = cJSON_GetArrayItem(sh, d)->valueint == T->shape[d];
        if (!okshape) {
            snprintf(err, errn, "%s: tensor %s: shape does not match config.json (expected [%d%s%.0d])", path, T->name,
                     T->shape[0], T->ndim == 2 ? ", " : "", T->ndim == 2 ? T->shape[1] : 0);
            goto done;
        }
        size_t a = (size_t)cJSON_GetArrayItem(of, 0)->valuedouble, b = (size_t)cJSON_GetArrayItem(of, 1)->valuedouble;
        int es = !strcmp(dt->valuestring, "F32") ? 4 : (!strcmp(dt->valuestring, "BF16") || !strcmp(dt->valuestring, "F16")) ? 2 : 0;
        if (!es) { snprintf(err, errn, "%s: tensor %s: unsupported dtype %s (F32, BF16, F16)", path, T->name, dt->valuestring); goto done; }
        if (b < a || b > dlen || b - a != T->numel * (size_t)es) {
            snprintf(err, errn, "%s: tensor %s: data_offsets [%zu, %zu) do not fit the data (%zu bytes)", path, T->name, a, b, dlen);
            goto done;
        }
        float *dst = malloc(T->numel * sizeof(float));
        if (!dst) { snprintf(err, errn, "out of memory"); goto done; }
        const unsigned char *src = data + a;
        for (size_t i = 0; i < T->numel; i++) {
            if (es == 4) memcpy(&dst[i], src + 4 * i, 4);
            else {
                uint16_t v = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
                dst[i] = dt->valuestring[0] == 'B' ? bf16_to_f32(v) : f16_to_f32(v);
            }
        }
        model_tensor_set(m, t, dst);
        free(dst);
    }
    rc = 0;
done:
    cJSON_Delete(h);
    free(buf);
    if (rc) model_free(m);
    return rc;
}
