/* Text scorers (score.h): golden cases for exact, startswith, gsm8k, nq,
 * nq_contains, the NQ normalisation (expected strings computed with the
 * Python SQuAD/DPR normaliser), the HellaSwag parser, and checks over the
 * shipped data files (skipped when absent). */
#define _POSIX_C_SOURCE 200809L /* getline */
#include <criterion/criterion.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "score.h"

static char err[256];

/* --- exact, startswith, labels -------------------------------------------- */

Test(score_exact, equal_and_stripped) {
    cr_assert_eq(score_exact("abc", "abc", err, sizeof err), 1);
    cr_assert_eq(score_exact("  abc \n", "abc", err, sizeof err), 1);
    cr_assert_eq(score_exact("abc", "\tabc  ", err, sizeof err), 1);
    cr_assert_eq(score_exact("", "", err, sizeof err), 1);
    cr_assert_eq(score_exact(" \n ", "", err, sizeof err), 1);
}

Test(score_exact, differs) {
    cr_assert_eq(score_exact("abc", "abd", err, sizeof err), 0);
    cr_assert_eq(score_exact("abc", "ab", err, sizeof err), 0);
    cr_assert_eq(score_exact("ab", "abc", err, sizeof err), 0);
    cr_assert_eq(score_exact("", "x", err, sizeof err), 0);
    cr_assert_eq(score_exact("Abc", "abc", err, sizeof err), 0, "case-sensitive");
    cr_assert_eq(score_exact("a b", "a  b", err, sizeof err), 0, "inner white space counts");
}

Test(score_exact, unicode_bytewise) {
    cr_assert_eq(score_exact("Mötley Crüe", "Mötley Crüe", err, sizeof err), 1);
    cr_assert_eq(score_exact("Mötley Crüe", "Motley Crue", err, sizeof err), 0);
    /* NFC é against NFD e + U+0301: different bytes */
    cr_assert_eq(score_exact("caf\xc3\xa9", "cafe\xcc\x81", err, sizeof err), 0);
}

Test(score_exact, sentiment_labels) {
    const char *yelp[] = {"Very Bad", "Bad", "Mediocre", "Good", "Very Good"};
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++)
            cr_assert_eq(score_exact(yelp[i], yelp[j], err, sizeof err), i == j, "%s vs %s", yelp[i], yelp[j]);
    cr_assert_eq(score_exact("Good\n", "Good", err, sizeof err), 1);
    cr_assert_eq(score_exact("good", "Good", err, sizeof err), 0);
    /* why labels are not scored by startswith */
    cr_assert_eq(score_startswith("Good, not Very Good", "Good", err, sizeof err), 1);
    cr_assert_eq(score_exact("Good, not Very Good", "Good", err, sizeof err), 0);
}

Test(score_startswith, prefixes) {
    cr_assert_eq(score_startswith("abcdef", "abc", err, sizeof err), 1);
    cr_assert_eq(score_startswith("abc", "abc", err, sizeof err), 1);
    cr_assert_eq(score_startswith("ab", "abc", err, sizeof err), 0);
    cr_assert_eq(score_startswith("xabc", "abc", err, sizeof err), 0);
    cr_assert_eq(score_startswith("anything", "", err, sizeof err), 1);
    cr_assert_eq(score_startswith("", "", err, sizeof err), 1);
    cr_assert_eq(score_startswith("", "a", err, sizeof err), 0);
    cr_assert_eq(score_startswith("  abc d ", " abc ", err, sizeof err), 1);
    cr_assert_eq(score_startswith("Very Bad", "Bad", err, sizeof err), 0);
}

/* --- gsm8k ------------------------------------------------------------------ */

/* gsm8k_answer of text as a string ("<none>" when absent). */
static const char *answer(const char *text) {
    static char buf[128];
    size_t off, len;
    if (!gsm8k_answer(text, &off, &len)) return "<none>";
    cr_assert_lt(len, sizeof buf);
    memcpy(buf, text + off, len);
    buf[len] = 0;
    return buf;
}

