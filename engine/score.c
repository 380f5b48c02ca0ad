/* Text scorers (exact, startswith, gsm8k, nq, nq_contains) and the
 * HellaSwag item parser: see score.h. */
#include "score.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"

/* --- stripping ----------------------------------------------------------- */

/* The span of s without surrounding ASCII white space: *b points into s. */
static void strip_span(const char *s, const char **b, size_t *n) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t k = strlen(s);
    while (k > 0 && isspace((unsigned char)s[k - 1])) k--;
    *b = s;
    *n = k;
}

/* The same on the n bytes at s. */
static void strip_span_n(const char *s, size_t n, const char **b, size_t *k) {
    while (n > 0 && isspace((unsigned char)*s)) { s++; n--; }
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    *b = s;
    *k = n;
}

/* --- exact, startswith ------------------------------------------------- */

int score_exact(const char *generated, const char *target, char *err, size_t errn) {
    (void)err; (void)errn;
    const char *g, *t;
    size_t gn, tn;
    strip_span(generated, &g, &gn);
    strip_span(target, &t, &tn);
    return gn == tn && memcmp(g, t, gn) == 0;
}

int score_startswith(const char *generated, const char *target, char *err, size_t errn) {
    (void)err; (void)errn;
    const char *g, *t;
    size_t gn, tn;
    strip_span(generated, &g, &gn);
    strip_span(target, &t, &tn);
    return gn >= tn && memcmp(g, t, tn) == 0;
}

/* --- gsm8k --------------------------------------------------------------- */

int gsm8k_answer(const char *text, size_t *off, size_t *len) {
    *off = *len = 0;
    const char *last = NULL;
    for (const char *p = strstr(text, "#### "); p; p = strstr(p + 1, "#### ")) last = p;
    if (!last) return 0;
    const char *a = last + 5, *eol = strchr(a, '\n');
    size_t n = eol ? (size_t)(eol - a) : strlen(a);
    const char *b;
    strip_span_n(a, n, &b, &n);
    if (n == 0) return 0;
    *off = (size_t)(b - text);
    *len = n;
    return 1;
}

int score_gsm8k(const char *generated, const char *target, char *err, size_t errn) {
    size_t go, gl, to, tl;
    if (!gsm8k_answer(target, &to, &tl))
        return errf(err, errn, "gsm8k: the target has no \"#### <answer>\" line");
    if (!gsm8k_answer(generated, &go, &gl)) return 0;
    return gl == tl && memcmp(generated + go, target + to, gl) == 0;
}

/* --- code points --------------------------------------------------------- */

/* Code points above this mark an invalid UTF-8 byte (MARK + byte): kept
 * as that byte, counted as a word character. */
#define CP_MARK 0x110000u

/* Decode one code point at s (n > 0 bytes left) into *cp; returns the bytes
 * used. Overlong forms, surrogates and truncated sequences are invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (k == 1) { *cp = c; return 1; }
    if (k == 0 || k > n) { *cp = CP_MARK + c; return 1; }
    uint32_t v = c & (0x7Fu >> k);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) { *cp = CP_MARK + c; return 1; }
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[k] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) { *cp = CP_MARK + c; return 1; }
    *cp = v;
    return k;
}

/* Append cp as UTF-8 at out; returns the bytes written. */
static size_t utf8_put(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp >= CP_MARK) { o[0] = (unsigned char)(cp - CP_MARK); return 1; }
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = (unsigned char)(0xC0 | cp >> 6); o[1] = (unsigned char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12); o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18); o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Python str.lower on the ranges of score.h (one code point to one code
 * point, never a longer UTF-8 encoding); other code points unchanged. */
static uint32_t lower_cp(uint32_t c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
    if (c >= 0x100 && c <= 0x17F) {
        if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17F) return c;
        if (c == 0x178) return 0xFF;
        int odd_upper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
        return ((c & 1) == (odd_upper ? 1u : 0u)) ? c + 1 : c;
    }
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 0x20;
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 0x25;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 0x3F;
    if (c >= 0x410 && c <= 0x42F) return c + 0x20;
    if (c >= 0x400 && c <= 0x40F) return c + 0x50;
    int even_upper = (c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x52F) ||
                     (c >= 0x1E00 && c <= 0x1E95) || (c >= 0x1EA0 && c <= 0x1EFF);
    if (even_upper) return (c & 1) ? c : c + 1;
    if (c >= 0x4C1 && c <= 0x4CE) return (c & 1) ? c + 1 : c;
    if (c == 0x4C0) return 0x4CF;
    if (c == 0x1E9E) return 0xDF;
    return c;
}

