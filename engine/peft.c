/* PEFT LoRA adapter config and tensor names: see peft.h. */
#include "peft.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "hf_config.h"

/* Short name, module name, parent module of each target, in LT_* order. */
static const struct { const char *shortname, *module, *parent; } TARGETS[LT_COUNT] = {
    {"q", "q_proj", "self_attn"},   {"k", "k_proj", "self_attn"}, {"v", "v_proj", "self_attn"},
    {"o", "o_proj", "self_attn"},   {"gate", "gate_proj", "mlp"}, {"up", "up_proj", "mlp"},
    {"down", "down_proj", "mlp"},
};
#define PREFIX "base_model.model.model.layers."
#define PEFT_MAX_RANK 65536  /* as the config key lora_rank */
#define PEFT_MAX_ALPHA 1e6   /* as the config key lora_alpha */

const char *peft_target_module(int target) {
    return target >= 0 && target < LT_COUNT ? TARGETS[target].module : NULL;
}

int peft_target_parse(const char *name) {
    for (int t = 0; t < LT_COUNT; t++)
        if (!strcmp(name, TARGETS[t].shortname) || !strcmp(name, TARGETS[t].module)) return t;
    return -1;
}

int peft_targets_parse(const char *list, unsigned *mask, char *err, size_t errn) {
    char buf[256], *save = NULL;
    if (snprintf(buf, sizeof buf, "%s", list) >= (int)sizeof buf) return errf(err, errn, "lora targets: list too long");
    *mask = 0;
    for (char *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
        int t = peft_target_parse(s);
        if (t < 0) return errf(err, errn, "lora target '%s' is not one of q,k,v,o,gate,up,down", s);
        *mask |= 1u << t;
    }
    return *mask ? 0 : errf(err, errn, "lora targets: empty list");
}

int peft_tensor_name(int layer, int target, int b, char *out, size_t outn) {
    if (layer < 0 || target < 0 || target >= LT_COUNT || (b != 0 && b != 1)) return -1;
    int k = snprintf(out, outn, PREFIX "%d.%s.%s.lora_%c.weight", layer, TARGETS[target].parent,
                     TARGETS[target].module, b ? 'B' : 'A');
    return k < 0 || (size_t)k >= outn ? -1 : 0;
}

int peft_tensor_parse(const char *name, int *layer, int *target, int *b) {
    size_t np = strlen(PREFIX);
    if (strncmp(name, PREFIX, np)) return -1;
    const char *p = name + np;
    long l = 0;
    if (*p < '0' || *p > '9' || (*p == '0' && p[1] != '.')) return -1;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((l = l * 10 + (*p - '0')) > 1000000) return -1;
    for (int t = 0; t < LT_COUNT; t++)
        for (int ab = 0; ab < 2; ab++) {
            char rest[64];
            snprintf(rest, sizeof rest, ".%s.%s.lora_%c.weight", TARGETS[t].parent, TARGETS[t].module, ab ? 'B' : 'A');
            if (strcmp(p, rest)) continue;
            *layer = (int)l;
            *target = t;
            *b = ab;
            return 0;
        }
    return -1;
}

int peft_tensor_shape(const ModelConfig *mc, int r, int target, int b, int shape[2]) {
    int hd = mc->dim / mc->n_heads, q = mc->n_heads * hd, kv = mc->n_kv_heads * hd, C = mc->dim, F = mc->ffn_dim;
    int io[LT_COUNT][2] = {{q, C}, {kv, C}, {kv, C}, {C, q}, {F, C}, {F, C}, {C, F}}; /* (out, in) */
    if (target < 0 || target >= LT_COUNT || (b != 0 && b != 1)) return -1;
    shape[0] = b ? io[target][0] : r;
    shape[1] = b ? r : io[target][1];
    return 0;
}

/* ---------------------------------------------------------------- adapter_config.json */

static int is_empty(const cJSON *v) {
    return !v || cJSON_IsNull(v) || cJSON_IsFalse(v) || ((cJSON_IsArray(v) || cJSON_IsObject(v)) && !v->child);
}

/* Keys whose non-default values the engine cannot honour. */
static int refuse_unsupported(const cJSON *j, const char *path, char *err, size_t errn) {
    static const char *must_be_empty[] = {"layers_to_transform", "layer_replication", "modules_to_save",
                                          "exclude_modules",     "target_parameters", "rank_pattern",
                                          "alpha_pattern",       "use_dora",          "use_rslora",
                                          "fan_in_fan_out"};
    for (size_t i = 0; i < sizeof must_be_empty / sizeof *must_be_empty; i++)
        if (!is_empty(cJSON_GetObjectItemCaseSensitive(j, must_be_empty[i])))
            return errf(err, errn, "%s: \"%s\" is not supported (must be false, null or empty)", path, must_be_empty[i]);
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(j, "peft_type"), *bias = cJSON_GetObjectItemCaseSensitive(j, "bias"),
                *task = cJSON_GetObjectItemCaseSensitive(j, "task_type");
    if (!cJSON_IsString(pt)) return errf(err, errn, "%s: missing key \"peft_type\" (expected \"LORA\")", path);
    if (strcmp(pt->valuestring, "LORA"))
        return errf(err, errn, "%s: peft_type \"%s\" is not supported (LORA)", path, pt->valuestring);
    if (bias && !cJSON_IsNull(bias) && (!cJSON_IsString(bias) || strcmp(bias->valuestring, "none")))
        return errf(err, errn, "%s: bias \"%s\" is not supported (none)", path,
                    cJSON_IsString(bias) ? bias->valuestring : "(not a string)");
    if (task && !cJSON_IsNull(task) && (!cJSON_IsString(task) || strcmp(task->valuestring, "CAUSAL_LM")))
        return errf(err, errn, "%s: task_type \"%s\" is not supported (CAUSAL_LM)", path,
                    cJSON_IsString(task) ? task->valuestring : "(not a string)");
    return 0;
}