Test(score_gsm8k, answer_extraction) {
    cr_assert_str_eq(answer("She makes 9 * 2 = $18.\n#### 18"), "18");
    cr_assert_str_eq(answer("#### 18"), "18");
    cr_assert_str_eq(answer("#### 5\nthen\n#### 18"), "18", "the last one");
    cr_assert_str_eq(answer("#### 5 and #### 7 \nmore"), "7");
    cr_assert_str_eq(answer("#### 18\nSo the answer is 18."), "18", "text after the line");
    cr_assert_str_eq(answer("#### 18   "), "18");
    cr_assert_str_eq(answer("#### 7\r\n"), "7");
    cr_assert_str_eq(answer("##### 5"), "5");
    cr_assert_str_eq(answer("#### 1,000"), "1,000");
    cr_assert_str_eq(answer("#### −5"), "−5");
    cr_assert_str_eq(answer("no answer"), "<none>");
    cr_assert_str_eq(answer("####18"), "<none>");
    cr_assert_str_eq(answer("#### \n"), "<none>");
    cr_assert_str_eq(answer("18\n#### "), "<none>");
    cr_assert_str_eq(answer(""), "<none>");
}

Test(score_gsm8k, strings_not_numbers) {
    const char *t = "Janet sells 16 - 3 - 4 = 9 duck eggs.\n#### 18";
    cr_assert_eq(score_gsm8k("blah\n#### 18", t, err, sizeof err), 1);
    cr_assert_eq(score_gsm8k("  #### 18  ", t, err, sizeof err), 1);
    cr_assert_eq(score_gsm8k("#### 18.0", t, err, sizeof err), 0);
    cr_assert_eq(score_gsm8k("#### $18", t, err, sizeof err), 0);
    cr_assert_eq(score_gsm8k("#### 19", t, err, sizeof err), 0);
    cr_assert_eq(score_gsm8k("#### 180", t, err, sizeof err), 0);
    cr_assert_eq(score_gsm8k("#### 1000", "x\n#### 1,000", err, sizeof err), 0);
    cr_assert_eq(score_gsm8k("#### 1,000", "x\n#### 1,000", err, sizeof err), 1);
    cr_assert_eq(score_gsm8k("#### −18", "#### -18", err, sizeof err), 0);
}

Test(score_gsm8k, last_answer_counts) {
    cr_assert_eq(score_gsm8k("#### 18\n#### 5", "#### 18", err, sizeof err), 0);
    cr_assert_eq(score_gsm8k("#### 5\n#### 18", "#### 18", err, sizeof err), 1);
}

Test(score_gsm8k, missing_answers) {
    cr_assert_eq(score_gsm8k("The answer is 18", "#### 18", err, sizeof err), 0);
    cr_assert_eq(score_gsm8k("", "#### 18", err, sizeof err), 0);
    err[0] = 0;
    cr_assert_eq(score_gsm8k("#### 18", "18", err, sizeof err), -1);
    cr_assert(strstr(err, "####"), "%s", err);
    cr_assert_eq(score_gsm8k("", "", err, sizeof err), -1, "two missing answers are not equal");
}

/* --- NQ normalisation ------------------------------------------------------- */

static void expect_norm(const char *in, const char *want) {
    char *got = nq_normalize(in);
    cr_assert_not_null(got);
    cr_expect_str_eq(got, want, "nq_normalize(\"%s\")", in);
    free(got);
}

Test(nq_normalize, ascii) {
    expect_norm("The Beatles!", "beatles");
    expect_norm("  A  cat's   toy ", "cats toy");
    expect_norm("an apple and the pie", "apple and pie");
    expect_norm("theatre", "theatre");
    expect_norm("6 geese a-laying", "6 geese alaying");
    expect_norm("A_B the_end", "ab theend");
    expect_norm("a", "");
    expect_norm("/", "");
    expect_norm("", "");
    expect_norm("THE AN A", "");
    expect_norm("a\tb\nc", "b c");
}

Test(nq_normalize, unicode) {
    expect_norm("October\xc2\xa0" "29,\xc2\xa0" "1993", "october 29 1993"); /* no-break spaces */
    expect_norm("the\xe2\x80\x83" "end", "end");                              /* em space */
    expect_norm("Mötley Crüe", "mötley crüe");
    expect_norm("ÉCOLE", "école");
    expect_norm("Ÿ", "ÿ");
    expect_norm("Ŀ Ĳ Ŋ Ž", "ŀ ĳ ŋ ž");
    expect_norm("ΑΘΗΝΑ", "αθηνα");
    expect_norm("МОСКВА ЁЖ", "москва ёж");
    expect_norm("NGUYỄN", "nguyễn");
    expect_norm("O’Connor", "o’connor");  /* ’ is not ASCII punctuation */
    expect_norm("the–end", "–end");       /* – is not a word character */
    expect_norm("café a", "café");
    expect_norm("éa", "éa");              /* é is a word character */
    expect_norm("x\xcc\x81" "a y", "x\xcc\x81 y"); /* a combining accent is not */
    expect_norm("²a a²", "²a a²");
}

