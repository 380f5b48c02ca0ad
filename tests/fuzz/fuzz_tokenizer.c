/* libFuzzer target: Hugging Face tokenizer.json loading (engine/bpe_load.c, bpe.h) on any
 * bytes, then encoding and decoding with every tokenizer that loads.
 *
 * Input: the whole input is the tokenizer.json. It is loaded from memory (bpe_load_json,
 * named as the file) and from a file (bpe_load); both must give the same result and message,
 * and a refusal must name the file. A tokenizer that loads is checked:
 *   - ids and tokens agree (bpe_token_id(bpe_token(id)) == id) and every merge a + c -> made
 *     has token(made) == token(a) token(c);
 *   - on fixed texts, the 256 bytes, and the input itself (its first MAX_TEXT bytes), with and
 *     without BPE_SPECIAL_AS_TEXT and BPE_ADD_SPECIAL: the count is the same with any output
 *     capacity and within bpe_encode_bound, every id has a token, BPE_ADD_SPECIAL adds
 *     exactly the template, and decode(encode(s)) == s when
 *     byte-level BPE guarantees it (every byte has its byte symbol in the vocab and the added
 *     tokens that can match decode to their own text; with add_prefix_space, s plus inserted
 *     spaces); the lossy decoding is valid UTF-8, equal to s when s is;
 *   - decoding ids taken from the input (any value) gives valid UTF-8, and a short output
 *     buffer receives a prefix of the text;
 *   - bpe_save writes a file that bpe_load reads back into the same tokenizer: ids, tokens,
 *     merges, added tokens, options, pre-tokenizer steps, template and encodings.
 * tests/fuzz/make_corpus.py writes the seeds (tests/fuzz/corpus/fuzz_tokenizer/). */
#include "fuzz_common.h"

#include "bpe.h"
#include "bpe_impl.h" /* the vocab, added tokens and ByteLevel step: when a round trip holds */

#define MAX_TEXT 512          /* bytes of the input encoded as text */
#define MAX_IDS_CHECKED 4096  /* ids and merges checked one by one */
#define MAX_SAVE_IDS (1 << 16) /* save and reload tokenizers with at most this many ids */
#define NAME_MAX_LEN 600