/* Python str.isspace. */
static int is_space_cp(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* A word character for \b (score.h, nq_normalize). */
static int is_word_cp(uint32_t c) {
    if (c < 0x80) return isalnum((int)c) || c == '_';
    if (c >= CP_MARK) return 1;
    if (is_space_cp(c) || (c >= 0x80 && c <= 0x9F)) return 0;
    if (c >= 0xA1 && c <= 0xBF)
        return c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 || c == 0xBA || (c >= 0xBC && c <= 0xBE);
    if (c == 0xD7 || c == 0xF7) return 0;
    if (c >= 0x300 && c <= 0x36F) return 0;
    if (c >= 0x2000 && c <= 0x206F) return 0;
    return 1;
}

/* --- NQ normalisation ---------------------------------------------------- */

/* Whether an article a, an, the starts at cp[i] with word boundaries on
 * both sides (the previous and next code points are not word characters);
 * returns its length or 0. */
static size_t article_at(const uint32_t *cp, size_t n, size_t i) {
    if (i > 0 && is_word_cp(cp[i - 1])) return 0;
    static const char *const art[3] = {"a", "an", "the"};
    for (int a = 0; a < 3; a++) {
        size_t k = strlen(art[a]), j = 0;
        while (j < k && i + j < n && cp[i + j] == (uint32_t)art[a][j]) j++;
        if (j == k && (i + k == n || !is_word_cp(cp[i + k]))) return k;
    }
    return 0;
}

/* Lowercase, drop ASCII punctuation, white space to ' ': the n bytes at s
 * into cp; returns the number of code points. */
static size_t nq_decode(const char *s, size_t n, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        i += utf8_next(u + i, n - i, &c);
        if (c < 0x80 && ispunct((int)c)) continue;
        cp[m++] = is_space_cp(c) ? ' ' : lower_cp(c);
    }
    return m;
}

/* nq_normalize of the n bytes at s. */
static char *nq_normalize_n(const char *s, size_t n) {
    uint32_t *cp = malloc((n + 1) * sizeof *cp), *ar = malloc((n + 1) * sizeof *ar);
    char *out = malloc(4 * n + 1);
    if (!cp || !ar || !out) { free(cp); free(ar); free(out); return NULL; }
    size_t m = nq_decode(s, n, cp), k = 0;
    for (size_t i = 0; i < m;) {
        size_t a = article_at(cp, m, i);
        if (a) { ar[k++] = ' '; i += a; }
        else ar[k++] = cp[i++];
    }
    size_t o = 0;
    int pending = 0;
    for (size_t i = 0; i < k; i++) {
        if (ar[i] == ' ') { pending = o > 0; continue; }
        if (pending) { out[o++] = ' '; pending = 0; }
        o += utf8_put(ar[i], out + o);
    }
    out[o] = 0;
    free(cp);
    free(ar);
    return out;
}

char *nq_normalize(const char *text) { return nq_normalize_n(text, strlen(text)); }

/* --- NQ-Open ------------------------------------------------------------- */

/* The next gold answer of target at *pos (bytes up to "; " or the end);
 * advances *pos past it and its separator. Returns 0 at the end. */
static int nq_next_gold(const char *t, size_t tn, size_t *pos, const char **a, size_t *an) {
    if (*pos > tn) return 0;
    const char *s = t + *pos, *e = s;
    while (e < t + tn && !(e[0] == ';' && e + 1 < t + tn && e[1] == ' ')) e++;
    *a = s;
    *an = (size_t)(e - s);
    *pos = (size_t)(e - t) + 2;
    return 1;
}

/* Check the target: non-empty and no empty answer. 0 or -1 with a message. */
static int nq_check_target(const char *t, size_t tn, char *err, size_t errn) {
    if (tn == 0) return errf(err, errn, "nq: empty target");
    size_t pos = 0, an, k = 0;
    const char *a, *b;
    while (nq_next_gold(t, tn, &pos, &a, &an)) {
        strip_span_n(a, an, &b, &an);
        if (an == 0) return errf(err, errn, "nq: gold answer %zu of \"%.*s\" is empty", k + 1, (int)tn, t);
        k++;
    }
    return 0;
}

/* Whether the normalised gold g occurs in the normalised text h as a run of
 * whole space-separated tokens. */
static int has_token_run(const char *h, const char *g) {
    size_t gn = strlen(g);
    if (gn == 0) return 0;
    for (const char *p = strstr(h, g); p; p = strstr(p + 1, g))
        if ((p == h || p[-1] == ' ') && (p[gn] == 0 || p[gn] == ' ')) return 1;
    return 0;
}

/* Shared loop of nq and nq_contains: gen_norm is the normalised generated
 * text; contains selects the token-run test instead of equality. */
