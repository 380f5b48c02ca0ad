/* Metric dfa: NL-RX's semantic accuracy (Locascio et al., EMNLP 2016,
 * "Neural Generation of Regular Expressions from Natural Language with
 * Minimal Domain Knowledge": DFA-Equal accuracy). A generated regex is
 * correct when it denotes the same language as the target regex; the
 * original checker (deep-regex's regexDFAEquals.py and its
 * regex_dfa_equals.jar) built both with dk.brics.automaton and compared
 * the automata. Here the dialect is parsed by regex_nlrx.h and compared with
 * libfa, under limits, in a child process. Semantics: docs/dfa.md. */
#ifndef ENGINE_DFA_EQUIV_H
#define ENGINE_DFA_EQUIV_H

#include <stddef.h>

#include "regex_nlrx.h"

typedef enum {
    DFA_DIFFERENT = 0, /* both parse; the languages differ */
    DFA_EQUAL = 1,     /* the same language (identical texts count without building) */
    DFA_UNDECIDED = 2, /* a limit was hit first (scored wrong, counted apart) */
    DFA_INVALID = 3    /* the generated text does not parse (scored wrong) */
} DfaVerdict;

/* Limits of one check. seconds: CPU time the child may spend building and
 * comparing both automata (> 0); max_states: the most states any
 * intermediate automaton may have (> 0). The child's address space may
 * grow DFA_MEMORY_HEADROOM bytes beyond the caller's, and the parent kills
 * it after 4 * seconds + 2 s of wall-clock time. */
typedef struct DfaLimits {
    double seconds;
    long max_states;
} DfaLimits;

#define DFA_DEFAULT_SECONDS 1.0
#define DFA_DEFAULT_MAX_STATES 100000L
#define DFA_MEMORY_HEADROOM (1024L << 20)

/* {DFA_DEFAULT_SECONDS, DFA_DEFAULT_MAX_STATES}. */
DfaLimits dfa_limits_default(void);

/* "equal", "different", "undecided", "invalid" (or "?"). */
const char *dfa_verdict_name(DfaVerdict v);

/* Whether generated denotes the language of target (both NUL-terminated
 * NL-RX regexes, compared as given: strip white space before), \b read as
 * the letter b (dk.brics, NL-RX's checker). lim NULL: dfa_limits_default().
 * In order:
 *   - target is parsed; failing, -1 (bad data, not a wrong answer);
 *   - identical texts: DFA_EQUAL without building (as NL-RX's
 *     regex_equiv, which returns True on gold == predicted);
 *   - generated is parsed; failing, DFA_INVALID and the parse error in err;
 *   - a forked child builds both minimal automata (nlrx_build) and
 *     compares them with fa_equals under CPU-time (setitimer ITIMER_PROF,
 *     RLIMIT_CPU), address-space (RLIMIT_AS) and state limits, and the
 *     parent's wall-clock kill: DFA_EQUAL or DFA_DIFFERENT, or
 *     DFA_UNDECIDED with the limit that stopped it in err.
 * err (size errn) is "" on EQUAL and DIFFERENT. Returns 0 with *out set,
 * or -1 with err: NULL argument, a limit <= 0, target does not parse,
 * fork or waitpid failed, or the checker reported a defect (a libfa
 * character set other than asked for, an unexpected exit status).
 * Cost: parsing is microseconds; a fork and build is about a millisecond
 * for NL-RX-sized regexes in a small process (docs/dfa.md, measured). */
int nlrx_dfa_equiv(const char *generated, const char *target, const DfaLimits *lim, DfaVerdict *out, char *err,
                   size_t errn);

/* nlrx_dfa_equiv with \b read as wb (NLRX_BOUNDARY_EMPTY: the empty
 * string), for comparing the two readings (docs/dfa.md). Same returns. */
int nlrx_dfa_equiv_boundary(const char *generated, const char *target, const DfaLimits *lim, NlrxBoundary wb,
                            DfaVerdict *out, char *err, size_t errn);

/* Counts of a rescored predictions file. */
typedef struct DfaCounts {
    long n;                         /* examples (non-blank lines) */
    long exact;                     /* lines whose "exact" is true */
    long dfa_equal, dfa_different;  /* verdicts */
    long undecided, invalid;        /* verdicts scored wrong */
    long exact_wrong_but_dfa_right; /* "exact" false, DFA_EQUAL */
    long dfa_wrong_but_exact_right; /* "exact" true, not DFA_EQUAL: always 0 unless there is a defect */
    double seconds;                 /* wall-clock time of the rescoring */
} DfaCounts;

/* Rescore a predictions.jsonl as the engine writes it (one JSON object per
 * line with strings "target" and "generated" and boolean "exact"; other
 * fields ignored, blank lines skipped): nlrx_dfa_equiv on each pair after
 * stripping surrounding white space (as the engine's exact metric does),
 * counted into *out. Reads the file only. Returns 0, or -1 with
 * "FILE:LINE: why" in err (*out then holds the lines before): the file
 * cannot be read, a line is not such an object, or nlrx_dfa_equiv fails
 * (e.g. a target that does not parse). */
int dfa_rescore_predictions(const char *predictions_jsonl, const DfaLimits *lim, DfaCounts *out, char *err,
                            size_t errn);

#endif
