/* Byte-level BPE (engine/bpe.h) against ids and texts that Hugging Face
 * `tokenizers` produced (tests/fixtures/bpe, made by make_golden.py), its
 * trainer's vocabulary and merges, and malformed files. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "bpe.h"
#include "bpe_impl.h" /* bpe_pretokenize, to compare pre-token pieces */

#define FIX SOURCE_DIR "/tests/fixtures/bpe/"
#define MAXIDS 4096

static char g_err[1024];

static Bpe *load(const char *name) {
    Bpe *b = NULL;
    cr_assert_eq(bpe_load(name, &b, g_err, sizeof g_err), 0, "%s", g_err);
    cr_assert_not_null(b);
    return b;
}

/* Whole file as a NUL-terminated string (caller frees); *n its length. */
static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)len + 1);
    cr_assert_eq(fread(s, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    s[len] = 0;
    if (n) *n = (size_t)len;
    return s;
}

/* The JSON lines of a file, parsed (caller frees each and the array). */
static cJSON **read_lines(const char *path, int *n) {
    char *s = slurp(path, NULL), *save = NULL;
    cJSON **rows = NULL;
    *n = 0;
    for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        rows = realloc(rows, (size_t)(*n + 1) * sizeof *rows);
        rows[*n] = cJSON_Parse(line);
        cr_assert_not_null(rows[*n], "%s: line %d is not JSON", path, *n + 1);
        (*n)++;
    }
    free(s);
    return rows;
}

static void free_lines(cJSON **rows, int n) {
    for (int i = 0; i < n; i++) cJSON_Delete(rows[i]);
    free(rows);
}

static int json_ids(const cJSON *a, int *ids) {
    int n = 0;
    for (const cJSON *v = a ? a->child : NULL; v; v = v->next) ids[n++] = v->valueint;
    return n;
}

static int str_len(const cJSON *s) { return (int)strlen(s->valuestring); }

/* encode(text, flags) must be the ids of key. */
static void check_encode(const Bpe *b, const char *text, int flags, const cJSON *want, const char *what) {
    static int got[MAXIDS], exp[MAXIDS];
    int ne = json_ids(want, exp);
    int n = bpe_encode(b, text, strlen(text), flags, got, MAXIDS, g_err, sizeof g_err);
    cr_assert_geq(n, 0, "%s", g_err);
    cr_assert_leq((size_t)n, bpe_encode_bound(b, strlen(text)));
    int same = n == ne;
    for (int i = 0; same && i < n; i++) same = got[i] == exp[i];
    if (!same) {
        char g[512] = "", e[512] = "";
        for (int i = 0; i < n && i < 30; i++) snprintf(g + strlen(g), sizeof g - strlen(g), "%d ", got[i]);
        for (int i = 0; i < ne && i < 30; i++) snprintf(e + strlen(e), sizeof e - strlen(e), "%d ", exp[i]);
        cr_assert(0, "%s of \"%s\": got [%s] (%d), tokenizers [%s] (%d)", what, text, g, n, e, ne);
    }
}

static void check_decode(const Bpe *b, const cJSON *ids_j, int flags, const cJSON *want, const char *what) {
    static int ids[MAXIDS];
    static char out[4 * MAXIDS];
    int n = json_ids(ids_j, ids);
    size_t len = bpe_decode(b, ids, (size_t)n, flags, out, sizeof out);
    cr_assert_eq(len, strlen(want->valuestring), "%s: length %zu, tokenizers %d", what, len, str_len(want));
    cr_assert_str_eq(out, want->valuestring, "%s", what);
}

/* The pieces of the pre-tokenizer, as byte symbols, one after another. */
typedef struct Pieces { char s[512][320]; int n; } Pieces;

static int add_piece(void *ctx, const char *s, size_t n) {
    Pieces *p = ctx;
    cr_assert_lt(p->n, 512);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_lt(m + 3, sizeof p->s[0]);
        m += (size_t)bpe_byte_utf8((unsigned char)s[i], p->s[p->n] + m);
    }
    p->s[p->n++][m] = 0;
    return 0;
}

