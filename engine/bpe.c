/* Byte-level BPE: tables, byte symbols, the derived id tables, accessors
 * and decoding (see bpe.h). Loading is in bpe_load.c, encoding in
 * bpe_encode.c, training in bpe_train.c, saving in bpe_save.c. */
#include "bpe_impl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"

/* ------------------------------------------------------------ hash tables */

static uint64_t hash_bytes(const char *s, size_t n) { /* FNV-1a */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static size_t strtab_probe(const StrTab *t, const char *s, size_t n) {
    size_t m = t->nslot - 1, i = hash_bytes(s, n) & m;
    for (;; i = (i + 1) & m) {
        int e = t->slot[i] - 1;
        if (e < 0 || ((size_t)t->klen[e] == n && !memcmp(t->key[e], s, n))) return i;
    }
}

int strtab_find(const StrTab *t, const char *s, size_t n) {
    if (!t->nslot) return -1;
    return t->slot[strtab_probe(t, s, n)] - 1;
}

static int strtab_grow(StrTab *t) {
    size_t ns = t->nslot ? 2 * t->nslot : 64;
    int *slot = calloc(ns, sizeof *slot);
    if (!slot) return -1;
    free(t->slot);
    t->slot = slot;
    t->nslot = ns;
    for (int e = 0; e < t->n; e++) t->slot[strtab_probe(t, t->key[e], (size_t)t->klen[e])] = e + 1;
    return 0;
}

static int strtab_reserve(StrTab *t) {
    if (t->n < t->cap) return 0;
    int cap = t->cap ? 2 * t->cap : 64;
    char **k = realloc(t->key, (size_t)cap * sizeof *k);
    if (!k) return -1;
    t->key = k;
    int *l = realloc(t->klen, (size_t)cap * sizeof *l);
    if (!l) return -1;
    t->klen = l;
    long *v = realloc(t->val, (size_t)cap * sizeof *v);
    if (!v) return -1;
    t->val = v;
    t->cap = cap;
    return 0;
}

int strtab_add(StrTab *t, const char *s, size_t n, long v, int *added) {
    if (added) *added = 0;
    if (n > (size_t)1 << 30) return -1;
    if ((size_t)(t->n + 1) * 2 >= t->nslot && strtab_grow(t)) return -1;
    size_t i = strtab_probe(t, s, n);
    if (t->slot[i]) return t->slot[i] - 1;
    if (strtab_reserve(t)) return -1;
    char *k = malloc(n + 1);
    if (!k) return -1;
    memcpy(k, s, n);
    k[n] = 0;
    t->key[t->n] = k;
    t->klen[t->n] = (int)n;
    t->val[t->n] = v;
    t->slot[i] = ++t->n;
    if (added) *added = 1;
    return t->n - 1;
}

void strtab_free(StrTab *t) {
    for (int e = 0; e < t->n; e++) free(t->key[e]);
    free(t->key);
    free(t->klen);
    free(t->val);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

static uint64_t pair_key(int a, int b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

static size_t pair_probe(const PairTab *t, uint64_t k) {
    size_t m = t->nslot - 1, i = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 17) & m;
    while (t->key[i] != PAIR_EMPTY && t->key[i] != k) i = (i + 1) & m;
    return i;
}

int pairtab_get(const PairTab *t, int a, int b) {
    if (!t->nslot) return -1;
    size_t i = pair_probe(t, pair_key(a, b));
    return t->key[i] == PAIR_EMPTY ? -1 : t->val[i];
}

static int pairtab_grow(PairTab *t) {
    size_t ns = t->nslot ? 2 * t->nslot : 64;
    uint64_t *key = malloc(ns * sizeof *key);
    int *val = malloc(ns * sizeof *val);
    if (!key || !val) { free(key); free(val); return -1; }
    memset(key, 0xff, ns * sizeof *key);
    PairTab nt = {key, val, ns, t->n};
    for (size_t i = 0; i < t->nslot; i++)
        if (t->key[i] != PAIR_EMPTY) {
            size_t j = pair_probe(&nt, t->key[i]);
            key[j] = t->key[i];
            val[j] = t->val[i];
        }
    free(t->key);
    free(t->val);
    *t = nt;
    return 0;
}

int *pairtab_put(PairTab *t, int a, int b, int v) {
    if ((t->n + 1) * 2 >= t->nslot && pairtab_grow(t)) return NULL;
    uint64_t k = pair_key(a, b);
    size_t i = pair_probe(t, k);
    if (t->key[i] == PAIR_EMPTY) {
        t->key[i] = k;
        t->val[i] = v;
        t->n++;
    }
    return &t->val[i];
}

void pairtab_free(PairTab *t) {
    free(t->key);
    free(t->val);
    memset(t, 0, sizeof *t);
}

/* ------------------------------------------------------------ byte symbols */

/* Printable bytes keep their code point; the other 68 get 256, 257, ... in
 * byte order (GPT-2's bytes_to_unicode). */
static int printable(int v) { return (v >= '!' && v <= '~') || (v >= 0xA1 && v <= 0xAC) || (v >= 0xAE && v <= 0xFF); }

int bpe_byte_cp(int v) {
    if (printable(v)) return v;
    if (v <= 0x20) return 256 + v;          /* 0x00..0x20: 256..288 */
    if (v >= 0x7F && v <= 0xA0) return 289 + (v - 0x7F); /* 289..322 */
    return 323;                             /* 0xAD */
}

int bpe_cp_byte(unsigned cp) {
    if (cp < 256) return printable((int)cp) ? (int)cp : -1;
    if (cp <= 288) return (int)cp - 256;
    if (cp <= 322) return 0x7F + ((int)cp - 289);
    return cp == 323 ? 0xAD : -1;
}

int bpe_byte_utf8(int v, char *out) {
    int cp = bpe_byte_cp(v);
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

int bpe_utf8_next(const unsigned char *s, size_t n, unsigned *cp) {
    unsigned c = s[0];
    int len;
    unsigned lo = 0x80, hi = 0xBF, v;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3; v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4; v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        unsigned d = s[i];
        if (d < (i == 1 ? lo : 0x80) || d > (i == 1 ? hi : 0xBF)) return 0;
        v = v << 6 | (d & 0x3F);
    }
    *cp = v;
    return len;
}

/* ------------------------------------------------------------------ regex */

/* Oniguruma's \s: the 25 White_Space characters of Unicode; PCRE2 10.42's
 * \s also takes U+180E, which Unicode 6.3 made a format character. */
#define ONIG_SPACES \
    "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

/* pat with \s written as ONIG_SPACES (a class of its own outside [...],
 * the ranges inside one) and \S outside a class as its complement; \S
 * inside a class, \Q...\E and POSIX [:name:] are copied as they are. NULL
 * when out of memory. */
static char *onig_spaces(const char *pat) {
    size_t n = strlen(pat), o = 0;
    char *out = malloc(n * (sizeof ONIG_SPACES + 3) + 1);
    if (!out) return NULL;
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < n && pat[i + 1] == 'Q') {
            const char *e = strstr(pat + i + 2, "\\E");
            size_t end = e ? (size_t)(e - pat) + 2 : n;
            memcpy(out + o, pat + i, end - i);
            o += end - i;
            i = end - 1;
        } else if (c == '\\' && i + 1 < n && (pat[i + 1] == 's' || (pat[i + 1] == 'S' && !in_class))) {
            const char *open = in_class ? "" : pat[i + 1] == 's' ? "[" : "[^";
            o += (size_t)sprintf(out + o, "%s%s%s", open, ONIG_SPACES, in_class ? "" : "]");
            i++;
        } else if (c == '\\' && i + 1 < n) {
            out[o++] = c;
            out[o++] = pat[++i];
        } else if (c == '[' && !in_class) {
            in_class = 1;
            out[o++] = c;
            if (i + 1 < n && pat[i + 1] == '^') out[o++] = pat[++i];
            if (i + 1 < n && pat[i + 1] == ']') out[o++] = pat[++i]; /* a literal ] first */
        } else if (c == '[' && in_class && i + 1 < n && pat[i + 1] == ':') {
            const char *e = strstr(pat + i + 2, ":]");
            size_t end = e ? (size_t)(e - pat) + 2 : i + 1;
            memcpy(out + o, pat + i, end - i);
            o += end - i;
            i = end - 1;
        } else {
            if (c == ']' && in_class) in_class = 0;
            out[o++] = c;
        }
    }
    out[o] = 0;
    return out;
}

