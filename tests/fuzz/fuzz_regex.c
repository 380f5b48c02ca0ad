/* libFuzzer target: the NL-RX regex dialect (engine/regex_nlrx.h: nlrx_parse, nlrx_check,
 * nlrx_build) on any text, in process. nlrx_dfa_equiv forks a child per comparison, so it is
 * not called here; its parts are: parsing, and building and comparing automata under a small
 * state limit (MAX_STATES: a single libfa operation on operands of at most S states makes at
 * most about S 2^S, which stays cheap).
 *
 * Input: the regex text (it ends at the first NUL; longer than NLRX_MAX_LEN is refused).
 *   - Parsing: a refusal says where ("at position P" with P within the text) or that the
 *     text is too long, and leaves the regex empty; both readings of \b accept the same texts
 *     (the same tree when the text has no \b); nlrx_check agrees; a parsed tree is well
 *     formed (operands before their users, counts in range) and "(" text ")" parses to the
 *     same tree unless that nests too deeply (or the text starts with ')').
 *   - Building (texts up to MAX_BUILD_LEN bytes): never a defect (NLRX_BUILD_INTERNAL) or
 *     out of memory. The automaton accepts exactly the strings the syntax tree denotes
 *     (every substring of probe strings is checked against a matcher that evaluates the tree
 *     directly, repetition, intersection and complement included); the probes are libfa's
 *     examples of the language and of its complement, the text itself and strings of its
 *     characters. Against a fixed regex F: fa_equals agrees with the examples of L - F and
 *     F - L, which the tree matcher must place on the right side. The reading of \b as the
 *     empty string is built and checked too when the text has a \b. */
#include "fuzz_common.h"

#include <fa.h>

#include "regex_nlrx.h"

#define MAX_INPUT (NLRX_MAX_LEN + 64) /* bytes parsed (past NLRX_MAX_LEN: the length error) */
#define MAX_BUILD_LEN 256              /* longest text built as an automaton */
#define MAX_STATES 12                  /* state limit of every intermediate automaton */
#define BUILD_SECONDS 1.0              /* CPU time for one build */
#define MAXW 40                        /* longest probe string */
#define FIXED "(([0-9])|(.)).*([AEIOUaeiou]).*" /* F: a target of data/synth_test.jsonl */

/* --------------------------------------------------------------- parsing */

/* A parsed tree is well formed. */
static void check_tree(const NlrxRegex *r) {
    FUZZ_CHECK(r->n >= 1 && r->n <= r->cap && r->root >= 0 && r->root < r->n);
    for (int i = 0; i < r->n; i++) {
        const NlrxNode *x = &r->node[i];
        int binary = x->kind == NLRX_CONCAT || x->kind == NLRX_UNION || x->kind == NLRX_INTER;
        int unary = x->kind == NLRX_COMPL || x->kind == NLRX_REPEAT;
        FUZZ_CHECK(x->kind >= NLRX_EMPTYSET && x->kind <= NLRX_REPEAT);
        if (binary || unary) FUZZ_CHECK(x->a >= 0 && x->a < i);
        if (binary) FUZZ_CHECK(x->b >= 0 && x->b < i);
        if (x->kind == NLRX_REPEAT) FUZZ_CHECK(x->min >= 0 && x->max >= -1);
    }
}

static int same_tree(const NlrxRegex *x, const NlrxRegex *y) {
    return x->n == y->n && x->root == y->root && !memcmp(x->node, y->node, (size_t)x->n * sizeof *x->node);
}

/* nlrx_parse with the checks of a refusal; 0 or -1. */
static int parse(const char *text, NlrxBoundary wb, NlrxRegex *r) {
    char err[256] = "";
    memset(r, 0xA5, sizeof *r); /* nlrx_parse must set every field */
    if (nlrx_parse(text, wb, r, err, sizeof err) == 0) {
        check_tree(r);
        return 0;
    }
    FUZZ_CHECK(!r->node && !r->n && !r->cap);
    int pos = -1;
    if (sscanf(err, "at position %d: ", &pos) == 1) FUZZ_CHECK(pos >= 0 && (size_t)pos <= strlen(text));
    else FUZZ_CHECK(!strncmp(err, "regex longer than", 17));
    return -1;
}

/* "(" text ")" parses to the same tree as text, or nests too deeply. Not for a text that
 * starts with ')': alone it is the character ')', after '(' it closes "()" (dk.brics too). */
static void check_wrapped(const char *text, const NlrxRegex *r) {
    size_t n = strlen(text);
    if (n + 2 > NLRX_MAX_LEN || text[0] == ')') return;
    char *w = malloc(n + 3), err[256] = "";
    FUZZ_CHECK(w);
    w[0] = '(';
    memcpy(w + 1, text, n);
    w[n + 1] = ')';
    w[n + 2] = 0;
    NlrxRegex q = {0};
    if (nlrx_parse(w, NLRX_BOUNDARY_LITERAL, &q, err, sizeof err) == 0) FUZZ_CHECK(same_tree(r, &q));
    else FUZZ_CHECK(strstr(err, "nested too deeply") != NULL);
    nlrx_free(&q);
    free(w);
}