static int nq_match(const char *gen_norm, const char *t, size_t tn, int contains, char *err, size_t errn) {
    size_t pos = 0, an;
    const char *a;
    while (nq_next_gold(t, tn, &pos, &a, &an)) {
        char *g = nq_normalize_n(a, an);
        if (!g) return errf(err, errn, "nq: out of memory");
        int hit = contains ? has_token_run(gen_norm, g) : strcmp(gen_norm, g) == 0;
        free(g);
        if (hit) return 1;
    }
    return 0;
}

int score_nq(const char *generated, const char *target, char *err, size_t errn) {
    const char *t, *g;
    size_t tn, gn;
    strip_span(target, &t, &tn);
    if (nq_check_target(t, tn, err, errn)) return -1;
    strip_span(generated, &g, &gn);
    const char *sep = strstr(g, "; ");
    if (sep && (size_t)(sep - g) + 2 <= gn) gn = (size_t)(sep - g);
    char *gen = nq_normalize_n(g, gn);
    if (!gen) return errf(err, errn, "nq: out of memory");
    int rc = nq_match(gen, t, tn, 0, err, errn);
    free(gen);
    return rc;
}

int score_nq_contains(const char *generated, const char *target, char *err, size_t errn) {
    const char *t;
    size_t tn;
    strip_span(target, &t, &tn);
    if (nq_check_target(t, tn, err, errn)) return -1;
    char *gen = nq_normalize(generated);
    if (!gen) return errf(err, errn, "nq_contains: out of memory");
    int rc = nq_match(gen, t, tn, 1, err, errn);
    free(gen);
    return rc;
}

/* --- the metric table ---------------------------------------------------- */

static const struct {
    const char *name;
    TextScorer fn;
} METRICS[] = {
    {"exact", score_exact},
    {"startswith", score_startswith},
    {"gsm8k", score_gsm8k},
    {"nq", score_nq},
    {"nq_contains", score_nq_contains},
};

#define N_METRICS ((int)(sizeof METRICS / sizeof METRICS[0]))

TextScorer text_metric_find(const char *name) {
    for (int i = 0; name && i < N_METRICS; i++)
        if (strcmp(METRICS[i].name, name) == 0) return METRICS[i].fn;
    return NULL;
}

/* --- HellaSwag ----------------------------------------------------------- */

/* Whether the n bytes at s are all ASCII white space. */
static int blank_n(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return 0;
    return 1;
}

/* Find the four markers in user: pos[k] = offset of "\n<L>) ". 0 or -1. */
static int hs_markers(const char *user, size_t pos[4], char *err, size_t errn) {
    for (int k = 0; k < 4; k++) {
        char m[5] = {'\n', (char)('A' + k), ')', ' ', 0};
        const char *p = strstr(user, m);
        if (!p) return errf(err, errn, "hellaswag: no \"%c) \" line", 'A' + k);
        if (strstr(p + 1, m)) return errf(err, errn, "hellaswag: more than one \"%c) \" line", 'A' + k);
        pos[k] = (size_t)(p - user);
        if (k > 0 && pos[k] < pos[k - 1])
            return errf(err, errn, "hellaswag: \"%c) \" comes before \"%c) \"", 'A' + k, 'A' + k - 1);
    }
    return 0;
}

int hellaswag_parse(const char *user, const char *assistant, HellaSwagItem *out, char *err, size_t errn) {
    memset(out, 0, sizeof *out);
    const char *g;
    size_t gn;
    strip_span(assistant, &g, &gn);
    if (gn != 1 || g[0] < 'A' || g[0] > 'D')
        return errf(err, errn, "hellaswag: the gold answer \"%.20s\" is not one of A, B, C, D", assistant);
    size_t pos[4], n = strlen(user);
    if (hs_markers(user, pos, err, errn)) return -1;
    if (blank_n(user, pos[0])) return errf(err, errn, "hellaswag: empty context");
    for (int k = 0; k < 4; k++) {
        size_t b = pos[k] + 4, e = k < 3 ? pos[k + 1] : n;
        if (blank_n(user + b, e - b)) return errf(err, errn, "hellaswag: ending %c is empty", 'A' + k);
    }
    char *buf = malloc(n + 1);
    if (!buf) return errf(err, errn, "hellaswag: out of memory");
    memcpy(buf, user, n + 1);
    for (int k = 0; k < 4; k++) {
        buf[pos[k]] = 0;
        out->endings[k] = buf + pos[k] + 4;
    }
    out->context = buf;
    out->gold = g[0] - 'A';
    out->buf = buf;
    return 0;
}

void hellaswag_item_free(HellaSwagItem *it) {
    if (!it) return;
    free(it->buf);
    memset(it, 0, sizeof *it);
}
