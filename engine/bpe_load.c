/* tokenizer.json -> Bpe (see bpe.h for what is accepted). Every key is
 * checked for its type before use, so a malformed file gives a message. */
#include "bpe_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "errmsg.h"
#include "hf_config.h"

/* ---------------------------------------------------------------- helpers */

static int absent(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return !v || cJSON_IsNull(v);
}

/* A boolean key: absent or null gives def. */
static int get_bool(const cJSON *o, const char *key, int def, int *out, const char *ctx, const char *name,
                    char *err, size_t errn) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) { *out = def; return 0; }
    if (!cJSON_IsBool(v)) return errf(err, errn, "%s: %s.%s: expected true or false", name, ctx, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* A boolean option that must be false (absent or null is fine). */
static int want_false(const cJSON *o, const char *key, const char *ctx, const char *name, char *err, size_t errn) {
    int v = 0;
    if (get_bool(o, key, 0, &v, ctx, name, err, errn)) return -1;
    if (v) return errf(err, errn, "%s: %s.%s: true is not supported (expected false)", name, ctx, key);
    return 0;
}

static const char *get_type(const cJSON *o) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* An integer id in [0, BPE_MAX_ID), or -1. */
static int as_id(const cJSON *v) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < 0 || d >= BPE_MAX_ID) return -1;
    return (int)d;
}

static int valid_utf8(const char *s, size_t n) {
    unsigned cp;
    for (size_t i = 0; i < n;) {
        int l = bpe_utf8_next((const unsigned char *)s + i, n - i, &cp);
        if (!l) return 0;
        i += (size_t)l;
    }
    return 1;
}

/* ------------------------------------------------------------------ model */

static int load_vocab(Bpe *b, const cJSON *v, const char *name, char *err, size_t errn) {
    if (!cJSON_IsObject(v)) return errf(err, errn, "%s: model.vocab: expected an object {token: id}", name);
    for (const cJSON *e = v->child; e; e = e->next) {
        const char *k = e->string ? e->string : "";
        size_t n = strlen(k);
        int id = as_id(e), added;
        if (id < 0)
            return errf(err, errn, "%s: model.vocab[\"%s\"]: expected an integer id in [0, %d)", name, k, BPE_MAX_ID);
        if (!n || !valid_utf8(k, n))
            return errf(err, errn, "%s: model.vocab: a token is empty or not valid UTF-8 (id %d)", name, id);
        if (strtab_add(&b->vocab, k, n, id, &added) < 0) return errf(err, errn, "%s: out of memory", name);
        if (!added) return errf(err, errn, "%s: model.vocab: token \"%s\" appears twice", name, k);
    }
    return 0;
}

/* The two token strings of merge i into a, c (pointers into m or a buffer). */
static int merge_parts(const cJSON *m, int i, char *buf, size_t bufn, const char **a, const char **c,
                       const char *name, char *err, size_t errn) {
    if (cJSON_IsString(m)) {
        const char *s = m->valuestring, *sp = strchr(s, ' ');
        size_t n = strlen(s);
        if (!sp || strchr(sp + 1, ' ') || n >= bufn)
            return errf(err, errn, "%s: model.merges[%d]: \"%s\" is not two tokens separated by one space", name,
                        i, s);
        memcpy(buf, s, n + 1);
        buf[sp - s] = 0;
        *a = buf;
        *c = buf + (sp - s) + 1;
        return 0;
    }
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
        cJSON_IsString(m->child->next)) {
        *a = m->child->valuestring;
        *c = m->child->next->valuestring;
        return 0;
    }
    return errf(err, errn, "%s: model.merges[%d]: expected \"a b\" or [\"a\", \"b\"]", name, i);
}

static int vocab_id(const Bpe *b, const char *s, size_t n) {
    int e = strtab_find(&b->vocab, s, n);
    return e < 0 ? -1 : (int)b->vocab.val[e];
}