static void check_pieces(const Bpe *b, const char *text, const cJSON *want) {
    static Pieces p;
    p.n = 0;
    cr_assert_eq(bpe_pretokenize(b, text, strlen(text), add_piece, &p, g_err, sizeof g_err), 0, "%s", g_err);
    int k = 0;
    for (const cJSON *w = want->child; w; w = w->next, k++) {
        cr_assert_lt(k, p.n, "pieces of \"%s\": fewer than tokenizers' %d", text, cJSON_GetArraySize(want));
        cr_assert_str_eq(p.s[k], w->valuestring, "piece %d of \"%s\"", k, text);
    }
    cr_assert_eq(k, p.n, "pieces of \"%s\": %d, tokenizers %d", text, p.n, k);
}

/* Every golden line of fixture `name`; round: also decode(encode(s)) == s. */
static void check_golden(const char *name, int round) {
    char path[512], gpath[512];
    snprintf(path, sizeof path, FIX "%s.json", name);
    snprintf(gpath, sizeof gpath, FIX "%s.golden.jsonl", name);
    Bpe *b = load(path);
    int n, nenc = 0;
    cJSON **rows = read_lines(gpath, &n);
    for (int i = 0; i < n; i++) {
        const cJSON *r = rows[i], *t = cJSON_GetObjectItem(r, "text");
        if (!t) {
            check_decode(b, cJSON_GetObjectItem(r, "decode_ids"), 0, cJSON_GetObjectItem(r, "decoded"), "decode");
            continue;
        }
        const char *s = t->valuestring;
        nenc++;
        check_pieces(b, s, cJSON_GetObjectItem(r, "pieces"));
        check_encode(b, s, 0, cJSON_GetObjectItem(r, "ids"), "encode");
        check_encode(b, s, BPE_ADD_SPECIAL, cJSON_GetObjectItem(r, "ids_special"), "encode with special tokens");
        check_encode(b, s, BPE_SPECIAL_AS_TEXT, cJSON_GetObjectItem(r, "ids_as_text"), "encode special as text");
        check_decode(b, cJSON_GetObjectItem(r, "ids_special"), 0, cJSON_GetObjectItem(r, "decoded"), s);
        check_decode(b, cJSON_GetObjectItem(r, "ids_special"), BPE_SKIP_SPECIAL, cJSON_GetObjectItem(r, "decoded_skip"),
                     s);
        if (round) {
            static int ids[MAXIDS];
            static char out[4 * MAXIDS];
            int k = bpe_encode(b, s, strlen(s), BPE_SPECIAL_AS_TEXT, ids, MAXIDS, g_err, sizeof g_err);
            cr_assert_geq(k, 0);
            bpe_decode(b, ids, (size_t)k, 0, out, sizeof out);
            cr_assert_str_eq(out, s, "round trip");
        }
    }
    cr_assert_gt(nenc, 25, "%s: too few golden strings", gpath);
    free_lines(rows, n);
    bpe_free(b);
}

Test(bpe, golden_llama3) { check_golden("llama3_small", 1); }
Test(bpe, golden_gpt2) { check_golden("gpt2_small", 0); }
Test(bpe, golden_gpt2_prefix_space) { check_golden("gpt2_prefix", 0); }
Test(bpe, golden_literal_and_empty_matching_splits) { check_golden("splits", 1); }
Test(bpe, golden_handmade_ignore_merges) { check_golden("handmade", 0); }
Test(bpe, golden_handmade_merges_only) { check_golden("handmade_nim", 0); }

/* ------------------------------------------------------------ byte symbols */

Test(bpe, byte_symbols) {
    Bpe *b = load(FIX "llama3_small.json");
    /* Ġ is the space, Ċ the newline, ! stays, 0xAD is the last (U+0143). */
    const char *sym[] = {"\xC4\xA0", "\xC4\x8A", "!", "\xC5\x83", "\xC4\x80", "\xC3\xBF"};
    const char bytes[] = {' ', '\n', '!', (char)0xAD, 0, (char)0xFF};
    for (int i = 0; i < 6; i++) {
        int id = bpe_token_id(b, sym[i], strlen(sym[i]));
        cr_assert_geq(id, 0, "symbol %d", i);
        char out[8];
        cr_assert_eq(bpe_decode(b, &id, 1, BPE_RAW_BYTES, out, sizeof out), 1);
        cr_assert_eq(out[0], bytes[i], "symbol %d", i);
    }
    /* All 256 bytes decode from distinct ids (the map is a bijection). */
    int seen[256] = {0};
    for (int id = 0; id < 256; id++) {
        char out[8];
        cr_assert_eq(bpe_decode(b, &id, 1, BPE_RAW_BYTES, out, sizeof out), 1, "id %d", id);
        seen[(unsigned char)out[0]]++;
    }
    for (int v = 0; v < 256; v++) cr_assert_eq(seen[v], 1, "byte %d", v);
    bpe_free(b);
}

