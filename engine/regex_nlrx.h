/* The regular-expression dialect of NL-RX (Locascio et al., EMNLP 2016):
 * dk.brics.automaton's RegExp syntax, parsed into a syntax tree and built
 * into a libfa automaton (augeas's <fa.h>). docs/dfa.md gives the semantics
 * and why.
 *
 * Grammar, loosest first (dk.brics RegExp with all syntax flags on; a
 * character is a byte):
 *   union   ::= inter ('|' inter)*
 *   inter   ::= concat ('&' concat)*
 *   concat  ::= repeat repeat*        (until ')', '|', '&' or the end)
 *   repeat  ::= compl ('?' | '*' | '+' | '{n}' | '{n,}' | '{n,m}')*
 *   compl   ::= '~' compl | class     ('~' binds tighter than repetition:
 *                                      ~x* is (~x)*)
 *   class   ::= '[' '^'? item+ ']' | simple     (item: c or c-c)
 *   simple  ::= '.' | '#' | '@' | '"' chars '"' | '(' ')' | '(' union ')'
 *             | '\' c | c           (any other character is itself)
 * '.' is any byte, '#' the empty language, '@' every string, '~' the
 * complement within all byte strings, '[^...]' the bytes not listed,
 * '\c' the character c. {n,m} with m < n and a range c-d with d < c
 * denote the empty language (as dk.brics builds them). */
#ifndef ENGINE_REGEX_NLRX_H
#define ENGINE_REGEX_NLRX_H

#include <stddef.h>
#include <stdint.h>

struct fa;

/* Longest regex accepted (bytes), deepest nesting of '(', '~' and postfix
 * operators on one operand; beyond either the text is an error. */
#define NLRX_MAX_LEN 4096
#define NLRX_MAX_DEPTH 200

/* The reading of "\b" outside a character class. LITERAL (0): the letter
 * b, as dk.brics reads any backslash escape (NL-RX's original checker);
 * EMPTY: the empty string, i.e. the word boundary dropped. */
typedef enum { NLRX_BOUNDARY_LITERAL = 0, NLRX_BOUNDARY_EMPTY = 1 } NlrxBoundary;

typedef enum {
    NLRX_EMPTYSET,  /* no string ('#', an empty range, {n,m} with m < n) */
    NLRX_EPSILON,   /* the empty string ("()", "\"\"", \b read as EMPTY) */
    NLRX_CHARSET,   /* one byte from set */
    NLRX_ANYSTRING, /* every string ('@') */
    NLRX_CONCAT,    /* a then b */
    NLRX_UNION,     /* a | b */
    NLRX_INTER,     /* a & b */
    NLRX_COMPL,     /* ~a */
    NLRX_REPEAT     /* a{min,max}; max = -1: unbounded */
} NlrxKind;

typedef struct NlrxNode {
    NlrxKind kind;
    int a, b;         /* operand node indices (CONCAT/UNION/INTER: a, b; COMPL/REPEAT: a) */
    int min, max;     /* REPEAT counts */
    uint8_t set[32];  /* CHARSET: byte c is in the set iff bit (c & 7) of set[c >> 3] */
} NlrxNode;

/* A parsed regex: node[root] is the whole expression, operands come
 * before the nodes that use them. Zero-initialise; free with nlrx_free. */
typedef struct NlrxRegex {
    NlrxNode *node;
    int n, cap;
    int root;
} NlrxRegex;

/* Parse re (NUL-terminated) under the grammar above into *out (zeroed or
 * freed by the caller first). Stricter than dk.brics in four places,
 * each an error: the empty text (dk.brics: the empty string), a byte
 * outside printable ASCII 0x20..0x7e, '<' (dk.brics' named automata and
 * numeric intervals), and text longer than NLRX_MAX_LEN or nested deeper
 * than NLRX_MAX_DEPTH. Returns 0, or -1 with "at position P: what was
 * expected" in err (size errn) and *out empty: every syntax error above
 * ("expected ')'", "integer expected after '{'", "unexpected end of
 * regex", a repetition count above 2^31-1, ...) or out of memory. */
int nlrx_parse(const char *re, NlrxBoundary wb, NlrxRegex *out, char *err, size_t errn);

/* Free the nodes of r and zero it. Safe on a zeroed regex and twice. */
void nlrx_free(NlrxRegex *r);

/* Whether re parses (either reading of \b parses the same texts):
 * 0, or -1 with nlrx_parse's message. For validating data at load time. */
int nlrx_check(const char *re, char *err, size_t errn);

/* Result of nlrx_build. */
typedef enum {
    NLRX_BUILD_OK = 0,
    NLRX_BUILD_STATES,   /* an intermediate automaton (or a repetition's estimate) passed max_states */
    NLRX_BUILD_TIME,     /* the process CPU clock passed the deadline between two operations */
    NLRX_BUILD_NOMEM,    /* libfa returned no automaton (out of memory) */
    NLRX_BUILD_INTERNAL  /* a character set came out of libfa other than asked: a defect */
} NlrxBuild;

/* The minimal deterministic automaton (libfa) of r into *out (free with
 * fa_free), built bottom-up as dk.brics does: every operation's result is
 * minimised, and its state count checked against max_states (> 0);
 * {n,m} is refused before building when states(operand) * (max(n,m) + 1)
 * passes max_states. cpu_deadline > 0: give up between two operations
 * once clock(CLOCK_PROCESS_CPUTIME_ID) passes it (seconds). A single
 * libfa operation is not interruptible (determinising can take time and
 * memory exponential in its input): untrusted regexes go through
 * nlrx_dfa_equiv (dfa_equiv.h), which runs this in a child process under
 * hard limits. Returns NLRX_BUILD_OK with *out set, or another value with
 * *out NULL and a message in err. */
NlrxBuild nlrx_build(const NlrxRegex *r, long max_states, double cpu_deadline, struct fa **out, char *err,
                     size_t errn);

/* Number of states of automaton a (libfa keeps them in one list). */
long nlrx_fa_states(struct fa *a);

/* The CPU time used by this process so far (CLOCK_PROCESS_CPUTIME_ID), s. */
double nlrx_cpu_seconds(void);

#endif