/* s as a regex that matches it literally: every ASCII punctuation or space
 * escaped with a backslash (PCRE2_LITERAL refuses UCP). NULL when out of
 * memory. */
static char *quote(const char *s) {
    size_t o = 0;
    char *out = malloc(2 * strlen(s) + 1);
    if (!out) return NULL;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x80 && !isalnum(c)) out[o++] = '\\';
        out[o++] = (char)c;
    }
    out[o] = 0;
    return out;
}

pcre2_code *bpe_regex(const char *pattern, int literal, const char *what, char *err, size_t errn) {
    int ec;
    PCRE2_SIZE eo;
    uint32_t opt = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
    char *pat = literal ? quote(pattern) : onig_spaces(pattern);
    if (!pat) {
        errf(err, errn, "%s: out of memory", what);
        return NULL;
    }
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, opt, &ec, &eo, NULL);
    free(pat);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ec, msg, sizeof msg);
        errf(err, errn, "%s: the regex is refused by PCRE2: %s", what, (char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* without JIT the interpreter runs */
    return re;
}

/* ------------------------------------------------------- build and free */

Bpe *bpe_alloc(void) {
    Bpe *b = calloc(1, sizeof *b);
    if (b) b->unk_id = -1;
    return b;
}

void bpe_free(Bpe *b) {
    if (!b) return;
    strtab_free(&b->vocab);
    pairtab_free(&b->rank);
    free(b->merge);
    for (int i = 0; i < b->n_added; i++) free(b->added[i].content);
    free(b->added);
    for (int i = 0; i < b->n_steps; i++) {
        free(b->step[i].pattern);
        pcre2_code_free(b->step[i].re);
    }
    free(b->prefix);
    free(b->suffix);
    free(b->post_json);
    free(b->vocab_of);
    free(b->added_of);
    free(b->dec_off);
    free(b->dec);
    free(b->by_first);
    free(b);
}

int bpe_next_added_id(const Bpe *b, const char *content, size_t len) {
    for (int i = 0; i < b->n_added; i++)
        if ((size_t)b->added[i].len == len && !memcmp(b->added[i].content, content, len)) return b->added[i].id;
    int e = strtab_find(&b->vocab, content, len);
    if (e >= 0) return (int)b->vocab.val[e];
    int nv = b->vocab.n, max = -1;
    if (!b->n_added) return nv;
    for (int i = 0; i < b->n_added; i++)
        if (b->added[i].id > max) max = b->added[i].id;
    return (max >= nv || nv == 0) ? max + 1 : nv;
}

/* The ByteLevel decoding of token s[0..n) into out (n bytes at most):
 * the bytes of its characters when all are byte symbols, else s itself. */
static size_t decode_token(const char *s, size_t n, char *out) {
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        unsigned cp;
        int l = bpe_utf8_next((const unsigned char *)s + i, n - i, &cp);
        int v = l ? bpe_cp_byte(cp) : -1;
        if (v < 0) { memcpy(out, s, n); return n; }
        out[m++] = (char)v;
        i += (size_t)l;
    }
    return m;
}