/* ------------------------------------------------------- the interface */

Test(bpe, accessors_and_template) {
    Bpe *b = load(FIX "llama3_small.json");
    cr_assert_eq(bpe_vocab_size(b), 661);
    cr_assert_eq(bpe_n_merges(b), 400);
    const char *bos = "<|begin_of_text|>";
    int id = bpe_token_id(b, bos, strlen(bos));
    cr_assert_eq(id, 656);
    size_t len;
    cr_assert_str_eq(bpe_token(b, 660, &len), "<|eot_id|>");
    cr_assert_eq(len, 10);
    cr_assert(bpe_is_special(b, 656));
    cr_assert_not(bpe_is_special(b, 100));
    cr_assert_null(bpe_token(b, 661, NULL));
    cr_assert_null(bpe_token(b, -1, NULL));
    const int *pre, *suf;
    int np, ns;
    bpe_template(b, &pre, &np, &suf, &ns);
    cr_assert_eq(np, 1);
    cr_assert_eq(pre[0], 656);
    cr_assert_eq(ns, 0);
    int a, c, made;
    cr_assert_eq(bpe_merge(b, 0, &a, &c, &made), 0);
    cr_assert_str_eq(bpe_token(b, made, NULL), "\xC4\xA0" "a"); /* Ġa: the first merge of the corpus */
    cr_assert_eq(bpe_merge(b, 400, &a, &c, &made), -1);
    bpe_free(b);

    b = load(FIX "handmade.json");
    bpe_template(b, &pre, &np, &suf, &ns);
    cr_assert_eq(np, 1);
    cr_assert_eq(ns, 1);
    cr_assert_str_eq(bpe_token(b, pre[0], NULL), "<s>");
    cr_assert_str_eq(bpe_token(b, suf[0], NULL), "</s>");
    bpe_free(b);
}

Test(bpe, output_capacity) {
    Bpe *b = load(FIX "llama3_small.json");
    const char *s = "hello world, 1234567 times";
    int all[64], few[3] = {-7, -7, -7};
    int n = bpe_encode(b, s, strlen(s), BPE_ADD_SPECIAL, all, 64, g_err, sizeof g_err);
    cr_assert_gt(n, 3);
    cr_assert_eq(bpe_encode(b, s, strlen(s), BPE_ADD_SPECIAL, few, 2, g_err, sizeof g_err), n);
    cr_assert_eq(few[0], all[0]);
    cr_assert_eq(few[1], all[1]);
    cr_assert_eq(few[2], -7, "wrote past cap");
    cr_assert_eq(bpe_encode(b, s, strlen(s), 0, NULL, 0, g_err, sizeof g_err), n - 1);
    char out[8];
    memset(out, 'x', sizeof out);
    cr_assert_eq(bpe_decode(b, all, (size_t)n, BPE_SKIP_SPECIAL, out, 6), strlen(s));
    cr_assert_str_eq(out, "hello");
    cr_assert_eq(out[6], 'x');
    cr_assert_eq(bpe_decode(b, all, (size_t)n, 0, NULL, 0), strlen(s) + strlen("<|begin_of_text|>"));
    bpe_free(b);
}

Test(bpe, bytes_that_are_not_utf8) {
    Bpe *b = load(FIX "llama3_small.json");
    const char s[] = "ok \xFF\xFE caf\xC3 \xE6\x97 end\x80";
    int ids[64];
    char out[128];
    int n = bpe_encode(b, s, sizeof s - 1, 0, ids, 64, g_err, sizeof g_err);
    cr_assert_gt(n, 0, "%s", g_err);
    cr_assert_eq(bpe_decode(b, ids, (size_t)n, BPE_RAW_BYTES, out, sizeof out), sizeof s - 1);
    cr_assert_eq(memcmp(out, s, sizeof s), 0);
    bpe_decode(b, ids, (size_t)n, 0, out, sizeof out);
    cr_assert_str_eq(out, "ok \xEF\xBF\xBD\xEF\xBF\xBD caf\xEF\xBF\xBD \xEF\xBF\xBD end\xEF\xBF\xBD");
    /* A NUL byte is text like any other. */
    const char z[] = "a\0b";
    n = bpe_encode(b, z, 3, 0, ids, 64, g_err, sizeof g_err);
    cr_assert_eq(bpe_decode(b, ids, (size_t)n, BPE_RAW_BYTES, out, sizeof out), 3);
    cr_assert_eq(memcmp(out, z, 3), 0);
    bpe_free(b);
}

