/* Encoding: added tokens, pre-tokenization, BPE merging (see bpe_encode in
 * bpe.h). Follows tokenizers' AddedVocabulary::extract_and_normalize,
 * Split / ByteLevel pre_tokenize and BPE::merge_word / Word::merge_all. */
#include "bpe_impl.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"

/* ------------------------------------------------------- pre-tokenization */

/* Regex splitting of the pre-tokenizer steps; calls fn on every final
 * piece (raw bytes, not yet byte symbols). */
typedef int (*PieceFn)(void *ctx, const char *s, size_t n);

typedef struct PreTok {
    const Bpe *b;
    pcre2_match_data *md;
    char *buf;      /* a piece with a space prepended: maxlen + 1 bytes */
    PieceFn fn;
    void *ctx;
    char *err;
    size_t errn;
} PreTok;

static int pre_step(PreTok *p, int k, const char *s, size_t n);

/* The next match of re in s[0..n) from off: 1 with [*ms, *me), 0 when none,
 * -1 on a PCRE2 error. Falls back from JIT to the interpreter when the JIT
 * stack is too small. */
static int next_match(PreTok *p, const pcre2_code *re, const char *s, size_t n, size_t off, size_t *ms, size_t *me) {
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, off, 0, p->md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) rc = pcre2_match(re, (PCRE2_SPTR)s, n, off, PCRE2_NO_JIT, p->md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return errf(p->err, p->errn, "bpe_encode: pre-tokenizer regex failed: %s", (char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

/* Feed a piece to step k (k < 0: to fn). Empty pieces vanish. */
static int feed(PreTok *p, int k, const char *s, size_t n) {
    if (!n) return 0;
    return k < 0 ? p->fn(p->ctx, s, n) : pre_step(p, k, s, n);
}

/* Split s[0..n) by re, behavior Isolated: each match and each stretch
 * between matches is a piece, in order, given to step k. After an empty
 * match the search moves on one character (Oniguruma's find_iter). */
static int split_isolated(PreTok *p, const pcre2_code *re, const char *s, size_t n, int k) {
    size_t prev = 0, off = 0, ms = 0, me = 0;
    while (off <= n) {
        int rc = next_match(p, re, s, n, off, &ms, &me);
        if (rc < 0) return -1;
        if (!rc) break;
        if ((rc = feed(p, k, s + prev, ms - prev)) || (rc = feed(p, k, s + ms, me - ms))) return rc;
        prev = me;
        if (me > ms) { off = me; continue; }
        if (me >= n) break;
        unsigned cp;
        int l = bpe_utf8_next((const unsigned char *)s + me, n - me, &cp);
        off = me + (size_t)(l ? l : 1);
    }
    return feed(p, k, s + prev, n - prev);
}

static int pre_step(PreTok *p, int k, const char *s, size_t n) {
    const BpeStep *st = &p->b->step[k];
    if (st->kind == BPE_STEP_SPLIT) return split_isolated(p, st->re, s, n, k + 1);
    if (st->add_prefix_space && s[0] != ' ') {
        p->buf[0] = ' ';
        memcpy(p->buf + 1, s, n);
        s = p->buf;
        n++;
    }
    if (st->use_regex) return split_isolated(p, st->re, s, n, -1);
    return p->fn(p->ctx, s, n);
}

static int pretok_init(PreTok *p, const Bpe *b, size_t maxlen, PieceFn fn, void *ctx, char *err, size_t errn) {
    memset(p, 0, sizeof *p);
    p->b = b, p->fn = fn, p->ctx = ctx, p->err = err, p->errn = errn;
    p->md = pcre2_match_data_create(1, NULL);
    p->buf = malloc(maxlen + 1);
    return p->md && p->buf ? 0 : -1;
}

static void pretok_free(PreTok *p) {
    pcre2_match_data_free(p->md);
    free(p->buf);
}

/* --------------------------------------------------------------- merging */

typedef struct Merge { int rank, pos, made; } Merge;

typedef struct Enc {
    const Bpe *b;
    int *ids;
    size_t cap, n;          /* ids written / counted */
    int *c, *prev, *next, *len; /* symbols of a piece: id, links, bytes (0: merged away) */
    Merge *heap;            /* min-heap on (rank, pos) */
    size_t nheap;
    char *sym;              /* the piece as byte symbols (ignore_merges) */
    PreTok pt;
} Enc;

static void emit(Enc *e, int id) {
    if (e->n < e->cap) e->ids[e->n] = id;
    e->n++;
}

static int merge_less(const Merge *x, const Merge *y) {
    return x->rank != y->rank ? x->rank < y->rank : x->pos < y->pos;
}

static void heap_push(Enc *e, Merge m) {
    size_t i = e->nheap++;
    while (i && merge_less(&m, &e->heap[(i - 1) / 2])) {
        e->heap[i] = e->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    e->heap[i] = m;
}

static Merge heap_pop(Enc *e) {
    Merge top = e->heap[0], last = e->heap[--e->nheap];
    size_t i = 0, n = e->nheap;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const Merge *best = &last;
        if (l < n && merge_less(&e->heap[l], best)) m = l, best = &e->heap[l];
        if (l + 1 < n && merge_less(&e->heap[l + 1], best)) m = l + 1;
        if (m == i) break;
        e->heap[i] = e->heap[m];
        i = m;
    }
    if (n) e->heap[i] = last;
    return top;
}

/* Queue the merge of symbols at pos and its next, if the pair has one. */
static void queue_pair(Enc *e, int pos) {
    int nx = e->next[pos];
    if (nx < 0) return;
    int r = pairtab_get(&e->b->rank, e->c[pos], e->c[nx]);
    if (r >= 0) heap_push(e, (Merge){r, pos, e->b->merge[3 * r + 2]});
}

/* Word::merge_all: lowest rank first, then leftmost; stale entries (a
 * symbol merged away, or a pair that now makes another token) skipped. */
static void merge_all(Enc *e, int ns) {
    const Bpe *b = e->b;
    e->nheap = 0;
    for (int i = 0; i + 1 < ns; i++) queue_pair(e, i);
    while (e->nheap) {
        Merge m = heap_pop(e);
        int pos = m.pos, nx = e->next[pos];
        if (!e->len[pos] || nx < 0) continue;
        int r = pairtab_get(&b->rank, e->c[pos], e->c[nx]);
        if (r < 0 || b->merge[3 * r + 2] != m.made) continue;
        e->c[pos] = m.made;
        e->len[pos] += e->len[nx];
        e->len[nx] = 0;
        e->next[pos] = e->next[nx];
        if (e->next[pos] >= 0) e->prev[e->next[pos]] = pos;
        if (e->prev[pos] >= 0) queue_pair(e, e->prev[pos]);
        queue_pair(e, pos);
    }
}

static int add_symbol(Enc *e, int ns, int id, int len) {
    e->c[ns] = id;
    e->len[ns] = len;
    e->prev[ns] = ns - 1;
    e->next[ns] = -1;
    if (ns) e->next[ns - 1] = ns;
    return ns + 1;
}

/* BPE::merge_word + tokenize of one piece of raw bytes. */
static int model_piece(void *ctx, const char *s, size_t n) {
    Enc *e = ctx;
    const Bpe *b = e->b;
    if (b->ignore_merges) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) m += (size_t)bpe_byte_utf8((unsigned char)s[i], e->sym + m);
        int v = strtab_find(&b->vocab, e->sym, m);
        if (v >= 0) { emit(e, (int)b->vocab.val[v]); return 0; }
    }
    int ns = 0, unk = 0; /* unk: bytes of a pending unknown run */
    for (size_t i = 0; i < n; i++) {
        int id = b->byte_sym[(unsigned char)s[i]];
        if (id >= 0) {
            if (unk) ns = add_symbol(e, ns, b->unk_id, unk), unk = 0;
            ns = add_symbol(e, ns, id, 1);
        } else if (b->unk_id >= 0) {
            if (unk && !b->fuse_unk) ns = add_symbol(e, ns, b->unk_id, unk), unk = 0;
            unk++;
        }
    }
    if (unk) ns = add_symbol(e, ns, b->unk_id, unk);
    merge_all(e, ns);
    for (int i = 0; i < ns; i++)
        if (e->len[i]) emit(e, e->c[i]);
    return 0;
}

/* --------------------------------------------------------- added tokens */

/* Leftmost-longest match in s[from..n) among the added tokens with
 * normalized == norm: 1 with *at and the token index *a, else 0. */
static int find_added(const Bpe *b, int norm, const char *s, size_t n, size_t from, size_t *at, int *a) {
    const int *off = b->first_off[norm];
    for (size_t i = from; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        for (int k = off[c]; k < off[c + 1]; k++) { /* longest first */
            const BpeAdded *t = &b->added[b->by_first[k]];
            if ((size_t)t->len <= n - i && !memcmp(t->content, s + i, (size_t)t->len)) {
                *at = i;
                *a = b->by_first[k];
                return 1;
            }
        }
    }
    return 0;
}

/* Pass norm (0: tokens not normalized, 1: normalized) over s[0..n): each
 * match is its token, the text between goes to the next pass, then to the
 * pre-tokenizer. A special match under BPE_SPECIAL_AS_TEXT stays text. */
static int split_added(Enc *e, int norm, int flags, const char *s, size_t n) {
    size_t start = 0, from = 0, at;
    int a;
    while (from < n && find_added(e->b, norm, s, n, from, &at, &a)) {
        const BpeAdded *t = &e->b->added[a];
        from = at + (size_t)t->len;
        if (t->special && (flags & BPE_SPECIAL_AS_TEXT)) continue;
        if (at > start && (norm ? pre_step(&e->pt, 0, s + start, at - start)
                                : split_added(e, 1, flags, s + start, at - start)))
            return -1;
        emit(e, t->id);
        start = from;
    }
    if (start == n) return 0;
    return norm ? pre_step(&e->pt, 0, s + start, n - start) : split_added(e, 1, flags, s + start, n - start);
}

/* ---------------------------------------------------------------- encode */

size_t bpe_encode_bound(const Bpe *b, size_t len) {
    int prefix_space = b->n_steps && b->step[b->n_steps - 1].add_prefix_space;
    return len * (prefix_space ? 2 : 1) + (size_t)b->n_prefix + (size_t)b->n_suffix;
}

static int enc_init(Enc *e, const Bpe *b, size_t len, int *ids, size_t cap, char *err, size_t errn) {
    memset(e, 0, sizeof *e);
    e->b = b, e->ids = ids, e->cap = ids ? cap : 0;
    size_t ns = len + 2;
    e->c = malloc(ns * sizeof *e->c);
    e->prev = malloc(ns * sizeof *e->prev);
    e->next = malloc(ns * sizeof *e->next);
    e->len = malloc(ns * sizeof *e->len);
    e->heap = malloc(3 * ns * sizeof *e->heap);
    e->sym = malloc(2 * ns);
    int bad = pretok_init(&e->pt, b, len + 1, model_piece, e, err, errn);
    return bad || !e->c || !e->prev || !e->next || !e->len || !e->heap || !e->sym ? -1 : 0;
}

static void enc_free(Enc *e) {
    free(e->c);
    free(e->prev);
    free(e->next);
    free(e->len);
    free(e->heap);
    free(e->sym);
    pretok_free(&e->pt);
}

int bpe_encode(const Bpe *b, const char *text, size_t len, int flags, int *ids, size_t cap, char *err,
               size_t errn) {
    if (len > INT_MAX / 2 - 64) return errf(err, errn, "bpe_encode: text of %zu bytes is too long", len);
    Enc e;
    if (enc_init(&e, b, len, ids, cap, err, errn)) {
        enc_free(&e);
        return errf(err, errn, "bpe_encode: out of memory");
    }
    int add = flags & BPE_ADD_SPECIAL;
    for (int i = 0; add && i < b->n_prefix; i++) emit(&e, b->prefix[i]);
    int rc = len ? split_added(&e, 0, flags, text, len) : 0;
    for (int i = 0; add && i < b->n_suffix; i++) emit(&e, b->suffix[i]);
    enc_free(&e);
    return rc ? -1 : (int)e.n;
}

/* ------------------------------------------------ pre-tokens for training */

int bpe_pretokenize(const Bpe *b, const char *text, size_t len, int (*fn)(void *, const char *, size_t), void *ctx,
                    char *err, size_t errn) {
    if (!len) return 0;
    PreTok p;
    if (pretok_init(&p, b, len + 1, fn, ctx, err, errn)) {
        pretok_free(&p);
        return errf(err, errn, "bpe_pretokenize: out of memory");
    }
    int rc = pre_step(&p, 0, text, len);
    pretok_free(&p);
    return rc;
}