static int read_targets(const cJSON *j, unsigned *mask, const char *path, char *err, size_t errn) {
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(j, "target_modules"), *e;
    *mask = 0;
    if (cJSON_IsString(tm)) {
        if (!strcmp(tm->valuestring, "all-linear")) { *mask = PEFT_ALL_TARGETS; return 0; }
        return errf(err, errn, "%s: target_modules \"%s\": a regular expression is not supported (give a list)", path,
                    tm->valuestring);
    }
    if (!cJSON_IsArray(tm) || !tm->child)
        return errf(err, errn, "%s: missing key \"target_modules\" (a non-empty list)", path);
    cJSON_ArrayForEach(e, tm) {
        int t = cJSON_IsString(e) ? peft_target_parse(e->valuestring) : -1;
        if (t < 0 || strcmp(e->valuestring, TARGETS[t].module))
            return errf(err, errn, "%s: target module \"%s\" is not supported (q_proj, k_proj, v_proj, o_proj, "
                        "gate_proj, up_proj, down_proj)", path, cJSON_IsString(e) ? e->valuestring : "(not a string)");
        *mask |= 1u << t;
    }
    return 0;
}

/* r, lora_alpha, lora_dropout and base_model_name_or_path. */
static int read_numbers(const cJSON *j, PeftConfig *pc, const char *path, char *err, size_t errn) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "r"), *a = cJSON_GetObjectItemCaseSensitive(j, "lora_alpha"),
                *d = cJSON_GetObjectItemCaseSensitive(j, "lora_dropout"),
                *bm = cJSON_GetObjectItemCaseSensitive(j, "base_model_name_or_path");
    double rv = r ? r->valuedouble : 8;
    if (r && (!cJSON_IsNumber(r) || rv != floor(rv) || rv < 1 || rv > PEFT_MAX_RANK))
        return errf(err, errn, "%s: \"r\" must be an integer in [1, %d]", path, PEFT_MAX_RANK);
    if (a && (!cJSON_IsNumber(a) || !(a->valuedouble >= 0 && a->valuedouble <= PEFT_MAX_ALPHA)))
        return errf(err, errn, "%s: \"lora_alpha\" must be a number in [0, %g]", path, PEFT_MAX_ALPHA);
    if (d && (!cJSON_IsNumber(d) || !(d->valuedouble >= 0 && d->valuedouble < 1)))
        return errf(err, errn, "%s: \"lora_dropout\" must be a number in [0, 1)", path);
    if (bm && !cJSON_IsNull(bm) && (!cJSON_IsString(bm) || strlen(bm->valuestring) >= sizeof pc->base_model))
        return errf(err, errn, "%s: \"base_model_name_or_path\" must be a string of fewer than %zu bytes", path,
                    sizeof pc->base_model);
    pc->lora.rank = (int)rv;
    pc->lora.alpha = (float)(a ? a->valuedouble : 8);
    pc->lora.dropout = (float)(d ? d->valuedouble : 0);
    snprintf(pc->base_model, sizeof pc->base_model, "%s", cJSON_IsString(bm) ? bm->valuestring : "");
    return 0;
}

int peft_config_read(const char *path, PeftConfig *pc, char *err, size_t errn) {
    memset(pc, 0, sizeof *pc);
    cJSON *j = hf_json_read(path, err, errn);
    if (!j) return -1;
    int rc = !cJSON_IsObject(j) ? errf(err, errn, "%s: expected a JSON object", path)
             : refuse_unsupported(j, path, err, errn) || read_targets(j, &pc->lora.targets, path, err, errn) ||
                     read_numbers(j, pc, path, err, errn)
                 ? -1
                 : 0;
    cJSON_Delete(j);
    return rc;
}

int peft_config_write(const char *path, const PeftConfig *pc, char *err, size_t errn) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return errf(err, errn, "%s: out of memory", path);
    cJSON_AddStringToObject(j, "peft_type", "LORA");
    cJSON_AddStringToObject(j, "task_type", "CAUSAL_LM");
    if (pc->base_model[0]) cJSON_AddStringToObject(j, "base_model_name_or_path", pc->base_model);
    else cJSON_AddNullToObject(j, "base_model_name_or_path");
    cJSON_AddNumberToObject(j, "r", pc->lora.rank);
    cJSON_AddNumberToObject(j, "lora_alpha", hf_float_json(pc->lora.alpha));
    cJSON_AddNumberToObject(j, "lora_dropout", hf_float_json(pc->lora.dropout));
    cJSON *tm = cJSON_AddArrayToObject(j, "target_modules");
    for (int t = 0; t < LT_COUNT; t++)
        if (pc->lora.targets & (1u << t)) cJSON_AddItemToArray(tm, cJSON_CreateString(TARGETS[t].module));
    cJSON_AddStringToObject(j, "bias", "none");
    cJSON_AddBoolToObject(j, "fan_in_fan_out", 0);
    cJSON_AddBoolToObject(j, "use_dora", 0);
    cJSON_AddBoolToObject(j, "use_rslora", 0);
    cJSON_AddBoolToObject(j, "inference_mode", 1);
    int rc = hf_json_write(path, j, err, errn);
    cJSON_Delete(j);
    return rc;
}