Test(bpe, long_runs) {
    Bpe *b = load(FIX "llama3_small.json");
    size_t n = 200000;
    char *s = malloc(n + 1);
    int *ids = malloc((n + 8) * sizeof *ids);
    char *out = malloc(n + 1);
    const char fill[] = {' ', 'a', '\n', '7'};
    for (int k = 0; k < 4; k++) {
        memset(s, fill[k], n);
        s[n] = 0;
        s[n - 1] = 'x';
        int m = bpe_encode(b, s, n, 0, ids, n + 8, g_err, sizeof g_err);
        cr_assert_gt(m, 0, "%s", g_err);
        if (fill[k] != '7') cr_assert_lt(m, (int)n, "no merges on a run of '%c'", fill[k]);
        cr_assert_eq(bpe_decode(b, ids, (size_t)m, 0, out, n + 1), n);
        cr_assert_eq(memcmp(out, s, n), 0);
    }
    free(s);
    free(ids);
    free(out);
    bpe_free(b);
}

/* Encoding from several threads at once gives what one thread gives. */
typedef struct Job { const Bpe *b; const char *s; int ids[512], n; } Job;

static void *encode_job(void *arg) {
    Job *j = arg;
    char err[256];
    for (int r = 0; r < 50; r++)
        j->n = bpe_encode(j->b, j->s, strlen(j->s), BPE_ADD_SPECIAL, j->ids, 512, err, sizeof err);
    return NULL;
}

Test(bpe, threads) {
    Bpe *b = load(FIX "llama3_small.json");
    const char *texts[4] = {"lines with words with a vowel, 12345 times", "~((dog.*[0-9].*){3,})",
                            "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E <|eot_id|> caf\xC3\xA9", "  \t\n\n  trailing   "};
    Job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].b = b, jobs[i].s = texts[i];
        cr_assert_eq(pthread_create(&th[i], NULL, encode_job, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        int ids[512];
        int n = bpe_encode(b, texts[i], strlen(texts[i]), BPE_ADD_SPECIAL, ids, 512, g_err, sizeof g_err);
        cr_assert(n > 1 && n == jobs[i].n && !memcmp(ids, jobs[i].ids, (size_t)n * sizeof *ids), "text %d", i);
    }
    bpe_free(b);
}

/* -------------------------------------------------------------- training */

static char **corpus(int *n, size_t **lens) {
    cJSON **rows = read_lines(FIX "corpus.jsonl", n);
    char **t = malloc((size_t)*n * sizeof *t);
    *lens = malloc((size_t)*n * sizeof **lens);
    for (int i = 0; i < *n; i++) {
        t[i] = strdup(cJSON_GetObjectItem(rows[i], "text")->valuestring);
        (*lens)[i] = strlen(t[i]);
    }
    free_lines(rows, *n);
    return t;
}

static const char *const SPECIALS[] = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                       "<|end_header_id|>", "<|eot_id|>"};