static int load_merge(Bpe *b, const cJSON *m, int i, const char *name, char *err, size_t errn) {
    char buf[1024];
    const char *a = NULL, *c = NULL;
    if (merge_parts(m, i, buf, sizeof buf, &a, &c, name, err, errn)) return -1;
    size_t na = strlen(a), nc = strlen(c);
    int ia = vocab_id(b, a, na), ic = vocab_id(b, c, nc);
    if (ia < 0 || ic < 0)
        return errf(err, errn, "%s: model.merges[%d]: token \"%s\" is not in model.vocab", name, i, ia < 0 ? a : c);
    char *cat = malloc(na + nc + 1);
    if (!cat) return errf(err, errn, "%s: out of memory", name);
    memcpy(cat, a, na);
    memcpy(cat + na, c, nc);
    cat[na + nc] = 0;
    int made = vocab_id(b, cat, na + nc);
    if (made < 0)
        errf(err, errn, "%s: model.merges[%d]: \"%s\" + \"%s\" = \"%s\" is not in model.vocab", name, i, a, c, cat);
    free(cat);
    if (made < 0) return -1;
    int *r = pairtab_put(&b->rank, ia, ic, i);
    if (!r) return errf(err, errn, "%s: out of memory", name);
    *r = i; /* a repeated merge: the last rank counts, as in tokenizers */
    b->merge[3 * i] = ia, b->merge[3 * i + 1] = ic, b->merge[3 * i + 2] = made;
    return 0;
}

static int load_merges(Bpe *b, const cJSON *m, const char *name, char *err, size_t errn) {
    if (!cJSON_IsArray(m)) return errf(err, errn, "%s: model.merges: expected an array", name);
    int n = cJSON_GetArraySize(m), i = 0;
    if (n && !(b->merge = malloc((size_t)n * 3 * sizeof *b->merge))) return errf(err, errn, "%s: out of memory", name);
    b->n_merges = n;
    for (const cJSON *e = m->child; e; e = e->next, i++)
        if (load_merge(b, e, i, name, err, errn)) return -1;
    return 0;
}

/* null or "" (the same as no prefix / suffix). */
static int want_empty(const cJSON *o, const char *key, const char *name, char *err, size_t errn) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v) || (cJSON_IsString(v) && !v->valuestring[0])) return 0;
    return errf(err, errn, "%s: model.%s: only null is supported", name, key);
}

static int load_model_options(Bpe *b, const cJSON *m, const char *name, char *err, size_t errn) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "dropout");
    if (d && !cJSON_IsNull(d) && !(cJSON_IsNumber(d) && d->valuedouble == 0))
        return errf(err, errn, "%s: model.dropout: only null or 0 is supported", name);
    if (want_empty(m, "continuing_subword_prefix", name, err, errn) ||
        want_empty(m, "end_of_word_suffix", name, err, errn) ||
        want_false(m, "byte_fallback", "model", name, err, errn) ||
        get_bool(m, "fuse_unk", 0, &b->fuse_unk, "model", name, err, errn) ||
        get_bool(m, "ignore_merges", 0, &b->ignore_merges, "model", name, err, errn))
        return -1;
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(m, "unk_token");
    if (u && !cJSON_IsNull(u)) {
        if (!cJSON_IsString(u)) return errf(err, errn, "%s: model.unk_token: expected a string or null", name);
        if ((b->unk_id = vocab_id(b, u->valuestring, strlen(u->valuestring))) < 0)
            return errf(err, errn, "%s: model.unk_token \"%s\" is not in model.vocab", name, u->valuestring);
    }
    return 0;
}

static int load_model(Bpe *b, const cJSON *m, const char *name, char *err, size_t errn) {
    if (!cJSON_IsObject(m)) return errf(err, errn, "%s: model: expected an object", name);
    const char *t = get_type(m);
    if (!t || strcmp(t, "BPE"))
        return errf(err, errn, "%s: model.type: expected \"BPE\", got %s%s%s", name, t ? "\"" : "", t ? t : "none",
                    t ? "\"" : "");
    if (load_vocab(b, cJSON_GetObjectItemCaseSensitive(m, "vocab"), name, err, errn) ||
        load_merges(b, cJSON_GetObjectItemCaseSensitive(m, "merges"), name, err, errn))
        return -1;
    return load_model_options(b, m, name, err, errn);
}

/* ----------------------------------------------------------- added tokens */