/* id -> vocab entry and added token; -1 when id has a second token. */
static int fill_id_tables(Bpe *b, const char *name, char *err, size_t errn) {
    for (int i = 0; i < b->n_ids; i++) b->vocab_of[i] = b->added_of[i] = -1;
    for (int e = 0; e < b->vocab.n; e++) {
        int id = (int)b->vocab.val[e];
        if (b->vocab_of[id] >= 0)
            return errf(err, errn, "%s: model.vocab: id %d is given to \"%s\" and \"%s\"", name, id,
                        b->vocab.key[b->vocab_of[id]], b->vocab.key[e]);
        b->vocab_of[id] = e;
    }
    for (int a = 0; a < b->n_added; a++) {
        const BpeAdded *t = &b->added[a];
        int e = b->vocab_of[t->id];
        if (e >= 0 && (b->vocab.klen[e] != t->len || memcmp(b->vocab.key[e], t->content, (size_t)t->len)))
            return errf(err, errn, "%s: added token \"%s\" has id %d, which model.vocab gives to \"%s\"", name,
                        t->content, t->id, b->vocab.key[e]);
        if (b->added_of[t->id] >= 0)
            return errf(err, errn, "%s: added tokens \"%s\" and \"%s\" have the same id %d", name,
                        b->added[b->added_of[t->id]].content, t->content, t->id);
        b->added_of[t->id] = a;
    }
    return 0;
}