static Bpe *train_llama(int n_merges) {
    int n;
    size_t *lens;
    char **texts = corpus(&n, &lens);
    BpeTrainOpts o;
    bpe_train_defaults(&o);
    o.n_merges = n_merges;
    o.special = SPECIALS;
    o.n_special = 5;
    o.bos = 0;
    Bpe *b = NULL;
    cr_assert_eq(bpe_train((const char *const *)texts, lens, (size_t)n, &o, &b, g_err, sizeof g_err), 0, "%s", g_err);
    for (int i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(lens);
    return b;
}

static void assert_same_model(const Bpe *x, const Bpe *y) {
    cr_assert_eq(bpe_vocab_size(x), bpe_vocab_size(y));
    for (int id = 0; id < bpe_vocab_size(x); id++) {
        size_t lx, ly;
        const char *tx = bpe_token(x, id, &lx), *ty = bpe_token(y, id, &ly);
        cr_assert(tx && ty && lx == ly && !memcmp(tx, ty, lx), "token %d: \"%s\" vs \"%s\"", id, tx ? tx : "(none)",
                  ty ? ty : "(none)");
        cr_assert_eq(bpe_is_special(x, id), bpe_is_special(y, id));
    }
    cr_assert_eq(bpe_n_merges(x), bpe_n_merges(y));
    for (int r = 0; r < bpe_n_merges(x); r++) {
        int a[3], b[3];
        bpe_merge(x, r, &a[0], &a[1], &a[2]);
        bpe_merge(y, r, &b[0], &b[1], &b[2]);
        cr_assert(a[0] == b[0] && a[1] == b[1] && a[2] == b[2], "merge %d: %s + %s vs %s + %s", r,
                  bpe_token(x, a[0], NULL), bpe_token(x, a[1], NULL), bpe_token(y, b[0], NULL),
                  bpe_token(y, b[1], NULL));
    }
    const int *px, *py;
    int nx, ny;
    bpe_template(x, &px, &nx, NULL, NULL);
    bpe_template(y, &py, &ny, NULL, NULL);
    cr_assert_eq(nx, ny);
    for (int i = 0; i < nx; i++) cr_assert_eq(px[i], py[i]);
}

/* The C trainer gives tokenizers' BpeTrainer result on the same corpus. */
Test(bpe, train_matches_tokenizers) {
    Bpe *ref = load(FIX "llama3_small.json");
    Bpe *b = train_llama(400);
    assert_same_model(b, ref);
    bpe_free(ref);
    bpe_free(b);
}

static void check_encodes_alike(const Bpe *x, const Bpe *y) {
    int n;
    size_t *lens;
    char **texts = corpus(&n, &lens);
    static int ix[MAXIDS], iy[MAXIDS];
    static char out[MAXIDS];
    for (int i = 0; i < n; i++) {
        int kx = bpe_encode(x, texts[i], lens[i], BPE_ADD_SPECIAL, ix, MAXIDS, g_err, sizeof g_err);
        int ky = bpe_encode(y, texts[i], lens[i], BPE_ADD_SPECIAL, iy, MAXIDS, g_err, sizeof g_err);
        cr_assert(kx > 0 && kx == ky && !memcmp(ix, iy, (size_t)kx * sizeof *ix), "text %d", i);
        bpe_decode(x, ix, (size_t)kx, BPE_SKIP_SPECIAL, out, sizeof out);
        cr_assert_str_eq(out, texts[i]);
        free(texts[i]);
    }
    free(texts);
    free(lens);
}

static char *tmp_path(void) {
    static char p[64];
    strcpy(p, "/tmp/test_bpe_XXXXXX");
    int fd = mkstemp(p);
    cr_assert_geq(fd, 0);
    close(fd);
    return p;
}

Test(bpe, train_is_deterministic_and_saves) {
    Bpe *x = train_llama(300), *y = train_llama(300);
    assert_same_model(x, y);
    char *p = tmp_path();
    cr_assert_eq(bpe_save(x, p, g_err, sizeof g_err), 0, "%s", g_err);
    Bpe *z = load(p);
    assert_same_model(x, z);
    check_encodes_alike(x, z);
    unlink(p);
    bpe_free(x);
    bpe_free(y);
    bpe_free(z);
}

Test(bpe, train_options) {
    int n;
    size_t *lens;
    char **texts = corpus(&n, &lens);
    BpeTrainOpts o;
    bpe_train_defaults(&o);
    Bpe *b = NULL;
    /* No merges: the 256 byte symbols in code point order, ! first. */
    o.n_merges = 0;
    cr_assert_eq(bpe_train((const char *const *)texts, lens, (size_t)n, &o, &b, g_err, sizeof g_err), 0, "%s", g_err);
    cr_assert_eq(bpe_vocab_size(b), 256);
    cr_assert_str_eq(bpe_token(b, 0, NULL), "!");
    cr_assert_str_eq(bpe_token(b, 255, NULL), "\xC5\x83");
    bpe_free(b);
    /* min_frequency stops early: few pairs occur 100 times. */
    o.n_merges = 1000;
    o.min_frequency = 100;
    cr_assert_eq(bpe_train((const char *const *)texts, lens, (size_t)n, &o, &b, g_err, sizeof g_err), 0);
    cr_assert_gt(bpe_n_merges(b), 0);
    cr_assert_lt(bpe_n_merges(b), 200);
    bpe_free(b);
    /* GPT-2 pre-tokenizer: " 1234567" stays one pre-token. */
    o.min_frequency = 0;
    o.gpt2 = 1;
    o.n_merges = 600;
    cr_assert_eq(bpe_train((const char *const *)texts, lens, (size_t)n, &o, &b, g_err, sizeof g_err), 0);
    int ids[16];
    const char *s = " 1234567";
    int k = bpe_encode(b, s, strlen(s), 0, ids, 16, g_err, sizeof g_err);
    cr_assert_eq(k, 1, "GPT-2 splits numbers only at non-digits");
    bpe_free(b);
    /* Bad options. */
    o.bos = 2;
    cr_assert_eq(bpe_train((const char *const *)texts, lens, (size_t)n, &o, &b, g_err, sizeof g_err), -1);
    cr_assert_null(b);
    cr_assert(strstr(g_err, "bos"), "%s", g_err);
    o.bos = -1;
    o.gpt2 = 0;
    o.pattern = "([a-z";
    cr_assert_eq(bpe_train((const char *const *)texts, lens, (size_t)n, &o, &b, g_err, sizeof g_err), -1);
    cr_assert(strstr(g_err, "PCRE2"), "%s", g_err);
    for (int i = 0; i < n; i++) free(texts[i]);
    free(texts);
    free(lens);
}

Test(bpe, saved_fixtures_reload_alike) {
    const char *names[] = {"llama3_small", "gpt2_small", "handmade"};
    for (int i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, FIX "%s.json", names[i]);
        Bpe *x = load(path);
        char *p = tmp_path();
        cr_assert_eq(bpe_save(x, p, g_err, sizeof g_err), 0, "%s", g_err);
        Bpe *y = load(p);
        assert_same_model(x, y);
        const char *s = "<a><b> abc x <s>ab</s> zzz 'll  <|eot_id|>\n\n 1234567 \xF0\x9F\x99\x82";
        int ix[256], iy[256];
        for (int f = 0; f < 4; f++) {
            int kx = bpe_encode(x, s, strlen(s), f, ix, 256, g_err, sizeof g_err);
            int ky = bpe_encode(y, s, strlen(s), f, iy, 256, g_err, sizeof g_err);
            cr_assert(kx == ky && !memcmp(ix, iy, (size_t)kx * sizeof *ix), "%s flags %d", names[i], f);
        }
        unlink(p);
        bpe_free(x);
        bpe_free(y);
    }
}

