/* BPE tokenizers of the tokenizer interface (tokenizer.h): the chat
 * template table, resolving the special tokens of a tokenizer.json (and
 * appending the missing ones), training, loading and saving. */
#include "tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "hash.h"
#include "hf_config.h"

/* One chat template: special tokens by content, framing sequences as text in
 * which special tokens are written by their content. */
typedef struct ChatTemplate {
    const char *name;
    const char *detect;            /* special token selecting the template; NULL: the default */
    const char *needs;             /* another special token the framing text names (required), or NULL */
    const char *bos, *eos, *pad;   /* pad: NULL or absent -> eos */
    const char *role[3];           /* single role tokens (system, user, assistant), or NULL */
    const char *system_open, *system_close, *user_open, *user_close, *assistant_open;
    const char *pred_fmt;          /* content of pred_i: pred_fmt with pred_base + i - 1 */
    int pred_base;
    int required;                  /* 1: bos, eos and detect must be in the file; 0: appended when missing */
} ChatTemplate;

#define LLAMA3_DATE "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"

static const ChatTemplate TEMPLATES[] = {
    {"llama3", "<|start_header_id|>", "<|end_header_id|>", "<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>",
     {NULL, NULL, NULL},
     "<|start_header_id|>system<|end_header_id|>\n\n" LLAMA3_DATE, "<|eot_id|>",
     "<|start_header_id|>user<|end_header_id|>\n\n", "<|eot_id|>",
     "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|reserved_special_token_%d|>", 0, 1},
    {"engine", NULL, NULL, "<|bos|>", "<|eos|>", "<|pad|>", {"<|system|>", "<|user|>", "<|assistant|>"},
     "<|system|>", "", "<|user|>", "", "<|assistant|>", "<|pred_%d|>", 1, 0},
};
#define ENGINE_TEMPLATE (&TEMPLATES[1])
#define NSPECIAL_MAX (6 + TOK_NPRED)

/* The id of special token s in b, or -1 when b has no special token s. */
static int special_id(const Bpe *b, const char *s) {
    int id = bpe_token_id(b, s, strlen(s));
    return id >= 0 && bpe_is_special(b, id) ? id : -1;
}

static const ChatTemplate *choose_template(const Bpe *b) {
    for (size_t i = 0; i < sizeof TEMPLATES / sizeof *TEMPLATES; i++)
        if (!TEMPLATES[i].detect || special_id(b, TEMPLATES[i].detect) >= 0) return &TEMPLATES[i];
    return ENGINE_TEMPLATE;
}

/* The contents of pred_1 .. pred_TOK_NPRED under ct for b (ct's own when b
 * has all of them, else the engine's) into buf (TOK_NPRED × 48 bytes). */
static void pred_contents(const Bpe *b, const ChatTemplate *ct, char buf[TOK_NPRED][48]) {
    int all = 1;
    for (int i = 0; i < TOK_NPRED; i++) {
        snprintf(buf[i], 48, ct->pred_fmt, ct->pred_base + i);
        all &= special_id(b, buf[i]) >= 0;
    }
    if (all) return;
    for (int i = 0; i < TOK_NPRED; i++) snprintf(buf[i], 48, ENGINE_TEMPLATE->pred_fmt, ENGINE_TEMPLATE->pred_base + i);
}

/* The special tokens ct needs that b lacks into miss (at most NSPECIAL_MAX;
 * pointers into preds or static strings); their count. */
static int missing_specials(const Bpe *b, const ChatTemplate *ct, char preds[TOK_NPRED][48], const char **miss) {
    int n = 0;
    const char *need[6] = {ct->bos, ct->eos, ct->pad, ct->role[0], ct->role[1], ct->role[2]};
    for (int i = 0; i < 6 && !ct->required; i++)
        if (need[i] && special_id(b, need[i]) < 0) miss[n++] = need[i];
    for (int i = 0; i < TOK_NPRED; i++)
        if (special_id(b, preds[i]) < 0) miss[n++] = preds[i];
    return n;
}

/* seq = the ids of framing text s (special tokens cut out). */
static int frame(const Bpe *b, const char *s, TokSeq *seq, const char *name, char *err, size_t errn) {
    int n = bpe_encode(b, s, strlen(s), 0, seq->id, TOK_SEQ_MAX, err, errn);
    if (n < 0) return -1;
    if (n > TOK_SEQ_MAX)
        return errf(err, errn, "%s: the chat template's framing text encodes to %d ids, more than %d", name, n,
                    TOK_SEQ_MAX);
    seq->n = n;
    return 0;
}

/* t's ids and framing sequences from b under ct (every special token present). */
static int fill(Bpe *b, const ChatTemplate *ct, char preds[TOK_NPRED][48], Tokenizer *t, const char *name, char *err,
                size_t errn) {
    memset(t, 0, sizeof *t);
    t->kind = TOKENIZER_BPE;
    t->chat = ct->name;
    t->bpe = b;
    t->vocab_size = bpe_vocab_size(b);
    t->bos = special_id(b, ct->bos);
    t->eos = special_id(b, ct->eos);
    t->pad = ct->pad && special_id(b, ct->pad) >= 0 ? special_id(b, ct->pad) : t->eos;
    int *role[3] = {&t->system, &t->user, &t->assistant};
    for (int i = 0; i < 3; i++) *role[i] = ct->role[i] ? special_id(b, ct->role[i]) : -1;
    t->npred = TOK_NPRED;
    for (int i = 0; i < TOK_NPRED; i++) t->pred[i] = special_id(b, preds[i]);
    if (t->bos < 0 || t->eos < 0 || (ct->needs && special_id(b, ct->needs) < 0))
        return errf(err, errn, "%s: the %s chat template needs the special tokens %s, %s%s%s", name, ct->name, ct->bos,
                    ct->eos, ct->needs ? " and " : "", ct->needs ? ct->needs : "");
    return frame(b, ct->system_open, &t->system_open, name, err, errn) ||
                   frame(b, ct->system_close, &t->system_close, name, err, errn) ||
                   frame(b, ct->user_open, &t->user_open, name, err, errn) ||
                   frame(b, ct->user_close, &t->user_close, name, err, errn) ||
                   frame(b, ct->assistant_open, &t->assistant_open, name, err, errn)
               ? -1
               : 0;
}

