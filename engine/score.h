/* Text scorers of the evaluation tasks (ALGORITHM.md §7): one generated
 * answer against the gold assistant text of one test example, and the
 * parser of HellaSwag items, whose four endings the engine scores by
 * log-probability.
 *
 * Every scorer has the TextScorer signature and returns 1 (correct), 0
 * (wrong) or -1 (the gold text is malformed, or out of memory; a message in
 * err, size errn). Both texts are first stripped of surrounding ASCII white
 * space (C isspace: space, \t, \n, \v, \f, \r), as the engine strips the
 * generated text; stripping twice changes nothing. Comparisons are bytewise
 * unless a scorer says otherwise. */
#ifndef ENGINE_SCORE_H
#define ENGINE_SCORE_H

#include <stddef.h>

typedef int (*TextScorer)(const char *generated, const char *target, char *err, size_t errn);

/* exact: generated == target after stripping (bytewise, case-sensitive).
 * The metric of NL-RX and of the sentiment tasks: rotten_tomatoes labels
 * Good/Bad, yelp labels Very Bad/Bad/Mediocre/Good/Very Good. Labels are
 * scored exactly, never by startswith: "Good, not Very Good" starts with
 * "Good" but is not the label Good. Returns 1 or 0; never fails. */
int score_exact(const char *generated, const char *target, char *err, size_t errn);

/* startswith: the stripped generated text begins with the stripped target
 * (paper Tables 1 and 11, for models that do not stop cleanly). An empty
 * target is a prefix of everything. Returns 1 or 0; never fails. */
int score_startswith(const char *generated, const char *target, char *err, size_t errn);

/* The final answer of a GSM8K solution: the text after the LAST occurrence
 * of "#### " in text, up to the end of that line ('\n' or the end of the
 * text), stripped of ASCII white space. Sets *off (byte offset in text) and
 * *len and returns 1; returns 0 when text has no "#### " or the answer is
 * empty (*off = *len = 0). */
int gsm8k_answer(const char *text, size_t *off, size_t *len);

/* gsm8k: both answers (gsm8k_answer) exist and are equal as strings. No
 * numeric normalisation, as in the paper's reference evaluation: "1,000" is
 * not "1000", "18.0" is not "18", "$18" is not "18" (14 of the 1319 gold
 * answers of gsm8k_test are written with thousands separators, e.g. "2,125").
 * Differences from the reference regex r"\n#### (.+)$": the reference needs
 * "#### " at the start of the last line after a '\n' (a one-line "#### 18"
 * and text after the answer line give no answer there), keeps the rest of
 * the last line unstripped, and counts two missing answers as equal.
 * Returns 1, 0 (generated has no answer, or another), or -1 when the target
 * has no answer (a data error). */
int score_gsm8k(const char *generated, const char *target, char *err, size_t errn);

/* The SQuAD / DPR answer normalisation of text (UTF-8), in the reference
 * order: lowercase; remove ASCII punctuation (Python string.punctuation:
 * !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~); replace the articles a, an, the that
 * stand between word boundaries by a space; split on white space and join
 * with single spaces. Done on code points, to agree with Python 3 str:
 * - lowercase: the capitals of ASCII, Latin-1, Latin Extended-A (not
 *   U+0130, which Python maps to two code points), Latin Extended
 *   Additional (U+1E00..U+1EFF, Vietnamese), Greek U+0386..U+03AB (no
 *   final-sigma rule: Σ is always σ) and Cyrillic U+0400..U+052F; other
 *   letters keep their case;
 * - white space: Python str.isspace (ASCII \t\n\v\f\r, U+001C..U+001F,
 *   space, U+0085, U+00A0 no-break space, U+1680, U+2000..U+200A, U+2028,
 *   U+2029, U+202F, U+205F, U+3000);
 * - non-ASCII punctuation (’, –, «) is kept, as in the reference;
 * - word boundaries as Python's \b: word characters are ASCII letters,
 *   digits and '_', and non-ASCII code points other than white space, the
 *   Latin-1 signs (U+00A1..U+00BF except ª ² ³ µ ¹ º ¼ ½ ¾, and × ÷), the
 *   combining diacritics U+0300..U+036F and the General Punctuation block
 *   U+2000..U+206F;
 * - bytes that are not valid UTF-8 are kept and count as word characters.
 * Checked against Python on all 12,871 gold answers of nq_open_test and
 * nq_open_train (identical) and code point by code point up to U+30FF
 * (identical inside the ranges above; elsewhere symbols such as € and
 * letters of other scripts may differ in case or word-ness).
 * Returns a malloc'ed NUL-terminated string (free it), or NULL when out of
 * memory. */
char *nq_normalize(const char *text);

/* nq (NQ-Open exact match, the standard SQuAD/DPR metric): the target holds
 * one or more gold answers separated by "; " (nq_open_test: 1769 items, 729
 * with several answers, none with a ';' that is not followed by a space).
 * The generated answer is the generated text up to its first "; " (a model
 * trained on these targets writes the same list form; its first entry is
 * its answer). Correct when nq_normalize(generated answer) equals
 * nq_normalize of one gold answer. The reference instead counted a
 * generated entry contained as a substring anywhere in the raw target
 * (containment the wrong way round: "a" or "1" matches most targets).
 * Returns 1, 0, or -1: the target is empty or has an empty answer (data
 * error), or out of memory. */
int score_nq(const char *generated, const char *target, char *err, size_t errn);

/* nq_contains (the "answer appears in the generation" accuracy used for
 * generative LLMs on open-domain QA): correct when some gold answer, after
 * nq_normalize, is non-empty and occurs in nq_normalize(whole generated
 * text) as a run of whole tokens (bounded by the ends or by spaces). More
 * lenient than nq: verbose generations ("It was Guy Henry.") count. Same
 * returns and errors as score_nq. */
int score_nq_contains(const char *generated, const char *target, char *err, size_t errn);

/* The text metrics by name: "exact", "startswith", "gsm8k", "nq",
 * "nq_contains". Returns the scorer, or NULL for an unknown name. */
TextScorer text_metric_find(const char *name);

/* One HellaSwag test item: the user text is
 *     <context>\nA) <ending 0>\nB) <ending 1>\nC) <ending 2>\nD) <ending 3>
 * (hellaswag_test: 2000 items, every one with the four markers once each,
 * one line per ending, no ending empty), the assistant text is the gold
 * letter. */
typedef struct HellaSwagItem {
    char *context;    /* the text before "\nA) " */
    char *endings[4]; /* the text after each marker up to the next one; may hold '\n' */
    int gold;         /* 0..3: A..D */
    char *buf;        /* owns the strings above; free with hellaswag_item_free */
} HellaSwagItem;

/* Parse one item: user and assistant texts as above. The markers "\nA) ",
 * "\nB) ", "\nC) ", "\nD) " must each occur exactly once, in that order;
 * context and endings are kept verbatim (not stripped); the assistant text,
 * stripped, must be one letter A..D. Returns 0 with out filled (free with
 * hellaswag_item_free), or -1 with a message and out zeroed: a marker is
 * missing, repeated or out of order, the context or an ending is empty
 * (only white space), the gold is not A..D, or out of memory. */
int hellaswag_parse(const char *user, const char *assistant, HellaSwagItem *out, char *err, size_t errn);

/* Free the strings of it and zero it. Safe on a zeroed item and twice. */
void hellaswag_item_free(HellaSwagItem *it);

#endif