/* ---------------------------------------------------------------- errors */

/* A minimal valid file with `model`, `added` and `pre` spliced in. */
static char *doc(const char *model, const char *added, const char *pre, const char *post, const char *extra) {
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"version\":\"1.0\",\"added_tokens\":[%s],%s\"pre_tokenizer\":%s,\"post_processor\":%s,"
             "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":%s}",
             added, extra, pre, post, model);
    return buf;
}

#define VOCAB "{\"a\":0,\"b\":1,\"ab\":2,\"\\u0120\":3}"
#define BPE_OK "{\"type\":\"BPE\",\"vocab\":" VOCAB ",\"merges\":[\"a b\"]}"
#define PRE_OK "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}"
#define ADD_OK "{\"id\":4,\"content\":\"<s>\",\"special\":true,\"normalized\":false}"

static void expect_error(const char *json, const char *what) {
    Bpe *b = (Bpe *)1;
    g_err[0] = 0;
    cr_assert_eq(bpe_load_json(json, strlen(json), "t.json", &b, g_err, sizeof g_err), -1, "accepted: %s", json);
    cr_assert_null(b);
    cr_assert(strstr(g_err, "t.json") && strstr(g_err, what), "message \"%s\" lacks \"%s\"", g_err, what);
}

Test(bpe, minimal_file_loads) {
    Bpe *b = NULL;
    const char *j = doc(BPE_OK, ADD_OK, PRE_OK, "null", "");
    cr_assert_eq(bpe_load_json(j, strlen(j), "t.json", &b, g_err, sizeof g_err), 0, "%s", g_err);
    int ids[8];
    cr_assert_eq(bpe_encode(b, "ab<s> a", 7, 0, ids, 8, g_err, sizeof g_err), 4);
    cr_assert_eq(ids[0], 2);
    cr_assert_eq(ids[1], 4);
    cr_assert_eq(ids[2], 3);
    cr_assert_eq(ids[3], 0);
    bpe_free(b);
}