Test(nq_normalize, invalid_utf8_kept) {
    expect_norm("A\xff" "B", "a\xff" "b");
    expect_norm("a\xff", "a\xff");
    expect_norm("\xc3", "\xc3");          /* truncated sequence */
    expect_norm("\xc0\xaf the", "\xc0\xaf"); /* overlong '/' is not punctuation */
}

/* --- nq, nq_contains --------------------------------------------------------- */

Test(score_nq, exact_match_of_one_gold) {
    const char *t = "actor Guy Henry's; Guy Henry";
    cr_assert_eq(score_nq("Guy Henry", t, err, sizeof err), 1);
    cr_assert_eq(score_nq("guy henry.", t, err, sizeof err), 1);
    cr_assert_eq(score_nq("The Guy Henry", t, err, sizeof err), 1);
    cr_assert_eq(score_nq("Actor Guy Henrys", t, err, sizeof err), 1);
    cr_assert_eq(score_nq("Henry", t, err, sizeof err), 0, "not containment");
    cr_assert_eq(score_nq("It was Guy Henry", t, err, sizeof err), 0);
    cr_assert_eq(score_nq("", t, err, sizeof err), 0);
    cr_assert_eq(score_nq("Nine", "Nine", err, sizeof err), 1);
    cr_assert_eq(score_nq("9", "Nine", err, sizeof err), 0);
}

Test(score_nq, first_generated_entry_is_the_answer) {
    const char *t = "6 geese a-laying; maids a-milking";
    cr_assert_eq(score_nq("6 geese a-laying; maids a-milking", t, err, sizeof err), 1);
    cr_assert_eq(score_nq("maids a-milking", t, err, sizeof err), 1);
    cr_assert_eq(score_nq("swans; maids a-milking", t, err, sizeof err), 0);
    /* the reference's containment the wrong way round counted these */
    cr_assert_eq(score_nq("a", t, err, sizeof err), 0);
    cr_assert_eq(score_nq("geese", t, err, sizeof err), 0);
}

Test(score_nq, unicode_gold) {
    cr_assert_eq(score_nq("October 29, 1993", "October\xc2\xa0" "29,\xc2\xa0" "1993", err, sizeof err), 1);
    cr_assert_eq(score_nq("MÖTLEY CRÜE", "Mötley Crüe", err, sizeof err), 1);
    cr_assert_eq(score_nq("Motley Crue", "Mötley Crüe", err, sizeof err), 0);
}

Test(score_nq, gold_that_normalises_to_empty) {
    /* nq_open_test has one: "/" (what is an example of a file path); the
     * standard exact match accepts any generation that normalises to "" */
    cr_assert_eq(score_nq("/", "/", err, sizeof err), 1);
    cr_assert_eq(score_nq("The", "/", err, sizeof err), 1);
    cr_assert_eq(score_nq("C:/x", "/", err, sizeof err), 0);
}

Test(score_nq, malformed_targets) {
    err[0] = 0;
    cr_assert_eq(score_nq("x", "", err, sizeof err), -1);
    cr_assert(*err);
    cr_assert_eq(score_nq("x", "  \n", err, sizeof err), -1);
    err[0] = 0;
    cr_assert_eq(score_nq("a", "a; ; b", err, sizeof err), -1);
    cr_assert(strstr(err, "empty"), "%s", err);
    cr_assert_eq(score_nq_contains("a", "a; ; b", err, sizeof err), -1);
    cr_assert_eq(score_nq_contains("a", "", err, sizeof err), -1);
    /* ';' without a space does not separate */
    cr_assert_eq(score_nq("a;b", "a;b", err, sizeof err), 1);
    cr_assert_eq(score_nq("b", "a;b", err, sizeof err), 0);
}

