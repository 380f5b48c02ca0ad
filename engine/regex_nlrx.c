/* The NL-RX regex dialect (dk.brics.automaton RegExp syntax): a recursive
 * descent parser mirroring dk.brics' RegExp.parse*Exp methods, and the
 * bottom-up build of a libfa automaton with state and time limits. */
#define _POSIX_C_SOURCE 200809L
#include "regex_nlrx.h"

#include <fa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errmsg.h"

/* ---- character sets (256-bit) ---- */

static void set_add(uint8_t *set, int c) { set[c >> 3] |= (uint8_t)(1u << (c & 7)); }
static int set_has(const uint8_t *set, int c) { return (set[c >> 3] >> (c & 7)) & 1; }

static void set_range(uint8_t *set, int lo, int hi) {
    for (int c = lo; c <= hi; c++) set_add(set, c);
}

/* ---- the parser ---- */

typedef struct Parser {
    const char *s;
    int len, pos, depth;
    NlrxBoundary wb;
    NlrxRegex *r;
    char *err;
    size_t errn;
} Parser;

static int fail(Parser *p, const char *what) {
    errf(p->err, p->errn, "at position %d: %s", p->pos, what);
    return -1;
}

static int more(const Parser *p) { return p->pos < p->len; }
static int peek(const Parser *p, const char *chars) { return more(p) && strchr(chars, p->s[p->pos]) != NULL; }

static int match(Parser *p, char c) {
    if (more(p) && p->s[p->pos] == c) {
        p->pos++;
        return 1;
    }
    return 0;
}

/* A new node of kind k; its index, or -1 (out of memory). */
static int node_new(Parser *p, NlrxKind k, int a, int b) {
    NlrxRegex *r = p->r;
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 64;
        NlrxNode *nn = realloc(r->node, (size_t)cap * sizeof *nn);
        if (!nn) return fail(p, "out of memory");
        r->node = nn;
        r->cap = cap;
    }
    NlrxNode *n = &r->node[r->n];
    memset(n, 0, sizeof *n);
    n->kind = k;
    n->a = a;
    n->b = b;
    return r->n++;
}

static int node_char(Parser *p, int c) {
    int i = node_new(p, NLRX_CHARSET, -1, -1);
    if (i >= 0) set_add(p->r->node[i].set, c);
    return i;
}

static int enter(Parser *p) {
    if (++p->depth > NLRX_MAX_DEPTH) return fail(p, "nested too deeply");
    return 0;
}

/* charexp ::= '\'? c. The character, or -1 at the end of the text. */
static int parse_charexp(Parser *p) {
    match(p, '\\');
    if (!more(p)) return fail(p, "unexpected end of regex");
    return (unsigned char)p->s[p->pos++];
}

static int parse_union(Parser *p);

/* A decimal repetition count (dk.brics: Integer.parseInt): the value; -2
 * when there are no digits and none are required; -1 (error) when they
 * are, or the value passes 2^31-1. */
static long parse_count(Parser *p, int required) {
    int start = p->pos;
    long v = 0;
    while (peek(p, "0123456789")) {
        v = 10 * v + (p->s[p->pos++] - '0');
        if (v > 2147483647L) return fail(p, "repetition count above 2147483647");
    }
    if (p->pos == start) return required ? fail(p, "integer expected after '{'") : -2;
    return v;
}

/* '{' already read: n}, n,} or n,m}. */
static int parse_braces(Parser *p, int e) {
    long n = parse_count(p, 1), m;
    if (n < 0) return -1;
    if (match(p, ',')) {
        m = parse_count(p, 0);
        if (m == -1) return -1;
        if (m == -2) m = -1; /* {n,} */
    } else
        m = n;
    if (!match(p, '}')) return fail(p, "expected '}'");
    int i = node_new(p, NLRX_REPEAT, e, -1);
    if (i < 0) return -1;
    p->r->node[i].min = (int)n;
    p->r->node[i].max = (int)m;
    return i;
}