static int load_added_one(Bpe *b, const cJSON *t, int i, const char *name, char *err, size_t errn) {
    char ctx[48];
    snprintf(ctx, sizeof ctx, "added_tokens[%d]", i);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(t, "content");
    int id = as_id(cJSON_GetObjectItemCaseSensitive(t, "id"));
    if (!cJSON_IsObject(t) || !cJSON_IsString(c) || id < 0)
        return errf(err, errn, "%s: %s: expected {\"id\": integer in [0, %d), \"content\": string, ...}", name, ctx,
                    BPE_MAX_ID);
    size_t n = strlen(c->valuestring);
    if (!n || !valid_utf8(c->valuestring, n))
        return errf(err, errn, "%s: %s: content is empty or not valid UTF-8", name, ctx);
    BpeAdded a = {NULL, (int)n, id, 0, 1};
    if (want_false(t, "single_word", ctx, name, err, errn) || want_false(t, "lstrip", ctx, name, err, errn) ||
        want_false(t, "rstrip", ctx, name, err, errn) || get_bool(t, "special", 0, &a.special, ctx, name, err, errn) ||
        get_bool(t, "normalized", 1, &a.normalized, ctx, name, err, errn))
        return -1;
    for (int k = 0; k < b->n_added; k++)
        if (b->added[k].len == a.len && !memcmp(b->added[k].content, c->valuestring, n))
            return errf(err, errn, "%s: %s: content \"%s\" appears twice", name, ctx, c->valuestring);
    int want = bpe_next_added_id(b, c->valuestring, n);
    if (want != id)
        return errf(err, errn,
                    "%s: %s: \"%s\" has id %d, but tokenizers gives it %d (its model.vocab id, else the id after "
                    "the vocabulary and the earlier added tokens)",
                    name, ctx, c->valuestring, id, want);
    if (!(a.content = malloc(n + 1))) return errf(err, errn, "%s: out of memory", name);
    memcpy(a.content, c->valuestring, n + 1);
    b->added[b->n_added++] = a;
    return 0;
}

static int load_added(Bpe *b, const cJSON *v, const char *name, char *err, size_t errn) {
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsArray(v)) return errf(err, errn, "%s: added_tokens: expected an array", name);
    int n = cJSON_GetArraySize(v), i = 0;
    if (n && !(b->added = calloc((size_t)n, sizeof *b->added))) return errf(err, errn, "%s: out of memory", name);
    for (const cJSON *t = v->child; t; t = t->next, i++)
        if (load_added_one(b, t, i, name, err, errn)) return -1;
    return 0;
}

/* ---------------------------------------------------------- pre-tokenizer */

static int load_split(BpeStep *s, const cJSON *o, const char *ctx, const char *name, char *err, size_t errn) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "pattern");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(p, "Regex");
    const cJSON *str = cJSON_GetObjectItemCaseSensitive(p, "String");
    const cJSON *beh = cJSON_GetObjectItemCaseSensitive(o, "behavior");
    const cJSON *pat = cJSON_IsString(re) ? re : str;
    if (!cJSON_IsObject(p) || !cJSON_IsString(pat))
        return errf(err, errn, "%s: %s.pattern: expected {\"Regex\": string} or {\"String\": string}", name, ctx);
    if (!cJSON_IsString(beh) || strcmp(beh->valuestring, "Isolated"))
        return errf(err, errn, "%s: %s.behavior: only \"Isolated\" is supported", name, ctx);
    if (want_false(o, "invert", ctx, name, err, errn)) return -1;
    s->kind = BPE_STEP_SPLIT;
    s->literal = pat == str;
    if (!(s->pattern = strdup(pat->valuestring))) return errf(err, errn, "%s: out of memory", name);
    char what[600];
    snprintf(what, sizeof what, "%s: %s.pattern", name, ctx);
    return (s->re = bpe_regex(s->pattern, s->literal, what, err, errn)) ? 0 : -1;
}

static int load_bytelevel(BpeStep *s, const cJSON *o, const char *ctx, const char *name, char *err, size_t errn) {
    s->kind = BPE_STEP_BYTELEVEL;
    if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(o, "add_prefix_space")))
        return errf(err, errn, "%s: %s.add_prefix_space: expected true or false", name, ctx);
    if (get_bool(o, "add_prefix_space", 0, &s->add_prefix_space, ctx, name, err, errn) ||
        get_bool(o, "use_regex", 1, &s->use_regex, ctx, name, err, errn) ||
        get_bool(o, "trim_offsets", 1, &s->trim_offsets, ctx, name, err, errn))
        return -1;
    char what[600];
    snprintf(what, sizeof what, "%s: %s (GPT-2 pattern)", name, ctx);
    if (s->use_regex && !(s->re = bpe_regex(BPE_PATTERN_GPT2, 0, what, err, errn))) return -1;
    return 0;
}