Test(score_nq_contains, whole_tokens) {
    const char *t = "actor Guy Henry's; Guy Henry";
    cr_assert_eq(score_nq_contains("It was Guy Henry.", t, err, sizeof err), 1);
    cr_assert_eq(score_nq_contains("Guy Henry", t, err, sizeof err), 1);
    cr_assert_eq(score_nq_contains("guy henry; someone else", t, err, sizeof err), 1);
    cr_assert_eq(score_nq_contains("Guy Henryson", t, err, sizeof err), 0);
    cr_assert_eq(score_nq_contains("McGuy Henry", t, err, sizeof err), 0);
    cr_assert_eq(score_nq_contains("Henry Guy", t, err, sizeof err), 0);
    cr_assert_eq(score_nq_contains("Henry", t, err, sizeof err), 0);
    cr_assert_eq(score_nq_contains("", t, err, sizeof err), 0);
    cr_assert_eq(score_nq_contains("swans; maids a-milking!", "6 geese a-laying; maids a-milking", err, sizeof err),
                 1);
}

Test(score_nq_contains, empty_gold_never_matches) {
    cr_assert_eq(score_nq_contains("/", "/", err, sizeof err), 0);
    cr_assert_eq(score_nq_contains("anything", "/; the", err, sizeof err), 0);
    cr_assert_eq(score_nq_contains("the x", "/; x", err, sizeof err), 1);
}

Test(text_metric, find) {
    cr_assert_eq(text_metric_find("exact"), score_exact);
    cr_assert_eq(text_metric_find("startswith"), score_startswith);
    cr_assert_eq(text_metric_find("gsm8k"), score_gsm8k);
    cr_assert_eq(text_metric_find("nq"), score_nq);
    cr_assert_eq(text_metric_find("nq_contains"), score_nq_contains);
    cr_assert_null(text_metric_find("exec"));
    cr_assert_null(text_metric_find("Exact"));
    cr_assert_null(text_metric_find(NULL));
}

/* --- HellaSwag ----------------------------------------------------------------- */