static int fill_decodings(Bpe *b) {
    size_t total = 0;
    for (int i = 0; i < b->n_ids; i++) {
        size_t len;
        if (bpe_token(b, i, &len)) total += len;
    }
    if (!(b->dec = malloc(total + 1))) return -1;
    size_t at = 0;
    for (int i = 0; i < b->n_ids; i++) {
        size_t len;
        const char *s = bpe_token(b, i, &len);
        b->dec_off[i] = at;
        if (s) at += decode_token(s, len, b->dec + at);
    }
    b->dec_off[b->n_ids] = at;
    return 0;
}

/* by_first and first_off: the added tokens grouped for find_added. */
static int added_key(const BpeAdded *a) { return (a->normalized ? 256 : 0) + (unsigned char)a->content[0]; }

static int index_added(Bpe *b) {
    if (!(b->by_first = malloc(((size_t)b->n_added + 1) * sizeof *b->by_first))) return -1;
    for (int i = 0; i < b->n_added; i++) b->by_first[i] = i;
    int *key = malloc(((size_t)b->n_added + 1) * sizeof *key);
    if (!key) return -1;
    /* counting sort on the key, then each bucket longest first (stable) */
    int count[513] = {0};
    for (int i = 0; i < b->n_added; i++) count[added_key(&b->added[i]) + 1]++;
    for (int k = 0; k < 512; k++) count[k + 1] += count[k];
    for (int p = 0; p < 2; p++)
        for (int c = 0; c <= 256; c++) b->first_off[p][c] = count[256 * p + c];
    for (int i = 0; i < b->n_added; i++) key[count[added_key(&b->added[i])]++] = i;
    for (int i = 1; i < b->n_added; i++) {
        int v = key[i], j = i;
        while (j > 0 && added_key(&b->added[key[j - 1]]) == added_key(&b->added[v]) &&
               b->added[key[j - 1]].len < b->added[v].len) {
            key[j] = key[j - 1];
            j--;
        }
        key[j] = v;
    }
    memcpy(b->by_first, key, (size_t)b->n_added * sizeof *key);
    free(key);
    return 0;
}

static int check_template(const Bpe *b, const int *ids, int n, const char *name, char *err, size_t errn) {
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= b->n_ids || !bpe_token(b, ids[i], NULL))
            return errf(err, errn, "%s: post_processor: the template names id %d, which no token has", name, ids[i]);
    return 0;
}

int bpe_finish(Bpe *b, const char *name, char *err, size_t errn) {
    if (!b->n_steps || b->step[b->n_steps - 1].kind != BPE_STEP_BYTELEVEL)
        return errf(err, errn, "%s: the pre-tokenizer must end with ByteLevel", name);
    int max = -1;
    for (int e = 0; e < b->vocab.n; e++)
        if (b->vocab.val[e] > max) max = (int)b->vocab.val[e];
    for (int a = 0; a < b->n_added; a++)
        if (b->added[a].id > max) max = b->added[a].id;
    b->n_ids = max + 1;
    size_t n = (size_t)b->n_ids + 1;
    if (!(b->vocab_of = malloc(n * sizeof *b->vocab_of)) || !(b->added_of = malloc(n * sizeof *b->added_of)) ||
        !(b->dec_off = malloc(n * sizeof *b->dec_off)))
        return errf(err, errn, "%s: out of memory", name);
    if (fill_id_tables(b, name, err, errn)) return -1;
    if (fill_decodings(b) || index_added(b)) return errf(err, errn, "%s: out of memory", name);
    for (int v = 0; v < 256; v++) {
        char s[2];
        int e = strtab_find(&b->vocab, s, (size_t)bpe_byte_utf8(v, s));
        b->byte_sym[v] = e < 0 ? -1 : (int)b->vocab.val[e];
    }
    if (check_template(b, b->prefix, b->n_prefix, name, err, errn) ||
        check_template(b, b->suffix, b->n_suffix, name, err, errn))
        return -1;
    return 0;
}

/* -------------------------------------------------------------- accessors */

int bpe_vocab_size(const Bpe *b) { return b->n_ids; }

int bpe_token_id(const Bpe *b, const char *s, size_t len) {
    for (int a = 0; a < b->n_added; a++)
        if ((size_t)b->added[a].len == len && !memcmp(b->added[a].content, s, len)) return b->added[a].id;
    int e = strtab_find(&b->vocab, s, len);
    return e < 0 ? -1 : (int)b->vocab.val[e];
}