/* The JSON of file path with the special tokens miss[0..n) appended to its
 * added_tokens (each the id tokenizers gives it: its vocab id, else the next
 * free one), printed into *out (free). */
static int append_json(const char *path, const Bpe *b, const char *const *miss, int n, char **out, char *err,
                       size_t errn) {
    cJSON *j = hf_json_read(path, err, errn);
    if (!j) return -1;
    cJSON *added = cJSON_GetObjectItemCaseSensitive(j, "added_tokens");
    if (!cJSON_IsArray(added)) {
        cJSON_DeleteItemFromObjectCaseSensitive(j, "added_tokens");
        added = cJSON_AddArrayToObject(j, "added_tokens");
    }
    int next = bpe_vocab_size(b);
    for (int i = 0; i < n && added; i++) {
        int id = bpe_token_id(b, miss[i], strlen(miss[i]));
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", id >= 0 ? id : next++);
        cJSON_AddStringToObject(o, "content", miss[i]);
        cJSON_AddBoolToObject(o, "single_word", 0);
        cJSON_AddBoolToObject(o, "lstrip", 0);
        cJSON_AddBoolToObject(o, "rstrip", 0);
        cJSON_AddBoolToObject(o, "normalized", 0);
        cJSON_AddBoolToObject(o, "special", 1);
        cJSON_AddItemToArray(added, o);
    }
    *out = added ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return *out ? 0 : errf(err, errn, "%s: out of memory", path);
}

/* "appended N special tokens A .. B (ids X..Y)" into note. */
static void append_note(const char *path, const Bpe *b, const char *const *miss, int n, char *note, size_t notn) {
    if (!note || !notn) return;
    note[0] = 0;
    if (!n) return;
    int first = bpe_token_id(b, miss[0], strlen(miss[0])), last = bpe_token_id(b, miss[n - 1], strlen(miss[n - 1]));
    snprintf(note, notn, "%s: appended %d special token%s %s%s%s (ids %d..%d; model rows = mean of the existing rows)",
             path, n, n == 1 ? "" : "s", miss[0], n > 1 ? " .. " : "", n > 1 ? miss[n - 1] : "", first, last);
}

int tokenizer_load(const char *path, Tokenizer *t, char *note, size_t notn, char *err, size_t errn) {
    *t = tokenizer_byte();
    if (note && notn) note[0] = 0;
    char hex[65];
    Bpe *b = NULL;
    if (sha256_file(path, hex, err, errn) || bpe_load(path, &b, err, errn)) return -1;
    const ChatTemplate *ct = choose_template(b);
    char preds[TOK_NPRED][48];
    const char *miss[NSPECIAL_MAX];
    pred_contents(b, ct, preds);
    int n = missing_specials(b, ct, preds, miss);
    if (n > 0) {
        char *json = NULL;
        Bpe *b2 = NULL;
        int rc = append_json(path, b, miss, n, &json, err, errn) ||
                 bpe_load_json(json, strlen(json), path, &b2, err, errn);
        free(json);
        bpe_free(b);
        if (rc) return -1;
        b = b2;
        append_note(path, b, miss, n, note, notn);
    }
    if (fill(b, ct, preds, t, path, err, errn)) {
        bpe_free(b);
        *t = tokenizer_byte();
        return -1;
    }
    t->n_appended = n;
    snprintf(t->sha256, sizeof t->sha256, "%s", hex);
    return 0;
}

int tokenizer_train(const char *const *texts, size_t n, int n_merges, Tokenizer *t, char *err, size_t errn) {
    *t = tokenizer_byte();
    const ChatTemplate *ct = ENGINE_TEMPLATE;
    char preds[TOK_NPRED][48];
    const char *special[NSPECIAL_MAX] = {ct->bos, ct->eos, ct->pad, ct->role[0], ct->role[1], ct->role[2]};
    for (int i = 0; i < TOK_NPRED; i++) {
        snprintf(preds[i], sizeof preds[i], ct->pred_fmt, ct->pred_base + i);
        special[6 + i] = preds[i];
    }
    BpeTrainOpts o;
    bpe_train_defaults(&o);
    o.n_merges = n_merges;
    o.special = special;
    o.n_special = NSPECIAL_MAX;
    o.bos = 0;
    Bpe *b = NULL;
    if (bpe_train(texts, NULL, n, &o, &b, err, errn)) return -1;
    if (fill(b, ct, preds, t, "bpe_train", err, errn)) {
        bpe_free(b);
        *t = tokenizer_byte();
        return -1;
    }
    return 0;
}

int tokenizer_save(const Tokenizer *t, const char *path, char *err, size_t errn) {
    if (t->kind != TOKENIZER_BPE) return errf(err, errn, "%s: the byte tokenizer has no tokenizer.json", path);
    return bpe_save(t->bpe, path, err, errn);
}