Test(hellaswag, parse) {
    HellaSwagItem it;
    const char *u = "[header] How to x [step] Do y.\nA) one.\nB) two\nC) three [substeps] more.\nD) four";
    cr_assert_eq(hellaswag_parse(u, "C", &it, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(it.context, "[header] How to x [step] Do y.");
    cr_assert_str_eq(it.endings[0], "one.");
    cr_assert_str_eq(it.endings[1], "two");
    cr_assert_str_eq(it.endings[2], "three [substeps] more.");
    cr_assert_str_eq(it.endings[3], "four");
    cr_assert_eq(it.gold, 2);
    hellaswag_item_free(&it);
    cr_assert_null(it.buf);
    hellaswag_item_free(&it); /* twice is safe */
    cr_assert_eq(hellaswag_parse(u, " A \n", &it, err, sizeof err), 0);
    cr_assert_eq(it.gold, 0);
    hellaswag_item_free(&it);
    cr_assert_eq(hellaswag_parse(u, "D", &it, err, sizeof err), 0);
    cr_assert_eq(it.gold, 3);
    hellaswag_item_free(&it);
}

Test(hellaswag, endings_and_context_with_newlines) {
    HellaSwagItem it;
    const char *u = "line 1\nline 2\nA) one\nstill one\nB) two\nC) three\nD) four\n";
    cr_assert_eq(hellaswag_parse(u, "B", &it, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(it.context, "line 1\nline 2");
    cr_assert_str_eq(it.endings[0], "one\nstill one");
    cr_assert_str_eq(it.endings[3], "four\n", "kept verbatim");
    hellaswag_item_free(&it);
}

static void expect_parse_error(const char *user, const char *gold, const char *what) {
    HellaSwagItem it;
    err[0] = 0;
    cr_assert_eq(hellaswag_parse(user, gold, &it, err, sizeof err), -1, "%s", what);
    cr_assert(*err, "%s: no message", what);
    cr_assert_null(it.buf, "%s", what);
    cr_assert_null(it.context, "%s", what);
}

Test(hellaswag, malformed) {
    expect_parse_error("c\nA) a\nB) b\nC) c", "A", "no D");
    expect_parse_error("c\nA) a\nB) b\nB) b2\nC) c\nD) d", "A", "B twice");
    expect_parse_error("c\nB) b\nA) a\nC) c\nD) d", "A", "out of order");
    expect_parse_error("A) a\nB) b\nC) c\nD) d", "A", "no context line");
    expect_parse_error(" \nA) a\nB) b\nC) c\nD) d", "A", "blank context");
    expect_parse_error("c\nA) \nB) b\nC) c\nD) d", "A", "empty ending");
    expect_parse_error("c\nA) a\nB) b\nC) c\nD)  ", "A", "empty last ending");
    expect_parse_error("c\nA)a\nB) b\nC) c\nD) d", "A", "marker without space");
    expect_parse_error("c\nA) a\nB) b\nC) c\nD) d", "E", "gold E");
    expect_parse_error("c\nA) a\nB) b\nC) c\nD) d", "AB", "gold AB");
    expect_parse_error("c\nA) a\nB) b\nC) c\nD) d", "", "gold empty");
    expect_parse_error("c\nA) a\nB) b\nC) c\nD) d", "a", "gold lowercase");
    expect_parse_error("", "A", "empty user");
}

/* --- the shipped data files ------------------------------------------------------ */

/* Open data file name from the repository's data/ or the shared data sets;
 * NULL when neither exists (the caller skips). */
static FILE *open_data(const char *name, char *path, size_t n) {
    const char *dirs[] = {SOURCE_DIR "/data", "/work/shared/datasets"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, n, "%s/%s", dirs[i], name);
        FILE *f = fopen(path, "r");
        if (f) return f;
    }
    return NULL;
}

/* The content of messages[k] of a chat line, or of obj[key][0] when key. */
static const char *content(const cJSON *o, const char *key, int k) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    const cJSON *m = cJSON_GetArrayItem(a, k);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
    cr_assert(cJSON_IsString(c), "no %s[%d].content", key, k);
    return c->valuestring;
}

/* Call fn on every line of data file name; skips the test when absent.
 * Returns the number of lines. */
static int each_line(const char *name, void (*fn)(const cJSON *o, int line, void *ctx), void *ctx) {
    char path[1024];
    FILE *f = open_data(name, path, sizeof path);
    if (!f) cr_skip_test("%s not found in %s/data or /work/shared/datasets", name, SOURCE_DIR);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *o = cJSON_Parse(line);
        cr_assert_not_null(o, "%s:%d: not JSON", path, n + 1);
        fn(o, ++n, ctx);
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    return n;
}

typedef struct HsCount { int gold[4]; } HsCount;

static void hs_line(const cJSON *o, int line, void *ctx) {
    HsCount *c = ctx;
    HellaSwagItem it;
    int rc = hellaswag_parse(content(o, "messages", 1), content(o, "messages", 2), &it, err, sizeof err);
    cr_assert_eq(rc, 0, "line %d: %s", line, err);
    cr_assert_str_eq(it.context, content(o, "text", 0), "line %d: context", line);
    cr_assert_str_eq(it.endings[it.gold], content(o, "code", 0), "line %d: gold ending", line);
    c->gold[it.gold]++;
    hellaswag_item_free(&it);
}

Test(data, hellaswag_test_parses) {
    HsCount c = {{0}};
    int n = each_line("hellaswag_test.jsonl", hs_line, &c);
    cr_assert_eq(n, 2000);
    cr_assert_eq(c.gold[0], 520);
    cr_assert_eq(c.gold[1], 460);
    cr_assert_eq(c.gold[2], 518);
    cr_assert_eq(c.gold[3], 502);
}

typedef struct NqCount { int multi; } NqCount;

static void nq_line(const cJSON *o, int line, void *ctx) {
    NqCount *c = ctx;
    const char *t = content(o, "messages", 2);
    c->multi += strstr(t, "; ") != NULL;
    /* every gold answer, generated alone, is correct */
    char buf[1024];
    const char *p = t;
    for (;;) {
        const char *e = strstr(p, "; ");
        size_t n = e ? (size_t)(e - p) : strlen(p);
        cr_assert_lt(n, sizeof buf);
        memcpy(buf, p, n);
        buf[n] = 0;
        cr_assert_eq(score_nq(buf, t, err, sizeof err), 1, "line %d: %s / %s: %s", line, buf, t, err);
        if (!e) break;
        p = e + 2;
    }
}

Test(data, nq_open_test_targets) {
    NqCount c = {0};
    int n = each_line("nq_open_test.jsonl", nq_line, &c);
    cr_assert_eq(n, 1769);
    cr_assert_eq(c.multi, 729);
}

static void gsm8k_line(const cJSON *o, int line, void *ctx) {
    (void)ctx;
    const char *t = content(o, "messages", 2);
    cr_assert_eq(score_gsm8k(t, t, err, sizeof err), 1, "line %d: %s", line, err);
}

Test(data, gsm8k_test_targets) {
    cr_assert_eq(each_line("gsm8k_test.jsonl", gsm8k_line, NULL), 1319);
}