Test(bpe, malformed_model) {
    expect_error("{\"model\": ", "not valid JSON");
    expect_error("[1,2]", "expected a JSON object");
    expect_error(doc("{\"type\":\"WordPiece\",\"vocab\":" VOCAB "}", "", PRE_OK, "null", ""), "expected \"BPE\"");
    expect_error(doc("{\"vocab\":" VOCAB ",\"merges\":[]}", "", PRE_OK, "null", ""), "model.type");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":" VOCAB ",\"merges\":[\"a c\"]}", "", PRE_OK, "null", ""),
                 "token \"c\" is not in model.vocab");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":" VOCAB ",\"merges\":[[\"b\",\"a\"]]}", "", PRE_OK, "null", ""),
                 "\"ba\" is not in model.vocab");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":" VOCAB ",\"merges\":[\"ab\"]}", "", PRE_OK, "null", ""),
                 "merges[0]");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":" VOCAB ",\"merges\":[[\"a\",1]]}", "", PRE_OK, "null", ""),
                 "merges[0]");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":-1},\"merges\":[]}", "", PRE_OK, "null", ""),
                 "integer id");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1.5},\"merges\":[]}", "", PRE_OK, "null", ""),
                 "integer id");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":99999999},\"merges\":[]}", "", PRE_OK, "null", ""),
                 "integer id");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":\"1\"},\"merges\":[]}", "", PRE_OK, "null", ""),
                 "integer id");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]}", "", PRE_OK, "null", ""),
                 "id 0 is given to");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"a\":1},\"merges\":[]}", "", PRE_OK, "null", ""),
                 "appears twice");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":[],\"merges\":[]}", "", PRE_OK, "null", ""), "model.vocab");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":" VOCAB "}", "", PRE_OK, "null", ""), "model.merges");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":" VOCAB ",\"merges\":[],\"dropout\":0.1}", "", PRE_OK, "null", ""),
                 "dropout");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":" VOCAB ",\"merges\":[],\"byte_fallback\":true}", "", PRE_OK,
                     "null", ""),
                 "byte_fallback");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":" VOCAB ",\"merges\":[],\"continuing_subword_prefix\":\"##\"}", "",
                     PRE_OK, "null", ""),
                 "continuing_subword_prefix");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":" VOCAB ",\"merges\":[],\"unk_token\":\"<unk>\"}", "", PRE_OK,
                     "null", ""),
                 "unk_token");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":" VOCAB ",\"merges\":[],\"ignore_merges\":1}", "", PRE_OK, "null",
                     ""),
                 "ignore_merges");
    expect_error(doc("{\"type\":\"BPE\",\"vocab\":{\"a\\u00ff\\ud800\":0},\"merges\":[]}", "", PRE_OK, "null", ""),
                 "not valid JSON");
}

Test(bpe, malformed_added_tokens) {
    expect_error(doc(BPE_OK, "{\"id\":4,\"content\":\"<s>\",\"lstrip\":true}", PRE_OK, "null", ""), "lstrip");
    expect_error(doc(BPE_OK, "{\"id\":4,\"content\":\"<s>\",\"single_word\":true}", PRE_OK, "null", ""),
                 "single_word");
    expect_error(doc(BPE_OK, "{\"id\":4,\"content\":\"<s>\",\"rstrip\":true}", PRE_OK, "null", ""), "rstrip");
    expect_error(doc(BPE_OK, "{\"id\":9,\"content\":\"<s>\"}", PRE_OK, "null", ""), "tokenizers gives it 4");
    expect_error(doc(BPE_OK, "{\"id\":2,\"content\":\"<s>\"}", PRE_OK, "null", ""), "tokenizers gives it 4");
    expect_error(doc(BPE_OK, ADD_OK "," ADD_OK, PRE_OK, "null", ""), "appears twice");
    expect_error(doc(BPE_OK, "{\"id\":4,\"content\":\"\"}", PRE_OK, "null", ""), "empty");
    expect_error(doc(BPE_OK, "{\"content\":\"<s>\"}", PRE_OK, "null", ""), "added_tokens[0]");
    expect_error(doc(BPE_OK, "7", PRE_OK, "null", ""), "added_tokens[0]");
}