const char *bpe_token(const Bpe *b, int id, size_t *len) {
    if (id < 0 || id >= b->n_ids) return NULL;
    const char *s = NULL;
    size_t n = 0;
    if (b->added_of[id] >= 0) {
        s = b->added[b->added_of[id]].content;
        n = (size_t)b->added[b->added_of[id]].len;
    } else if (b->vocab_of[id] >= 0) {
        s = b->vocab.key[b->vocab_of[id]];
        n = (size_t)b->vocab.klen[b->vocab_of[id]];
    }
    if (len) *len = n;
    return s;
}

int bpe_is_special(const Bpe *b, int id) {
    return id >= 0 && id < b->n_ids && b->added_of[id] >= 0 && b->added[b->added_of[id]].special;
}

void bpe_template(const Bpe *b, const int **prefix, int *n_prefix, const int **suffix, int *n_suffix) {
    if (prefix) *prefix = b->prefix;
    if (n_prefix) *n_prefix = b->n_prefix;
    if (suffix) *suffix = b->suffix;
    if (n_suffix) *n_suffix = b->n_suffix;
}

int bpe_n_merges(const Bpe *b) { return b->n_merges; }

int bpe_merge(const Bpe *b, int rank, int *a, int *c, int *made) {
    if (rank < 0 || rank >= b->n_merges) return -1;
    if (a) *a = b->merge[3 * rank];
    if (c) *c = b->merge[3 * rank + 1];
    if (made) *made = b->merge[3 * rank + 2];
    return 0;
}

/* ---------------------------------------------------------------- decode */

/* Output as snprintf: count every byte, store those that fit. */
typedef struct Sink { char *out; size_t cap, n; } Sink;

static void put(Sink *k, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++, k->n++)
        if (k->n + 1 < k->cap) k->out[k->n] = s[i];
}

/* Streaming String::from_utf8_lossy: each maximal subpart of an invalid
 * sequence becomes U+FFFD. pend holds the bytes of an unfinished sequence. */
typedef struct Lossy { unsigned char pend[4]; int npend, need; unsigned lo, hi; } Lossy;

static void lossy_flush(Lossy *z, Sink *k) {
    if (z->npend) put(k, "\xEF\xBF\xBD", 3);
    z->npend = 0;
}

static void lossy_byte(Lossy *z, Sink *k, unsigned char c) {
    if (z->npend) {
        if (c >= z->lo && c <= z->hi) {
            z->pend[z->npend++] = c;
            z->lo = 0x80, z->hi = 0xBF;
            if (z->npend == z->need) { put(k, (const char *)z->pend, (size_t)z->npend); z->npend = 0; }
            return;
        }
        lossy_flush(z, k);
    }
    z->lo = 0x80, z->hi = 0xBF;
    if (c < 0x80) { put(k, (const char *)&c, 1); return; }
    if (c >= 0xC2 && c <= 0xDF) z->need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        z->need = 3;
        if (c == 0xE0) z->lo = 0xA0;
        if (c == 0xED) z->hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        z->need = 4;
        if (c == 0xF0) z->lo = 0x90;
        if (c == 0xF4) z->hi = 0x8F;
    } else { put(k, "\xEF\xBF\xBD", 3); return; }
    z->pend[0] = c;
    z->npend = 1;
}

size_t bpe_decode(const Bpe *b, const int *ids, size_t n, int flags, char *out, size_t cap) {
    Sink k = {out, cap, 0};
    Lossy z = {{0}, 0, 0, 0x80, 0xBF};
    for (size_t i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= b->n_ids || !bpe_token(b, id, NULL)) continue;
        if ((flags & BPE_SKIP_SPECIAL) && bpe_is_special(b, id)) continue;
        const char *s = b->dec + b->dec_off[id];
        size_t len = b->dec_off[id + 1] - b->dec_off[id];
        if (flags & BPE_RAW_BYTES) put(&k, s, len);
        else
            for (size_t j = 0; j < len; j++) lossy_byte(&z, &k, (unsigned char)s[j]);
    }
    lossy_flush(&z, &k);
    if (cap) out[k.n < cap ? k.n : cap - 1] = 0;
    return k.n;
}