/* -------------------------------------------------------- the tree matcher */

/* A relation on the positions 0..L of a string s: bit j of row i is set when s[i..j) is in
 * the language. */
typedef uint64_t Rel[MAXW + 1];

static void rel_compose(const Rel a, const Rel b, int L, Rel out) {
    for (int i = 0; i <= L; i++) {
        uint64_t row = 0;
        for (int j = i; j <= L; j++)
            if (a[i] >> j & 1) row |= b[j];
        out[i] = row;
    }
}

/* a{min,max} as nlrx_build reads it: max < min (max >= 0) is empty, max 0 the empty string.
 * A^k for k > L equals A^(L+1) (a path of k steps over L + 1 positions has at most L
 * advancing steps; the rest stay on a position that matches the empty string), so the
 * counts are clamped to L + 1; once A^(k+1) = A^k the powers stay there. */
static void rel_repeat(const Rel a, int min, int max, int L, Rel out) {
    Rel p, t;
    memset(out, 0, sizeof(Rel));
    if (max >= 0 && max < min) return;
    int lo = min < L + 1 ? min : L + 1, hi = max < 0 || max > L + 1 ? L + 1 : max;
    for (int i = 0; i <= L; i++) p[i] = 1ull << i;
    for (int k = 0; k <= hi; k++) {
        if (k >= lo)
            for (int i = 0; i <= L; i++) out[i] |= p[i];
        if (k == hi) break;
        rel_compose(p, a, L, t);
        if (!memcmp(t, p, (size_t)(L + 1) * sizeof *p)) { /* A^j = A^k for every j > k */
            for (int i = 0; i <= L; i++) out[i] |= p[i];
            break;
        }
        memcpy(p, t, sizeof(Rel));
    }
}

/* The relation of every node of r on s[0..L) into m[r->n]; L <= MAXW. */
static void rel_tree(const NlrxRegex *r, const unsigned char *s, int L, Rel *m) {
    for (int x = 0; x < r->n; x++) {
        const NlrxNode *nd = &r->node[x];
        uint64_t *o = m[x];
        for (int i = 0; i <= L; i++) {
            uint64_t any = (L == 63 ? ~0ull : (2ull << L) - 1) & ~((1ull << i) - 1);
            switch (nd->kind) {
            case NLRX_EMPTYSET: o[i] = 0; break;
            case NLRX_EPSILON: o[i] = 1ull << i; break;
            case NLRX_CHARSET: o[i] = i < L && (nd->set[s[i] >> 3] >> (s[i] & 7) & 1) ? 1ull << (i + 1) : 0; break;
            case NLRX_ANYSTRING: o[i] = any; break;
            case NLRX_UNION: o[i] = m[nd->a][i] | m[nd->b][i]; break;
            case NLRX_INTER: o[i] = m[nd->a][i] & m[nd->b][i]; break;
            case NLRX_COMPL: o[i] = any & ~m[nd->a][i]; break;
            default: break; /* CONCAT and REPEAT: whole relations, below */
            }
        }
        if (nd->kind == NLRX_CONCAT) rel_compose(m[nd->a], m[nd->b], L, o);
        if (nd->kind == NLRX_REPEAT) rel_repeat(m[nd->a], nd->min, nd->max, L, o);
    }
}

/* Whether the tree r denotes s[0..n) (n <= MAXW). */
static int tree_accepts(const NlrxRegex *r, const unsigned char *s, int n) {
    Rel *m = malloc((size_t)r->n * sizeof *m);
    FUZZ_CHECK(m);
    rel_tree(r, s, n, m);
    int yes = m[r->root][0] >> n & 1;
    free(m);
    return yes;
}

/* ---------------------------------------------------------------- automata */

/* Whether the deterministic automaton a accepts s[0..n). */
static int fa_accepts(struct fa *a, const unsigned char *s, size_t n) {
    struct state *st = fa_state_initial(a);
    for (size_t i = 0; i < n && st; i++) {
        struct state *next = NULL, *to;
        unsigned char lo, hi;
        for (size_t t = 0; !next && t < fa_state_num_trans(st); t++)
            if (fa_state_trans(st, t, &to, &lo, &hi) == 0 && s[i] >= lo && s[i] <= hi) next = to;
        st = next;
    }
    return st && fa_state_is_accepting(st);
}

/* The automaton and the tree agree on every substring of s[0..n) (n <= MAXW). */
static void check_substrings(const NlrxRegex *r, struct fa *a, const unsigned char *s, int n) {
    Rel *m = malloc((size_t)r->n * sizeof *m);
    FUZZ_CHECK(m);
    rel_tree(r, s, n, m);
    for (int i = 0; i <= n; i++)
        for (int j = i; j <= n; j++)
            if ((int)(m[r->root][i] >> j & 1) != fa_accepts(a, s + i, (size_t)(j - i))) {
                fprintf(stderr, "fuzz: automaton and tree disagree on \"%.*s\"\n", j - i, (const char *)s + i);
                abort();
            }
    free(m);
}