/* ( '[' '^'? items ']' ): the set, after '[' was read. */
static int parse_class(Parser *p) {
    int neg = match(p, '^');
    int i = node_new(p, NLRX_CHARSET, -1, -1);
    if (i < 0) return -1;
    uint8_t set[32] = {0};
    do { /* dk.brics parseCharClasses: one item, then more until ']' */
        int c = parse_charexp(p);
        if (c < 0) return -1;
        if (match(p, '-')) {
            if (peek(p, "]")) {
                set_add(set, c);
                set_add(set, '-');
            } else {
                int d = parse_charexp(p);
                if (d < 0) return -1;
                set_range(set, c, d); /* empty when d < c */
            }
        } else
            set_add(set, c);
    } while (more(p) && !peek(p, "]"));
    if (!match(p, ']')) return fail(p, "expected ']'");
    for (int k = 0; k < 32; k++) p->r->node[i].set[k] = neg ? (uint8_t)~set[k] : set[k];
    return i;
}

/* "..." after the opening quote: the concatenation of its bytes. */
static int parse_quoted(Parser *p) {
    int e = -1;
    while (more(p) && !peek(p, "\"")) {
        int c = node_char(p, (unsigned char)p->s[p->pos++]);
        if (c < 0) return -1;
        e = e < 0 ? c : node_new(p, NLRX_CONCAT, e, c);
        if (e < 0) return -1;
    }
    if (!match(p, '"')) return fail(p, "expected '\"'");
    return e < 0 ? node_new(p, NLRX_EPSILON, -1, -1) : e;
}

static int parse_simple(Parser *p) {
    if (match(p, '.')) {
        int i = node_new(p, NLRX_CHARSET, -1, -1);
        if (i >= 0) memset(p->r->node[i].set, 0xff, 32);
        return i;
    }
    if (match(p, '#')) return node_new(p, NLRX_EMPTYSET, -1, -1);
    if (match(p, '@')) return node_new(p, NLRX_ANYSTRING, -1, -1);
    if (match(p, '"')) return parse_quoted(p);
    if (match(p, '(')) {
        if (match(p, ')')) return node_new(p, NLRX_EPSILON, -1, -1);
        if (enter(p) < 0) return -1;
        int e = parse_union(p);
        p->depth--;
        if (e < 0) return -1;
        if (!match(p, ')')) return fail(p, "expected ')'");
        return e;
    }
    if (peek(p, "<")) return fail(p, "'<' (named automaton or numeric interval) is not supported");
    if (p->wb == NLRX_BOUNDARY_EMPTY && p->pos + 1 < p->len && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'b') {
        p->pos += 2;
        return node_new(p, NLRX_EPSILON, -1, -1);
    }
    int c = parse_charexp(p);
    return c < 0 ? -1 : node_char(p, c);
}

static int parse_compl(Parser *p) {
    if (match(p, '~')) {
        if (enter(p) < 0) return -1;
        int e = parse_compl(p);
        p->depth--;
        return e < 0 ? -1 : node_new(p, NLRX_COMPL, e, -1);
    }
    if (match(p, '[')) return parse_class(p);
    return parse_simple(p);
}

static int repeat(Parser *p, int e, int min, int max) {
    int i = node_new(p, NLRX_REPEAT, e, -1);
    if (i >= 0) {
        p->r->node[i].min = min;
        p->r->node[i].max = max;
    }
    return i;
}

static int parse_repeat(Parser *p) {
    int e = parse_compl(p), depth = p->depth;
    while (e >= 0 && peek(p, "?*+{")) {
        if (enter(p) < 0) return -1;
        char op = p->s[p->pos++];
        if (op == '?') e = repeat(p, e, 0, 1);
        else if (op == '*') e = repeat(p, e, 0, -1);
        else if (op == '+') e = repeat(p, e, 1, -1);
        else e = parse_braces(p, e);
    }
    p->depth = depth;
    return e;
}