static int load_step(Bpe *b, const cJSON *o, const char *ctx, int last, const char *name, char *err, size_t errn) {
    const char *t = cJSON_IsObject(o) ? get_type(o) : NULL;
    if (b->n_steps == BPE_MAX_STEPS) return errf(err, errn, "%s: %s: more than %d steps", name, ctx, BPE_MAX_STEPS);
    BpeStep *s = &b->step[b->n_steps++];
    if (t && !strcmp(t, "Split") && !last) return load_split(s, o, ctx, name, err, errn);
    if (t && !strcmp(t, "ByteLevel") && last) return load_bytelevel(s, o, ctx, name, err, errn);
    return errf(err, errn, "%s: %s: type %s%s%s is not supported here (expected Split steps, then ByteLevel last)",
                name, ctx, t ? "\"" : "", t ? t : "none", t ? "\"" : "");
}

static int load_pre(Bpe *b, const cJSON *p, const char *name, char *err, size_t errn) {
    const char *t = cJSON_IsObject(p) ? get_type(p) : NULL;
    if (t && !strcmp(t, "Sequence")) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(l) || !l->child)
            return errf(err, errn, "%s: pre_tokenizer.pretokenizers: expected a non-empty array", name);
        b->pre_sequence = 1;
        int i = 0;
        for (const cJSON *s = l->child; s; s = s->next, i++) {
            char ctx[64];
            snprintf(ctx, sizeof ctx, "pre_tokenizer.pretokenizers[%d]", i);
            if (load_step(b, s, ctx, !s->next, name, err, errn)) return -1;
        }
        return 0;
    }
    if (t && !strcmp(t, "ByteLevel")) return load_step(b, p, "pre_tokenizer", 1, name, err, errn);
    return errf(err, errn, "%s: pre_tokenizer: expected ByteLevel or a Sequence of Split steps and ByteLevel", name);
}

/* --------------------------------------------------------- post-processor */

/* The ids of special token `key` of a TemplateProcessing appended to *ids. */
static int template_ids(const cJSON *sp, const char *key, int **ids, int *n, const char *name, char *err,
                        size_t errn) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(sp, key);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(e, "ids");
    if (!cJSON_IsArray(l))
        return errf(err, errn, "%s: post_processor.special_tokens[\"%s\"].ids: expected an array", name, key);
    for (const cJSON *v = l->child; v; v = v->next) {
        int id = as_id(v);
        int *r = realloc(*ids, (size_t)(*n + 1) * sizeof *r);
        if (!r) return errf(err, errn, "%s: out of memory", name);
        *ids = r;
        if (id < 0) return errf(err, errn, "%s: post_processor.special_tokens[\"%s\"]: a bad id", name, key);
        r[(*n)++] = id;
    }
    return 0;
}

static int load_template(Bpe *b, const cJSON *t, const char *name, char *err, size_t errn) {
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(t, "single");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(t, "special_tokens");
    int seen_a = 0;
    if (!cJSON_IsArray(single) || !cJSON_IsObject(sp))
        return errf(err, errn, "%s: post_processor: TemplateProcessing needs \"single\" and \"special_tokens\"", name);
    for (const cJSON *it = single->child; it; it = it->next) {
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
        const cJSON *sq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(st ? st : sq, "id");
        if (!cJSON_IsString(id) || (sq && (strcmp(id->valuestring, "A") || seen_a)))
            return errf(err, errn, "%s: post_processor.single: expected SpecialToken items and one Sequence A", name);
        if (sq) { seen_a = 1; continue; }
        if (template_ids(sp, id->valuestring, seen_a ? &b->suffix : &b->prefix, seen_a ? &b->n_suffix : &b->n_prefix,
                         name, err, errn))
            return -1;
    }
    if (!seen_a) return errf(err, errn, "%s: post_processor.single: no Sequence A", name);
    return 0;
}

