/* The tokenizer interface (tokenizer.h): the byte tokenizer, config values,
 * and encode / decode for both kinds. The BPE side (templates, loading,
 * training, saving) is tokenizer_bpe.c. */
#include "tokenizer.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "errmsg.h"

static const Tokenizer BYTE = {
    .kind = TOKENIZER_BYTE,
    .chat = "engine",
    .bpe = NULL,
    .vocab_size = TOK_VOCAB,
    .bos = TOK_BOS,
    .eos = TOK_EOS,
    .pad = TOK_PAD,
    .system = TOK_SYSTEM,
    .user = TOK_USER,
    .assistant = TOK_ASSISTANT,
    .npred = TOK_NPRED,
    .pred = {TOK_PRED1, TOK_PRED1 + 1, TOK_PRED1 + 2, TOK_PRED1 + 3, TOK_PRED1 + 4, TOK_PRED1 + 5, TOK_PRED1 + 6,
             TOK_PRED1 + 7, TOK_PRED1 + 8, TOK_PRED1 + 9, TOK_PRED1 + 10, TOK_PRED1 + 11, TOK_PRED1 + 12,
             TOK_PRED1 + 13, TOK_PRED1 + 14, TOK_PRED1 + 15},
    .system_open = {1, {TOK_SYSTEM}},
    .system_close = {0, {0}},
    .user_open = {1, {TOK_USER}},
    .user_close = {0, {0}},
    .assistant_open = {1, {TOK_ASSISTANT}},
    .n_appended = 0,
    .sha256 = "",
};

_Static_assert(TOK_NPRED == 16, "the byte tokenizer's pred table lists 16 ids");

Tokenizer tokenizer_byte(void) { return BYTE; }

const Tokenizer *tokenizer_byte_shared(void) { return &BYTE; }

const char *tokenizer_kind_name(const Tokenizer *t) { return t->kind == TOKENIZER_BPE ? "bpe" : "byte"; }

int tokenizer_spec(const char *value, int *merges, char *err, size_t errn) {
    if (merges) *merges = 0;
    if (!value || !*value) return errf(err, errn, "key 'tokenizer': empty (expected byte, bpe:N or a tokenizer.json path)");
    if (!strcmp(value, "byte")) return TOKSPEC_BYTE;
    if (strncmp(value, "bpe:", 4)) return TOKSPEC_FILE;
    const char *p = value + 4;
    long n = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9' && n <= TOK_MAX_MERGES; p++, digits++) n = n * 10 + (*p - '0');
    if (!digits || *p || n > TOK_MAX_MERGES)
        return errf(err, errn, "key 'tokenizer': '%.80s': expected bpe:N with N a whole number of merges in [0, %d]",
                    value, TOK_MAX_MERGES);
    if (merges) *merges = (int)n;
    return TOKSPEC_TRAIN;
}

int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int *ids, size_t cap, char *err, size_t errn) {
    if (t->kind == TOKENIZER_BPE)
        return bpe_encode(t->bpe, text, len, BPE_SPECIAL_AS_TEXT, ids, cap, err, errn);
    if (len > INT_MAX / 2 - 64) return errf(err, errn, "a text of %zu bytes is too long to encode", len);
    const unsigned char *p = (const unsigned char *)text;
    size_t m = len < cap ? len : cap;
    for (size_t i = 0; i < m; i++) ids[i] = p[i];
    return (int)len;
}

size_t tokenizer_encode_bound(const Tokenizer *t, size_t len) {
    return t->kind == TOKENIZER_BPE ? bpe_encode_bound(t->bpe, len) : len;
}

size_t tokenizer_decode(const Tokenizer *t, const int *ids, size_t n, char *out, size_t cap) {
    if (t->kind == TOKENIZER_BPE) return bpe_decode(t->bpe, ids, n, BPE_SKIP_SPECIAL | BPE_RAW_BYTES, out, cap);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= 256) continue;
        if (m + 1 < cap) out[m] = (char)ids[i];
        m++;
    }
    if (cap) out[m < cap ? m : cap - 1] = 0;
    return m;
}

void tokenizer_free(Tokenizer *t) {
    if (t->kind == TOKENIZER_BPE) bpe_free(t->bpe);
    *t = BYTE;
}
