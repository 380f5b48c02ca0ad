/* Bpe -> tokenizer.json in the layout tokenizers 0.23 writes (see bpe_save
 * in bpe.h). */
#include "bpe_impl.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "errmsg.h"
#include "hf_config.h"

static cJSON *step_json(const BpeStep *s) {
    cJSON *o = cJSON_CreateObject();
    if (s->kind == BPE_STEP_SPLIT) {
        cJSON_AddStringToObject(o, "type", "Split");
        cJSON *p = cJSON_AddObjectToObject(o, "pattern");
        cJSON_AddStringToObject(p, s->literal ? "String" : "Regex", s->pattern);
        cJSON_AddStringToObject(o, "behavior", "Isolated");
        cJSON_AddBoolToObject(o, "invert", 0);
        return o;
    }
    cJSON_AddStringToObject(o, "type", "ByteLevel");
    cJSON_AddBoolToObject(o, "add_prefix_space", s->add_prefix_space);
    cJSON_AddBoolToObject(o, "trim_offsets", s->trim_offsets);
    cJSON_AddBoolToObject(o, "use_regex", s->use_regex);
    return o;
}

static cJSON *pre_json(const Bpe *b) {
    if (!b->pre_sequence) return step_json(&b->step[0]);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "Sequence");
    cJSON *l = cJSON_AddArrayToObject(o, "pretokenizers");
    for (int i = 0; i < b->n_steps; i++) cJSON_AddItemToArray(l, step_json(&b->step[i]));
    return o;
}

static int by_id(const void *x, const void *y) {
    return (*(const BpeAdded *const *)x)->id - (*(const BpeAdded *const *)y)->id;
}

/* Added tokens sorted by id, as tokenizers writes them. */
static cJSON *added_json(const Bpe *b) {
    cJSON *l = cJSON_CreateArray();
    const BpeAdded **s = malloc(((size_t)b->n_added + 1) * sizeof *s);
    if (!s) { cJSON_Delete(l); return NULL; }
    for (int i = 0; i < b->n_added; i++) s[i] = &b->added[i];
    qsort(s, (size_t)b->n_added, sizeof *s, by_id);
    for (int i = 0; i < b->n_added; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", s[i]->id);
        cJSON_AddStringToObject(o, "content", s[i]->content);
        cJSON_AddBoolToObject(o, "single_word", 0);
        cJSON_AddBoolToObject(o, "lstrip", 0);
        cJSON_AddBoolToObject(o, "rstrip", 0);
        cJSON_AddBoolToObject(o, "normalized", s[i]->normalized);
        cJSON_AddBoolToObject(o, "special", s[i]->special);
        cJSON_AddItemToArray(l, o);
    }
    free(s);
    return l;
}

static cJSON *model_json(const Bpe *b) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "type", "BPE");
    cJSON_AddNullToObject(m, "dropout");
    if (b->unk_id >= 0) cJSON_AddStringToObject(m, "unk_token", b->vocab.key[b->vocab_of[b->unk_id]]);
    else cJSON_AddNullToObject(m, "unk_token");
    cJSON_AddNullToObject(m, "continuing_subword_prefix");
    cJSON_AddNullToObject(m, "end_of_word_suffix");
    cJSON_AddBoolToObject(m, "fuse_unk", b->fuse_unk);
    cJSON_AddBoolToObject(m, "byte_fallback", 0);
    cJSON_AddBoolToObject(m, "ignore_merges", b->ignore_merges);
    cJSON *v = cJSON_AddObjectToObject(m, "vocab");
    for (int id = 0; id < b->n_ids; id++)
        if (b->vocab_of[id] >= 0) cJSON_AddNumberToObject(v, b->vocab.key[b->vocab_of[id]], id);
    cJSON *l = cJSON_AddArrayToObject(m, "merges");
    for (int r = 0; r < b->n_merges; r++) {
        const char *pair[2] = {b->vocab.key[b->vocab_of[b->merge[3 * r]]],
                               b->vocab.key[b->vocab_of[b->merge[3 * r + 1]]]};
        cJSON_AddItemToArray(l, cJSON_CreateStringArray(pair, 2));
    }
    return m;
}

static cJSON *tree(const Bpe *b) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "version", "1.0");
    cJSON_AddNullToObject(j, "truncation");
    cJSON_AddNullToObject(j, "padding");
    cJSON_AddItemToObject(j, "added_tokens", added_json(b));
    cJSON_AddNullToObject(j, "normalizer");
    cJSON_AddItemToObject(j, "pre_tokenizer", pre_json(b));
    cJSON_AddItemToObject(j, "post_processor", b->post_json ? cJSON_Parse(b->post_json) : cJSON_CreateNull());
    cJSON *d = cJSON_AddObjectToObject(j, "decoder");
    cJSON_AddStringToObject(d, "type", "ByteLevel");
    cJSON_AddBoolToObject(d, "add_prefix_space", 1);
    cJSON_AddBoolToObject(d, "trim_offsets", 1);
    cJSON_AddBoolToObject(d, "use_regex", 1);
    cJSON_AddItemToObject(j, "model", model_json(b));
    return j;
}

/* 1 when every part of the tree was allocated (cJSON_Add* return NULL, and
 * cJSON_AddItemToObject refuses a NULL item, when out of memory). */
static int complete(const cJSON *j, const Bpe *b) {
    const char *keys[] = {"added_tokens", "pre_tokenizer", "post_processor", "decoder", "model"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!cJSON_GetObjectItemCaseSensitive(j, keys[i])) return 0;
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "model");
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m, "vocab")) == b->vocab.n &&
           cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m, "merges")) == b->n_merges &&
           cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "added_tokens")) == b->n_added;
}

int bpe_save(const Bpe *b, const char *path, char *err, size_t errn) {
    cJSON *j = tree(b);
    if (!j || !complete(j, b)) {
        cJSON_Delete(j);
        return errf(err, errn, "%s: out of memory", path);
    }
    int rc = hf_json_write(path, j, err, errn);
    cJSON_Delete(j);
    return rc;
}