Test(bpe, malformed_pipeline) {
    expect_error(doc(BPE_OK, "", "null", "null", ""), "pre_tokenizer");
    expect_error(doc(BPE_OK, "", "{\"type\":\"Metaspace\"}", "null", ""), "pre_tokenizer");
    expect_error(doc(BPE_OK, "", "{\"type\":\"ByteLevel\",\"use_regex\":true}", "null", ""), "add_prefix_space");
    expect_error(doc(BPE_OK, "",
                     "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},"
                     "\"behavior\":\"Removed\"}," PRE_OK "]}",
                     "null", ""),
                 "Isolated");
    expect_error(doc(BPE_OK, "",
                     "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(a\"},"
                     "\"behavior\":\"Isolated\"}," PRE_OK "]}",
                     "null", ""),
                 "PCRE2");
    expect_error(doc(BPE_OK, "",
                     "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},"
                     "\"behavior\":\"Isolated\",\"invert\":true}," PRE_OK "]}",
                     "null", ""),
                 "invert");
    expect_error(doc(BPE_OK, "", "{\"type\":\"Sequence\",\"pretokenizers\":[" PRE_OK "," PRE_OK "]}", "null", ""),
                 "pretokenizers[0]");
    expect_error(doc(BPE_OK, "", "{\"type\":\"Sequence\",\"pretokenizers\":[]}", "null", ""), "non-empty");
    expect_error(doc(BPE_OK, "", PRE_OK, "{\"type\":\"RobertaProcessing\"}", ""), "RobertaProcessing");
    expect_error(doc(BPE_OK, ADD_OK, PRE_OK,
                     "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}}],"
                     "\"special_tokens\":{\"<s>\":{\"ids\":[4]}}}",
                     ""),
                 "no Sequence A");
    expect_error(doc(BPE_OK, ADD_OK, PRE_OK,
                     "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}},"
                     "{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{\"<s>\":{\"ids\":[40]}}}",
                     ""),
                 "id 40");
    expect_error(doc(BPE_OK, ADD_OK, PRE_OK,
                     "{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<x>\"}},"
                     "{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{}}",
                     ""),
                 "<x>");
    expect_error(doc(BPE_OK, "", PRE_OK, "null", "\"normalizer\":{\"type\":\"NFC\"},"), "normalizer");
    expect_error(doc(BPE_OK, "", PRE_OK, "null", "\"truncation\":{\"max_length\":5},"), "truncation");
    const char *nodec = "{\"model\":" BPE_OK ",\"pre_tokenizer\":" PRE_OK "}";
    expect_error(nodec, "decoder");
}

Test(bpe, missing_file) {
    Bpe *b = (Bpe *)1;
    cr_assert_eq(bpe_load("/nonexistent/tokenizer.json", &b, g_err, sizeof g_err), -1);
    cr_assert_null(b);
    cr_assert(strstr(g_err, "/nonexistent/tokenizer.json"), "%s", g_err);
}

/* Every prefix of a real file, and bytes flipped in it, give an error or a
 * working tokenizer, never a crash (run under SANITIZE=ON to see reads out
 * of bounds). */
Test(bpe, truncated_and_mutated_files) {
    size_t n;
    char *s = slurp(FIX "handmade.json", &n);
    for (size_t len = 0; len < n - 2; len += 7) {
        Bpe *b = NULL;
        cr_assert_eq(bpe_load_json(s, len, "cut.json", &b, g_err, sizeof g_err), -1, "prefix %zu accepted", len);
        cr_assert(strstr(g_err, "cut.json"));
    }
    unsigned x = 12345;
    int ok = 0;
    for (int trial = 0; trial < 400; trial++) {
        char *m = malloc(n);
        memcpy(m, s, n);
        for (int k = 0; k < 3; k++) {
            x = x * 1103515245u + 12345u;
            m[(x >> 8) % n] = "{}[]\",:0 9-e\\az\x80"[(x >> 20) % 17];
        }
        Bpe *b = NULL;
        if (bpe_load_json(m, n, "mut.json", &b, g_err, sizeof g_err) == 0) {
            int ids[64];
            char out[256];
            int k = bpe_encode(b, "abc <a><b> x\xC3\xA9", 13, BPE_ADD_SPECIAL, ids, 64, g_err, sizeof g_err);
            cr_assert_geq(k, 0);
            bpe_decode(b, ids, (size_t)(k < 64 ? k : 64), 0, out, sizeof out);
            bpe_free(b);
            ok++;
        } else
            cr_assert(strstr(g_err, "mut.json"), "%s", g_err);
        free(m);
    }
    cr_assert_gt(ok, 0, "no mutation kept a valid file");
    free(s);
}