/* libfa's example of a's language (NULL when empty); length in *n. Aborts on a libfa error. */
static char *example(struct fa *a, size_t *n) {
    char *ex = NULL;
    *n = 0;
    FUZZ_CHECK(fa_example(a, &ex, n) == 0);
    return ex;
}

/* Check the substrings of libfa's example of x (when it has one that fits). */
static void check_example_of(const NlrxRegex *r, struct fa *a, struct fa *x) {
    size_t n;
    char *ex = example(x, &n);
    if (ex && n <= MAXW) check_substrings(r, a, (const unsigned char *)ex, (int)n);
    free(ex);
}

/* L(a) - L(b): libfa's example (if any, and short) is in tree ra and not in rb. 1 when the
 * difference is non-empty. */
static int check_difference(const NlrxRegex *ra, struct fa *a, const NlrxRegex *rb, struct fa *b) {
    struct fa *d = fa_minus(a, b);
    FUZZ_CHECK(d);
    size_t n;
    char *ex = example(d, &n);
    if (ex && n <= MAXW) {
        FUZZ_CHECK(tree_accepts(ra, (const unsigned char *)ex, (int)n));
        FUZZ_CHECK(!tree_accepts(rb, (const unsigned char *)ex, (int)n));
    }
    fa_free(d);
    free(ex);
    return ex != NULL;
}

/* The fixed regex F, parsed and built once. */
static void fixed(const NlrxRegex **r, struct fa **a) {
    static NlrxRegex fr;
    static struct fa *fa;
    char err[256];
    if (!fa) {
        FUZZ_CHECK(nlrx_parse(FIXED, NLRX_BOUNDARY_LITERAL, &fr, err, sizeof err) == 0);
        FUZZ_CHECK(nlrx_build(&fr, MAX_STATES, 0, &fa, err, sizeof err) == NLRX_BUILD_OK);
    }
    *r = &fr;
    *a = fa;
}

/* Build r and check it against its tree and against F. */
static void check_build(const NlrxRegex *r, const char *text) {
    struct fa *a = NULL;
    char err[256] = "";
    NlrxBuild st = nlrx_build(r, MAX_STATES, nlrx_cpu_seconds() + BUILD_SECONDS, &a, err, sizeof err);
    FUZZ_CHECK(st == NLRX_BUILD_OK || st == NLRX_BUILD_STATES || st == NLRX_BUILD_TIME);
    FUZZ_CHECK((st == NLRX_BUILD_OK) == (a != NULL) && (a || err[0]));
    if (!a) return;
    FUZZ_CHECK(nlrx_fa_states(a) <= MAX_STATES && fa_equals(a, a) == 1);
    size_t n = strlen(text);
    check_substrings(r, a, (const unsigned char *)text, (int)(n < MAXW ? n : MAXW));
    check_example_of(r, a, a);
    struct fa *c = fa_complement(a);
    FUZZ_CHECK(c);
    check_example_of(r, a, c);
    fa_free(c);
    unsigned char alpha[MAXW];
    for (int i = 0; i < MAXW; i++) alpha[i] = n ? (unsigned char)text[(i * 7) % n] : 0; /* its characters */
    alpha[MAXW / 2] = 0xFF;
    check_substrings(r, a, alpha, MAXW);
    const NlrxRegex *fr;
    struct fa *fa;
    fixed(&fr, &fa);
    int eq = fa_equals(a, fa), differ = check_difference(r, a, fr, fa) | check_difference(fr, fa, r, a);
    FUZZ_CHECK(eq == !differ);
    fa_free(a);
}

/* ------------------------------------------------------------------ entry */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > MAX_INPUT) size = MAX_INPUT;
    char *text = malloc(size + 1);
    FUZZ_CHECK(text);
    memcpy(text, data, size);
    text[size] = 0; /* the regex ends at the first NUL */
    NlrxRegex lit, emp;
    int ok = parse(text, NLRX_BOUNDARY_LITERAL, &lit) == 0, ok_e = parse(text, NLRX_BOUNDARY_EMPTY, &emp) == 0;
    char err[256];
    FUZZ_CHECK(ok == ok_e && ok == (nlrx_check(text, err, sizeof err) == 0));
    int has_b = strstr(text, "\\b") != NULL;
    if (ok) {
        if (!has_b) FUZZ_CHECK(same_tree(&lit, &emp));
        check_wrapped(text, &lit);
        if (strlen(text) <= MAX_BUILD_LEN) {
            check_build(&lit, text);
            if (has_b) check_build(&emp, text);
        }
    }
    nlrx_free(&lit);
    nlrx_free(&emp);
    nlrx_free(&lit); /* twice is safe */
    free(text);
    return 0;
}