static int load_post_one(Bpe *b, const cJSON *p, int *templates, const char *name, char *err, size_t errn) {
    const char *t = cJSON_IsObject(p) ? get_type(p) : NULL;
    if (t && !strcmp(t, "ByteLevel")) return 0; /* offsets only */
    if (t && !strcmp(t, "TemplateProcessing")) {
        if ((*templates)++) return errf(err, errn, "%s: post_processor: more than one TemplateProcessing", name);
        return load_template(b, p, name, err, errn);
    }
    return errf(err, errn, "%s: post_processor: type %s is not supported (expected ByteLevel, TemplateProcessing, "
                "a Sequence of those, or null)", name, t ? t : "none");
}

static int load_post(Bpe *b, const cJSON *p, const char *name, char *err, size_t errn) {
    if (!p || cJSON_IsNull(p)) return 0;
    const char *t = cJSON_IsObject(p) ? get_type(p) : NULL;
    int templates = 0;
    if (t && !strcmp(t, "Sequence")) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(p, "processors");
        if (!cJSON_IsArray(l)) return errf(err, errn, "%s: post_processor.processors: expected an array", name);
        for (const cJSON *s = l->child; s; s = s->next)
            if (load_post_one(b, s, &templates, name, err, errn)) return -1;
    } else if (load_post_one(b, p, &templates, name, err, errn))
        return -1;
    if (!(b->post_json = cJSON_PrintUnformatted(p))) return errf(err, errn, "%s: out of memory", name);
    return 0;
}

/* ------------------------------------------------------------------- file */

static int load_tree(Bpe *b, const cJSON *j, const char *name, char *err, size_t errn) {
    if (!cJSON_IsObject(j)) return errf(err, errn, "%s: expected a JSON object", name);
    const char *nulls[] = {"truncation", "padding", "normalizer"};
    for (size_t i = 0; i < sizeof nulls / sizeof *nulls; i++)
        if (!absent(j, nulls[i])) return errf(err, errn, "%s: %s: only null is supported", name, nulls[i]);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "decoder");
    const char *dt = cJSON_IsObject(d) ? get_type(d) : NULL;
    if (!dt || strcmp(dt, "ByteLevel")) return errf(err, errn, "%s: decoder: expected {\"type\": \"ByteLevel\"}", name);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
    if (!model) return errf(err, errn, "%s: no \"model\"", name);
    if (load_model(b, model, name, err, errn) ||
        load_added(b, cJSON_GetObjectItemCaseSensitive(j, "added_tokens"), name, err, errn) ||
        load_pre(b, cJSON_GetObjectItemCaseSensitive(j, "pre_tokenizer"), name, err, errn) ||
        load_post(b, cJSON_GetObjectItemCaseSensitive(j, "post_processor"), name, err, errn))
        return -1;
    return bpe_finish(b, name, err, errn);
}

static int load_from(const cJSON *j, const char *name, Bpe **out, char *err, size_t errn) {
    Bpe *b = bpe_alloc();
    *out = NULL;
    if (!b) return errf(err, errn, "%s: out of memory", name);
    if (load_tree(b, j, name, err, errn)) {
        bpe_free(b);
        return -1;
    }
    *out = b;
    return 0;
}

int bpe_load(const char *path, Bpe **out, char *err, size_t errn) {
    *out = NULL;
    cJSON *j = hf_json_read(path, err, errn);
    if (!j) return -1;
    int rc = load_from(j, path, out, err, errn);
    cJSON_Delete(j);
    return rc;
}

int bpe_load_json(const char *json, size_t len, const char *name, Bpe **out, char *err, size_t errn) {
    *out = NULL;
    char *buf = malloc(len + 1);
    if (!buf) return errf(err, errn, "%s: out of memory", name);
    memcpy(buf, json, len);
    buf[len] = 0;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, len + 1, NULL, 1);
    if (!j) {
        const char *e = cJSON_GetErrorPtr();
        long at = e && e >= buf && e <= buf + len ? (long)(e - buf) : -1;
        free(buf);
        return errf(err, errn, "%s: not valid JSON (near byte %ld)", name, at);
    }
    free(buf);
    int rc = load_from(j, name, out, err, errn);
    cJSON_Delete(j);
    return rc;
}