#define TEXT(s) {s, sizeof(s) - 1}
static const struct { const char *s; size_t n; } TEXTS[] = {
    TEXT("Hello world! It's 2024, isn't it?"),
    TEXT("  two  spaces\n\ttab\r\nCRLF   \n"),
    TEXT("caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80 \xC2\xA0nbsp"),
    TEXT("bad \xFF\xFE utf8 \xC3 \xED\xA0\x80 \xF4\x90\x80\x80 end"),
    TEXT("<s>ab</s><|begin_of_text|>x<|eot_id|> a b ab"),
    TEXT("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    TEXT("a\0b\0\0 \x01\x7F"),
    TEXT(""),
};
#define NTEXTS (sizeof TEXTS / sizeof TEXTS[0])

/* ------------------------------------------------------------ references */

/* GPT-2's bytes_to_unicode, written out again here: printable bytes keep their code point,
 * the others get 256, 257, ... in byte order. The UTF-8 of byte v's symbol into out; its
 * length. */
static int symbol_utf8(int v, char *out) {
    static int cp[256], ready;
    if (!ready) {
        for (int c = 0, k = 0; c < 256; c++) {
            int keep = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
            cp[c] = keep ? c : 256 + k++;
        }
        ready = 1;
    }
    if (cp[v] < 0x80) {
        out[0] = (char)cp[v];
        return 1;
    }
    out[0] = (char)(0xC0 | cp[v] >> 6);
    out[1] = (char)(0x80 | (cp[v] & 0x3F));
    return 2;
}

/* Length of the UTF-8 sequence lead byte c starts (0: c cannot start one). */
static unsigned utf8_lead(unsigned c) {
    return c < 0x80 ? 1 : c < 0xC2 ? 0 : c <= 0xDF ? 2 : c <= 0xEF ? 3 : c <= 0xF4 ? 4 : 0;
}

/* Whether s[0..n) is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned len = utf8_lead(s[i]);
        if (!len || i + len > n) return 0;
        unsigned cp = len == 1 ? s[i] : s[i] & (0xFFu >> (len + 1));
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
        if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
        i += len;
    }
    return 1;
}

/* Whether d[0..dn) is s[0..sn) with spaces inserted (greedy matching finds such an
 * alignment whenever one exists). */
static int spaces_inserted(const char *d, size_t dn, const char *s, size_t sn) {
    size_t j = 0;
    for (size_t i = 0; i < dn; i++) {
        if (j < sn && d[i] == s[j]) j++;
        else if (d[i] != ' ') return 0;
    }
    return j == sn;
}

/* --------------------------------------------------------- the tokenizer */

/* What decides whether decode(encode(s)) gives s back. */
typedef struct Props {
    int all_bytes;         /* every byte's symbol is a token */
    int added_ok[2];       /* every added token ([0]), every non-special one ([1]) decodes to
                              its own content */
    int prefix_space;      /* the ByteLevel step adds a space before pieces */
} Props;

static Props props_of(const Bpe *b) {
    Props p = {1, {1, 1}, b->n_steps && b->step[b->n_steps - 1].add_prefix_space};
    for (int v = 0; v < 256; v++) {
        char s[2];
        p.all_bytes &= strtab_find(&b->vocab, s, (size_t)symbol_utf8(v, s)) >= 0; /* a vocab token */
    }
    for (int a = 0; a < b->n_added; a++) {
        const BpeAdded *t = &b->added[a];
        size_t n = bpe_decode(b, &t->id, 1, BPE_RAW_BYTES, NULL, 0);
        char *out = malloc(n + 1);
        FUZZ_CHECK(out && bpe_decode(b, &t->id, 1, BPE_RAW_BYTES, out, n + 1) == n);
        int self = n == (size_t)t->len && !memcmp(out, t->content, n);
        free(out);
        p.added_ok[0] &= self;
        if (!t->special) p.added_ok[1] &= self;
    }
    return p;
}

/* ids and tokens, merges and the template agree. */
static void check_tables(const Bpe *b) {
    int n = bpe_vocab_size(b);
    FUZZ_CHECK(n >= 0 && n <= BPE_MAX_ID);
    FUZZ_CHECK(!bpe_token(b, -1, NULL) && !bpe_token(b, n, NULL));
    for (int id = 0; id < n && id < MAX_IDS_CHECKED; id++) {
        size_t len = 0;
        const char *t = bpe_token(b, id, &len);
        FUZZ_CHECK(!t || (len > 0 && bpe_token_id(b, t, len) == id));
    }
    int m = bpe_n_merges(b), a, c, made;
    FUZZ_CHECK(m >= 0 && bpe_merge(b, -1, &a, &c, &made) == -1 && bpe_merge(b, m, &a, &c, &made) == -1);
    for (int r = 0; r < m && r < MAX_IDS_CHECKED; r++) {
        FUZZ_CHECK(bpe_merge(b, r, &a, &c, &made) == 0);
        size_t na, nc, nm;
        const char *ta = bpe_token(b, a, &na), *tc = bpe_token(b, c, &nc), *tm = bpe_token(b, made, &nm);
        FUZZ_CHECK(ta && tc && tm && nm == na + nc && !memcmp(tm, ta, na) && !memcmp(tm + na, tc, nc));
    }
    const int *pre, *suf;
    int npre, nsuf;
    bpe_template(b, &pre, &npre, &suf, &nsuf);
    for (int i = 0; i < npre; i++) FUZZ_CHECK(bpe_token(b, pre[i], NULL));
    for (int i = 0; i < nsuf; i++) FUZZ_CHECK(bpe_token(b, suf[i], NULL));
}

/* -------------------------------------------------------------- decoding */

/* Decode ids[0..n) with flags; check the length protocol (as snprintf), a short buffer
 * receiving a prefix, and valid UTF-8 unless BPE_RAW_BYTES. Returns the text (malloc) and
 * its length in *len. */
static char *decode_checked(const Bpe *b, const int *ids, size_t n, int flags, size_t *len) {
    size_t need = bpe_decode(b, ids, n, flags, NULL, 0);
    char *out = malloc(need + 1), *cut = malloc(need / 2 + 1);
    FUZZ_CHECK(out && cut);
    FUZZ_CHECK(bpe_decode(b, ids, n, flags, out, need + 1) == need && out[need] == 0);
    FUZZ_CHECK(bpe_decode(b, ids, n, flags, cut, need / 2 + 1) == need);
    FUZZ_CHECK(!memcmp(cut, out, need / 2) && cut[need / 2] == 0);
    free(cut);
    if (!(flags & BPE_RAW_BYTES)) FUZZ_CHECK(utf8_valid((const unsigned char *)out, need));
    *len = need;
    return out;
}

/* Ids made of the input's bytes, any value (negative, past the vocabulary, valid). */
static void decode_any(const Bpe *b, const uint8_t *data, size_t size) {
    int ids[64], n = 0, nv = bpe_vocab_size(b);
    for (size_t i = 0; i + 4 <= size && n < 64; i += 4 + (size / 256)) {
        uint32_t v;
        memcpy(&v, data + i, 4);
        ids[n++] = (v & 0x80000000u) ? (int)(v % ((uint32_t)nv + 8)) - 4 : (int)v;
    }
    for (int flags = 0; flags < 4; flags++) {
        size_t len;
        free(decode_checked(b, ids, (size_t)n, flags, &len));
    }
}

/* -------------------------------------------------------------- encoding */

/* Encode s[0..n) with flags, checking the count protocol. The ids (malloc) and their count;
 * NULL when PCRE2 refused the text (match limits), which is not a finding. */
static int *encode_checked(const Bpe *b, const char *s, size_t n, int flags, int *count) {
    char err[512] = "";
    size_t bound = bpe_encode_bound(b, n);
    int k = bpe_encode(b, s, n, flags, NULL, 0, err, sizeof err);
    if (k < 0) {
        FUZZ_CHECK(!strncmp(err, "bpe_encode: pre-tokenizer regex failed", 38));
        return NULL;
    }
    FUZZ_CHECK((size_t)k <= bound);
    int *ids = malloc((bound + 1) * sizeof *ids), *part = malloc((bound / 2 + 1) * sizeof *part);
    FUZZ_CHECK(ids && part);
    FUZZ_CHECK(bpe_encode(b, s, n, flags, ids, bound + 1, err, sizeof err) == k);
    FUZZ_CHECK(bpe_encode(b, s, n, flags, part, (size_t)k / 2, err, sizeof err) == k);
    FUZZ_CHECK(!memcmp(part, ids, (size_t)k / 2 * sizeof *ids));
    free(part);
    for (int i = 0; i < k; i++) FUZZ_CHECK(bpe_token(b, ids[i], NULL));
    *count = k;
    return ids;
}

/* decode(encode(s)) against s where byte-level BPE guarantees it (see the file comment). */
static void check_round_trip(const Bpe *b, const Props *p, const int *ids, int k, int flags, const char *s,
                             size_t n) {
    size_t raw_n, text_n;
    char *raw = decode_checked(b, ids, (size_t)k, BPE_RAW_BYTES, &raw_n);
    char *text = decode_checked(b, ids, (size_t)k, 0, &text_n);
    if (p->all_bytes && p->added_ok[(flags & BPE_SPECIAL_AS_TEXT) != 0]) {
        if (p->prefix_space) {
            FUZZ_CHECK(spaces_inserted(raw, raw_n, s, n));
        } else {
            FUZZ_CHECK(raw_n == n && !memcmp(raw, s, n));
            if (utf8_valid((const unsigned char *)s, n)) FUZZ_CHECK(text_n == n && !memcmp(text, s, n));
        }
    }
    free(raw);
    free(text);
}

/* Every check of one text (see the file comment). */
static void check_text(const Bpe *b, const Props *p, const char *s, size_t n) {
    const int *pre, *suf;
    int npre, nsuf;
    bpe_template(b, &pre, &npre, &suf, &nsuf);
    for (int as_text = 0; as_text < 2; as_text++) {
        int flags = as_text ? BPE_SPECIAL_AS_TEXT : 0, k, ks;
        int *ids = encode_checked(b, s, n, flags, &k);
        if (!ids) continue;
        int *with = encode_checked(b, s, n, flags | BPE_ADD_SPECIAL, &ks);
        FUZZ_CHECK(with && ks == npre + k + nsuf);
        FUZZ_CHECK(!npre || !memcmp(with, pre, (size_t)npre * sizeof *pre));
        FUZZ_CHECK(!memcmp(with + npre, ids, (size_t)k * sizeof *ids));
        FUZZ_CHECK(!nsuf || !memcmp(with + npre + k, suf, (size_t)nsuf * sizeof *suf));
        check_round_trip(b, p, ids, k, flags, s, n);
        free(with);
        free(ids);
    }
}

/* ------------------------------------------------------------ save, load */

/* Both tokenizers encode s[0..n) alike. */
static void same_encoding(const Bpe *x, const Bpe *y, const char *s, size_t n) {
    int kx, ky;
    int *ix = encode_checked(x, s, n, BPE_ADD_SPECIAL, &kx), *iy = encode_checked(y, s, n, BPE_ADD_SPECIAL, &ky);
    FUZZ_CHECK(!ix == !iy);
    if (ix) FUZZ_CHECK(kx == ky && !memcmp(ix, iy, (size_t)kx * sizeof *ix));
    free(ix);
    free(iy);
}

/* The added tokens of x and y: the same set (bpe_save writes them sorted by id). */
static int same_added(const Bpe *x, const Bpe *y) {
    if (x->n_added != y->n_added) return 0;
    for (int i = 0; i < x->n_added; i++) {
        const BpeAdded *a = &x->added[i];
        int found = 0;
        for (int j = 0; j < y->n_added && !found; j++) {
            const BpeAdded *c = &y->added[j];
            found = a->id == c->id && a->len == c->len && !memcmp(a->content, c->content, (size_t)a->len) &&
                    a->special == c->special && a->normalized == c->normalized;
        }
        if (!found) return 0;
    }
    return 1;
}

/* The options, pre-tokenizer steps and template of x and y agree. */
static int same_pipeline(const Bpe *x, const Bpe *y) {
    if (x->unk_id != y->unk_id || x->fuse_unk != y->fuse_unk || x->ignore_merges != y->ignore_merges ||
        x->n_steps != y->n_steps || x->pre_sequence != y->pre_sequence || x->n_prefix != y->n_prefix ||
        x->n_suffix != y->n_suffix)
        return 0;
    for (int i = 0; i < x->n_steps; i++) {
        const BpeStep *s = &x->step[i], *t = &y->step[i];
        if (s->kind != t->kind || s->literal != t->literal || s->add_prefix_space != t->add_prefix_space ||
            s->use_regex != t->use_regex || s->trim_offsets != t->trim_offsets || !s->pattern != !t->pattern ||
            (s->pattern && strcmp(s->pattern, t->pattern)))
            return 0;
    }
    return (!x->n_prefix || !memcmp(x->prefix, y->prefix, (size_t)x->n_prefix * sizeof *x->prefix)) &&
           (!x->n_suffix || !memcmp(x->suffix, y->suffix, (size_t)x->n_suffix * sizeof *x->suffix));
}

/* bpe_save, then bpe_load: the same tokenizer. */
static void check_save(const Bpe *b, const char *text, size_t n) {
    char path[NAME_MAX_LEN], err[1024] = "";
    snprintf(path, sizeof path, "%s/saved.json", fuzz_dir());
    FUZZ_CHECK(bpe_save(b, path, err, sizeof err) == 0);
    Bpe *r = NULL;
    if (bpe_load(path, &r, err, sizeof err)) {
        fprintf(stderr, "fuzz: the saved tokenizer does not load: %s\n", err);
        abort();
    }
    FUZZ_CHECK(bpe_vocab_size(r) == bpe_vocab_size(b) && bpe_n_merges(r) == bpe_n_merges(b));
    FUZZ_CHECK(same_added(b, r) && same_pipeline(b, r));
    for (int id = 0; id < bpe_vocab_size(b) && id < MAX_IDS_CHECKED; id++) {
        size_t lb = 0, lr = 0;
        const char *tb = bpe_token(b, id, &lb), *tr = bpe_token(r, id, &lr);
        FUZZ_CHECK(!tb == !tr && lb == lr && (!tb || !memcmp(tb, tr, lb)));
        FUZZ_CHECK(bpe_is_special(b, id) == bpe_is_special(r, id));
    }
    for (int k = 0; k < bpe_n_merges(b) && k < MAX_IDS_CHECKED; k++) {
        int mb[3], mr[3];
        bpe_merge(b, k, &mb[0], &mb[1], &mb[2]);
        bpe_merge(r, k, &mr[0], &mr[1], &mr[2]);
        FUZZ_CHECK(!memcmp(mb, mr, sizeof mb));
    }
    for (size_t i = 0; i < NTEXTS; i++) same_encoding(b, r, TEXTS[i].s, TEXTS[i].n);
    same_encoding(b, r, text, n);
    bpe_free(r);
}

/* ----------------------------------------------------------------- entry */

/* Load from memory and from a file: the same verdict and message. The tokenizer or NULL. */
static Bpe *load_both(const uint8_t *data, size_t size) {
    char path[NAME_MAX_LEN], em[1024] = "", ef[1024] = "";
    fuzz_write("tokenizer.json", data, size, path, sizeof path);
    Bpe *bm = (Bpe *)1, *bf = (Bpe *)1;
    int rm = bpe_load_json((const char *)data, size, path, &bm, em, sizeof em);
    int rf = bpe_load(path, &bf, ef, sizeof ef);
    FUZZ_CHECK(rm == rf && (rm == 0) == (bm != NULL) && (rf == 0) == (bf != NULL));
    bpe_free(bf);
    if (rm) {
        size_t pn = strlen(path);
        FUZZ_CHECK(!strcmp(em, ef) && !strncmp(em, path, pn) && em[pn] == ':'); /* errors name the file */
    }
    return bm;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Bpe *b = load_both(data, size);
    if (!b) return 0;
    check_tables(b);
    Props p = props_of(b);
    for (size_t i = 0; i < NTEXTS; i++) check_text(b, &p, TEXTS[i].s, TEXTS[i].n);
    char bytes[256]; /* every byte once */
    for (int v = 0; v < 256; v++) bytes[v] = (char)v;
    check_text(b, &p, bytes, sizeof bytes);
    size_t n = size < MAX_TEXT ? size : MAX_TEXT;
    check_text(b, &p, (const char *)data, n);
    decode_any(b, data, size);
    if (bpe_vocab_size(b) <= MAX_SAVE_IDS) check_save(b, (const char *)data, n);
    bpe_free(b);
    return 0;
}