static int parse_concat(Parser *p) {
    int e = parse_repeat(p);
    while (e >= 0 && more(p) && !peek(p, ")|&")) {
        int f = parse_repeat(p);
        e = f < 0 ? -1 : node_new(p, NLRX_CONCAT, e, f);
    }
    return e;
}

static int parse_inter(Parser *p) {
    int e = parse_concat(p);
    while (e >= 0 && match(p, '&')) {
        int f = parse_concat(p);
        e = f < 0 ? -1 : node_new(p, NLRX_INTER, e, f);
    }
    return e;
}

static int parse_union(Parser *p) {
    int e = parse_inter(p);
    while (e >= 0 && match(p, '|')) {
        int f = parse_inter(p);
        e = f < 0 ? -1 : node_new(p, NLRX_UNION, e, f);
    }
    return e;
}

/* The text-level restrictions (length, bytes); 0 or -1. */
static int check_text(Parser *p) {
    if (p->len == 0) return fail(p, "empty regex");
    if (p->len > NLRX_MAX_LEN) return errf(p->err, p->errn, "regex longer than %d bytes", NLRX_MAX_LEN);
    for (int i = 0; i < p->len; i++) {
        unsigned char c = (unsigned char)p->s[i];
        if (c < 0x20 || c > 0x7e) {
            p->pos = i;
            char what[64];
            snprintf(what, sizeof what, "byte 0x%02x is not printable ASCII", c);
            return fail(p, what);
        }
    }
    return 0;
}

int nlrx_parse(const char *re, NlrxBoundary wb, NlrxRegex *out, char *err, size_t errn) {
    if (!re || !out) return errf(err, errn, "nlrx_parse: NULL argument");
    memset(out, 0, sizeof *out);
    size_t len = strnlen(re, NLRX_MAX_LEN + 1);
    Parser p = {re, (int)len, 0, 0, wb, out, err, errn};
    int root = check_text(&p);
    if (root == 0) root = parse_union(&p);
    if (root >= 0 && more(&p)) root = fail(&p, "end of regex expected (unbalanced ')'?)");
    if (root < 0) {
        nlrx_free(out);
        return -1;
    }
    out->root = root;
    return 0;
}

void nlrx_free(NlrxRegex *r) {
    if (!r) return;
    free(r->node);
    memset(r, 0, sizeof *r);
}

int nlrx_check(const char *re, char *err, size_t errn) {
    NlrxRegex r = {0};
    if (nlrx_parse(re, NLRX_BOUNDARY_LITERAL, &r, err, errn) < 0) return -1;
    nlrx_free(&r);
    return 0;
}

/* ---- the automaton ---- */

long nlrx_fa_states(struct fa *a) {
    long n = 0;
    for (struct state *s = fa_state_initial(a); s; s = fa_state_next(s)) n++;
    return n;
}

double nlrx_cpu_seconds(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct Builder {
    const NlrxRegex *r;
    long max_states;
    double deadline;
    char *err;
    size_t errn;
    NlrxBuild status;
} Builder;

static struct fa *give_up(Builder *b, NlrxBuild st, const char *what) {
    if (b->status == NLRX_BUILD_OK) {
        b->status = st;
        errf(b->err, b->errn, "%s", what);
    }
    return NULL;
}

/* One byte c: libfa's bracket "[c]", except '^' ("[^]" is not a set). */
static struct fa *fa_byte(int c) {
    char re[4] = {'[', (char)c, ']', 0};
    struct fa *a = NULL;
    if (c == '^') return fa_compile("\\^", 2, &a) == 0 ? a : NULL;
    return fa_compile(re, 3, &a) == 0 ? a : NULL;
}

/* Bytes lo..hi (lo <= hi) as libfa brackets. libfa compares bracket
 * endpoints as signed chars (a range may not cross 0x7f/0x80), reads
 * "[^-x]" as a negation and "[x-]]" otherwise: those ends go alone. */
static struct fa *fa_run(int lo, int hi) {
    if (lo == hi) return fa_byte(lo);
    struct fa *head = NULL, *rest;
    if (lo <= 0x7f && hi >= 0x80) {
        head = fa_run(lo, 0x7f);
        rest = fa_run(0x80, hi);
    } else if (lo == '^') {
        head = fa_byte('^');
        rest = fa_run(lo + 1, hi);
    } else if (hi == ']') {
        head = fa_run(lo, hi - 1);
        rest = fa_byte(']');
    } else {
        char re[6] = {'[', (char)lo, '-', (char)hi, ']', 0};
        struct fa *a = NULL;
        return fa_compile(re, 5, &a) == 0 ? a : NULL;
    }
    struct fa *u = head && rest ? fa_union(head, rest) : NULL;
    fa_free(head);
    fa_free(rest);
    return u;
}

/* Whether minimal automaton a accepts exactly the one-byte strings of set. */
static int charset_exact(struct fa *a, const uint8_t *set) {
    uint8_t got[32] = {0};
    struct state *s0 = fa_state_initial(a);
    for (size_t i = 0; i < fa_state_num_trans(s0); i++) {
        struct state *to;
        unsigned char lo, hi;
        if (fa_state_trans(s0, i, &to, &lo, &hi) < 0 || !fa_state_is_accepting(to) || fa_state_num_trans(to))
            return 0;
        set_range(got, lo, hi);
    }
    return !fa_state_is_accepting(s0) && !memcmp(got, set, 32);
}

static struct fa *build_charset(Builder *b, const uint8_t *set) {
    struct fa *acc = fa_make_basic(FA_EMPTY);
    for (int c = 0; acc && c < 256;) {
        if (!set_has(set, c)) {
            c++;
            continue;
        }
        int hi = c;
        while (hi < 255 && set_has(set, hi + 1)) hi++;
        struct fa *run = fa_run(c, hi), *u = run ? fa_union(acc, run) : NULL;
        fa_free(acc);
        fa_free(run);
        acc = u;
        c = hi + 1;
    }
    if (!acc || fa_minimize(acc) < 0) {
        fa_free(acc);
        return give_up(b, NLRX_BUILD_NOMEM, "libfa: out of memory building a character set");
    }
    if (!charset_exact(acc, set)) {
        fa_free(acc);
        return give_up(b, NLRX_BUILD_INTERNAL, "libfa built a character set other than the one asked for");
    }
    return acc;
}

/* Minimise a (an operation's result, NULL if it failed) and check limits. */
static struct fa *settle(Builder *b, struct fa *a) {
    if (!a || fa_minimize(a) < 0) {
        fa_free(a);
        return give_up(b, NLRX_BUILD_NOMEM, "libfa: out of memory");
    }
    if (nlrx_fa_states(a) > b->max_states) {
        fa_free(a);
        return give_up(b, NLRX_BUILD_STATES, "automaton state limit exceeded");
    }
    if (b->deadline > 0 && nlrx_cpu_seconds() > b->deadline) {
        fa_free(a);
        return give_up(b, NLRX_BUILD_TIME, "time limit exceeded");
    }
    return a;
}

static struct fa *build(Builder *b, int i);

static struct fa *build_repeat(Builder *b, const NlrxNode *n) {
    if (n->max >= 0 && n->max < n->min) return fa_make_basic(FA_EMPTY);
    if (n->max == 0) return fa_make_basic(FA_EPSILON);
    struct fa *x = build(b, n->a);
    if (!x) return NULL;
    long copies = (n->max > n->min ? n->max : n->min) + 1L;
    if ((double)nlrx_fa_states(x) * (double)copies > (double)b->max_states) {
        fa_free(x);
        return give_up(b, NLRX_BUILD_STATES, "automaton state limit exceeded (repetition)");
    }
    struct fa *y = fa_iter(x, n->min, n->max);
    fa_free(x);
    return settle(b, y);
}

/* x op y for a chain kind (CONCAT, UNION, INTER); frees x and y. */
static struct fa *combine(Builder *b, NlrxKind k, struct fa *x, struct fa *y) {
    struct fa *z = NULL;
    if (x && y) z = k == NLRX_CONCAT ? fa_concat(x, y) : k == NLRX_UNION ? fa_union(x, y) : fa_intersect(x, y);
    if (x && y && !z) give_up(b, NLRX_BUILD_NOMEM, "libfa: out of memory");
    fa_free(x);
    fa_free(y);
    return z ? settle(b, z) : NULL;
}

/* A chain a1 op a2 op ... of one associative kind (the parser nests it
 * to the left): its operands left to right into leaf[], their count. */
static int chain_leaves(const NlrxRegex *r, int i, int *stack, int *leaf) {
    int top = 0, n = 0;
    NlrxKind k = r->node[i].kind;
    stack[top++] = i;
    while (top > 0) {
        int j = stack[--top];
        if (r->node[j].kind == k) {
            stack[top++] = r->node[j].b;
            stack[top++] = r->node[j].a;
        } else
            leaf[n++] = j;
    }
    return n;
}

/* Build the operands of a chain, then join neighbours pairwise in rounds
 * (balanced: a long literal costs n log n, not n^2). */
static struct fa *build_chain(Builder *b, int i) {
    int *stack = malloc(2 * (size_t)b->r->n * sizeof *stack);
    if (!stack) return give_up(b, NLRX_BUILD_NOMEM, "out of memory");
    int *leaf = stack + b->r->n, n = chain_leaves(b->r, i, stack, leaf);
    NlrxKind k = b->r->node[i].kind;
    struct fa **part = calloc((size_t)n, sizeof *part);
    int ok = part != NULL;
    for (int j = 0; ok && j < n; j++) ok = (part[j] = build(b, leaf[j])) != NULL;
    while (ok && n > 1) {
        int m = 0;
        for (int j = 0; j < n; j += 2) {
            struct fa *x = part[j], *y = j + 1 < n ? part[j + 1] : NULL;
            part[j] = NULL;
            if (j + 1 < n) part[j + 1] = NULL;
            if (j + 1 == n) part[m++] = x;
            else if (ok)
                ok = (part[m++] = combine(b, k, x, y)) != NULL;
            else {
                fa_free(x);
                fa_free(y);
            }
        }
        n = m;
    }
    struct fa *a = NULL;
    if (ok) a = part[0];
    else if (part)
        for (int j = 0; j < n; j++)
            if (part[j]) fa_free(part[j]);
    if (!part) give_up(b, NLRX_BUILD_NOMEM, "out of memory");
    free(part);
    free(stack);
    return a;
}

static struct fa *build(Builder *b, int i) {
    const NlrxNode *n = &b->r->node[i];
    struct fa *a, *x;
    switch (n->kind) {
    case NLRX_EMPTYSET: a = fa_make_basic(FA_EMPTY); break;
    case NLRX_EPSILON: a = fa_make_basic(FA_EPSILON); break;
    case NLRX_ANYSTRING: a = fa_make_basic(FA_TOTAL); break;
    case NLRX_CHARSET: return build_charset(b, n->set);
    case NLRX_REPEAT: return build_repeat(b, n);
    case NLRX_COMPL:
        if (!(x = build(b, n->a))) return NULL;
        a = fa_complement(x);
        fa_free(x);
        return settle(b, a);
    default: return build_chain(b, i);
    }
    return a ? a : give_up(b, NLRX_BUILD_NOMEM, "libfa: out of memory");
}

NlrxBuild nlrx_build(const NlrxRegex *r, long max_states, double cpu_deadline, struct fa **out, char *err,
                     size_t errn) {
    if (out) *out = NULL;
    if (err && errn) err[0] = '\0';
    if (!r || !out || !r->node || r->root < 0 || r->root >= r->n || max_states <= 0) {
        errf(err, errn, "nlrx_build: bad argument");
        return NLRX_BUILD_INTERNAL;
    }
    Builder b = {r, max_states, cpu_deadline, err, errn, NLRX_BUILD_OK};
    *out = build(&b, r->root);
    if (!*out && b.status == NLRX_BUILD_OK) b.status = NLRX_BUILD_INTERNAL;
    return b.status;
}
