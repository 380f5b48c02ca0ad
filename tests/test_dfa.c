/* Metric dfa (engine/dfa_equiv.h, engine/regex_nlrx.h, docs/dfa.md):
 *  - pairs equal by construction that string matching misses (reordered
 *    unions and intersections, x.*.* / x.*, x+ / xx*, {n,} / n copies and a
 *    star, double complement, De Morgan, reordered classes), and the
 *    dialect's corners (dk.brics' empty ranges and {n,m} with m < n, '#',
 *    '@', quoted strings, the byte alphabet of '.', '~' and '[^...]');
 *  - pairs different by construction;
 *  - precedence | < & < concatenation < repetition < ~ (~x* is (~x)*);
 *  - the two readings of \b;
 *  - malformed generated text is DFA_INVALID, a malformed target an error;
 *  - the state and time limits: DFA_UNDECIDED, within about the limit;
 *  - character sets libfa finds awkward ('^', ']', '\', both halves of
 *    the byte range);
 *  - every distinct target T of data/synth_test.jsonl and
 *    data/turk_test.jsonl parses, builds within the default state limit and
 *    is DFA_EQUAL to itself; a deterministic sample (every 4th in file
 *    order) also equals the rewrite (T)&(@) in process, every 28th through
 *    nlrx_dfa_equiv's fork (all rewrites take twice the time);
 *  - dfa_rescore_predictions on a small predictions file. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <fa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dfa_equiv.h"
#include "regex_nlrx.h"

static DfaVerdict verdict_with(const char *g, const char *t, NlrxBoundary wb) {
    DfaVerdict v = DFA_DIFFERENT;
    char err[256];
    int rc = nlrx_dfa_equiv_boundary(g, t, NULL, wb, &v, err, sizeof err);
    cr_assert_eq(rc, 0, "\"%s\" vs \"%s\": %s", g, t, err);
    return v;
}

static DfaVerdict verdict(const char *g, const char *t) { return verdict_with(g, t, NLRX_BOUNDARY_LITERAL); }

static void expect_pairs(const char *const (*pairs)[2], int n, DfaVerdict want) {
    for (int i = 0; i < n; i++) {
        DfaVerdict v = verdict(pairs[i][0], pairs[i][1]);
        cr_expect_eq(v, want, "\"%s\" vs \"%s\": %s, want %s", pairs[i][0], pairs[i][1], dfa_verdict_name(v),
                     dfa_verdict_name(want));
    }
}

#define NPAIRS(p) ((int)(sizeof(p) / sizeof(p)[0]))

/* ---- equal and different by construction ---- */

Test(dfa_equiv, rewrites_string_match_misses) {
    static const char *const eq[][2] = {
        {"~((dog.*[0-9].*){3,})", "~((dog.*[0-9].*){3,})"},
        {"(dog)|(truck)", "(truck)|(dog)"},
        {"x.*.*", "x.*"},
        {"([0-9])+", "[0-9]([0-9])*"},
        {"(a){2,}", "aa(a)*"},
        {"~(~(x))", "x"},
        {"(.*dog.*)&([A-Z].*)", "([A-Z].*)&(.*dog.*)"},
        {"~((.*dog.*)|(([0-9])+))", "(~(.*dog.*))&(~(([0-9])+))"},
        {"[AEIOUaeiou]", "[aeiouAEIOU]"},
        {"(([A-Za-z])|([0-9]))+", "([A-Za-z0-9])+"},
        {"(ab){2}", "abab"},
        {"a{1,3}", "a|aa|aaa"},
        {"a?", "(a)|()"},
        {"\"dog\"", "dog"},
    };
    expect_pairs(eq, NPAIRS(eq), DFA_EQUAL);
}

/* dk.brics' corners: a reversed range and {n,m} with m < n are empty,
 * {0} is the empty string, '#' empty, '@' every string; '.', '~' and
 * [^...] range over one alphabet (all bytes), so ~# is .* and [^a]|a is . */
Test(dfa_equiv, dialect_corners) {
    static const char *const eq[][2] = {
        {"[z-a]", "#"},        {"(a){3,2}", "#"},   {"(dog){0}", "()"}, {"@", ".*"},
        {"~(#)", ".*"},        {"~(.*)", "#"},      {"[^a]|a", "."},    {"[A-9]x|dog", "dog"},
        {"(~(dog))&(dog)", "#"}, {"[-a]", "[a-]"},  {"\\.", "[.]"},     {"\\d", "d"},
        {"*a", "\\*a"},        {"a|)", "a|\\)"},  {"[]a]", "\\]|a"},
    };
    expect_pairs(eq, NPAIRS(eq), DFA_EQUAL);
    static const char *const ne[][2] = {{"[^a]", "."}, {"[A-z]", "[A-Za-z]"}, {"#", "()"}};
    expect_pairs(ne, NPAIRS(ne), DFA_DIFFERENT);
}

Test(dfa_equiv, known_different) {
    static const char *const ne[][2] = {
        {"dog", "dogs"},
        {".*dog.*", "dog.*"},
        {"(a){3,}", "(a){4,}"},
        {"((dog)|([0-9])){3,}", "((dog)|([0-9])){4,}"},
        {"[AEIOUaeiou]", "[AEIOUaeio]"},
        {"~((dog)&([A-Za-z]))", "~(dog)"},
        {"(.*)([a-z])", "([a-z])(.*)"},
    };
    expect_pairs(ne, NPAIRS(ne), DFA_DIFFERENT);
}

/* | < & < concatenation < repetition < ~ (dk.brics RegExp). */
Test(dfa_equiv, precedence) {
    static const char *const eq[][2] = {
        {"~a*", "(~a)*"},      /* ~ binds tighter than * */
        {"~ab", "(~a)b"},      /* ... and than concatenation */
        {"~a|b", "(~a)|b"},
        {"ab|cd", "(ab)|(cd)"}, /* concatenation tighter than | */
        {"ab&a.", "ab"},       /* concatenation tighter than & */
        {"a|b&c", "a"},        /* & tighter than |: a|(b&c) */
        {"ab*", "a(b*)"},      /* repetition tighter than concatenation */
        {"a|b*", "a|(b*)"},
        {"~~a", "a"},
    };
    expect_pairs(eq, NPAIRS(eq), DFA_EQUAL);
    static const char *const ne[][2] = {
        {"~a*", "~(a*)"}, {"~ab", "~(ab)"}, {"ab|cd", "a(b|c)d"},
        {"a|b&c", "(a|b)&c"}, {"ab*", "(ab)*"}, {"~a|b", "~(a|b)"},
    };
    expect_pairs(ne, NPAIRS(ne), DFA_DIFFERENT);
}

Test(dfa_equiv, word_boundary_readings) {
    cr_expect_eq(verdict("\\bdog\\b", "bdogb"), DFA_EQUAL); /* dk.brics: \b is the letter b */
    cr_expect_eq(verdict("\\bdog\\b", "dog"), DFA_DIFFERENT);
    cr_expect_eq(verdict_with("\\bdog\\b", "dog", NLRX_BOUNDARY_EMPTY), DFA_EQUAL);
    cr_expect_eq(verdict_with("\\bdog\\b", "bdogb", NLRX_BOUNDARY_EMPTY), DFA_DIFFERENT);
    cr_expect_eq(verdict_with("[\\b]", "b", NLRX_BOUNDARY_EMPTY), DFA_EQUAL); /* in a class: the letter */
    cr_expect_eq(verdict_with("(\\bdog\\b){2,}", "\\b(dog){2,}\\b", NLRX_BOUNDARY_EMPTY), DFA_EQUAL);
    cr_expect_eq(verdict("(\\bdog\\b){2,}", "\\b(dog){2,}\\b"), DFA_DIFFERENT);
}

/* Bytes libfa's brackets handle apart: '^' first, ']' last, '\', the
 * 0x7f/0x80 split of negated classes. */
Test(dfa_equiv, awkward_character_sets) {
    static const char *const eq[][2] = {
        {"[Z-a]", "[Z\\[\\\\\\]\\^_`a]"},
        {"[\\]-a]", "[\\]\\^_`a]"},
        {"[\\^-a]", "\\^|_|`|a"},
        {"[Z-\\]]", "Z|\\[|\\\\|\\]"},
        {"[!-~]", "~(()|..+|[^!-~])"},
        {"[^ -~]", "~(()|..+|[ -~])"},
        {"[^b]|b", "."},
    };
    expect_pairs(eq, NPAIRS(eq), DFA_EQUAL);
}

/* ---- malformed text ---- */

Test(dfa_equiv, malformed_generated_is_invalid) {
    static const char *const bad[] = {
        "(dog", "dog)", "(dog))", "(a|)", "a{3", "a{}", "a{,3}", "[a-", "[a", "[]", "", "~", "a|", "a&",
        "\\", "<1-5>", "<dog>", "\"dog", "a{99999999999}", "caf\xc3\xa9", "do\ng", "do\tg",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        DfaVerdict v = DFA_EQUAL;
        char err[256] = "";
        int rc = nlrx_dfa_equiv(bad[i], "dog", NULL, &v, err, sizeof err);
        cr_expect_eq(rc, 0, "\"%s\": %s", bad[i], err);
        cr_expect_eq(v, DFA_INVALID, "\"%s\": %s", bad[i], dfa_verdict_name(v));
        cr_expect(err[0] != '\0', "\"%s\": no reason given", bad[i]);
    }
}

Test(dfa_equiv, long_and_deep_input_is_invalid) {
    char *s = malloc(NLRX_MAX_LEN + 2);
    memset(s, 'a', NLRX_MAX_LEN + 1);
    s[NLRX_MAX_LEN + 1] = '\0';
    cr_expect_eq(verdict(s, "a*"), DFA_INVALID);
    s[NLRX_MAX_LEN] = '\0'; /* the longest accepted: a literal, built in n log n */
    /* A generous CPU limit: this checks the length limit, not the time limit, and a
     * sanitizer build needs several times the default second for 4096 states. */
    DfaLimits slow = {30.0, DFA_DEFAULT_MAX_STATES};
    DfaVerdict v = DFA_EQUAL;
    char err[256] = "";
    cr_expect_eq(nlrx_dfa_equiv_boundary(s, "a*", &slow, NLRX_BOUNDARY_LITERAL, &v, err, sizeof err), 0, "%s", err);
    cr_expect_eq(v, DFA_DIFFERENT, "%s: %s", dfa_verdict_name(v), err);
    int d = NLRX_MAX_DEPTH + 1;
    for (int i = 0; i < d; i++) s[i] = '(', s[d + 1 + i] = ')';
    s[d] = 'a';
    s[2 * d + 1] = '\0';
    cr_expect_eq(verdict(s, "a"), DFA_INVALID);
    memset(s, '~', (size_t)d);
    strcpy(s + d, "a");
    cr_expect_eq(verdict(s, "a"), DFA_INVALID);
    d -= 2; /* within the limit: equal */
    for (int i = 0; i < d; i++) s[i] = '(', s[d + 1 + i] = ')';
    s[d] = 'a';
    s[2 * d + 1] = '\0';
    cr_expect_eq(verdict(s, "a"), DFA_EQUAL);
    free(s);
}

Test(dfa_equiv, malformed_target_is_an_error) {
    DfaVerdict v;
    char err[256];
    cr_expect_eq(nlrx_dfa_equiv("dog", "(dog", NULL, &v, err, sizeof err), -1);
    cr_expect(strstr(err, "target") != NULL, "%s", err);
    cr_expect_eq(nlrx_dfa_equiv("(dog", "(dog", NULL, &v, err, sizeof err), -1);
    DfaLimits l = {0, 10};
    cr_expect_eq(nlrx_dfa_equiv("dog", "dog", &l, &v, err, sizeof err), -1);
    cr_expect_eq(nlrx_check("(dog)|(truck)", err, sizeof err), 0);
    cr_expect_eq(nlrx_check("(dog", err, sizeof err), -1);
    cr_expect(strstr(err, "position 4") != NULL, "%s", err);
}

/* ---- limits ---- */

static double wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* .*a.{n}: its deterministic automaton has 2^(n+1) states. */
Test(dfa_limits, time_limit_gives_undecided) {
    DfaLimits l = {0.2, 100000000L};
    DfaVerdict v = DFA_EQUAL;
    char err[256];
    double t0 = wall();
    int rc = nlrx_dfa_equiv("~(.*a.{40})", "~(.*a.{39})", &l, &v, err, sizeof err);
    double dt = wall() - t0;
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect_eq(v, DFA_UNDECIDED, "%s", dfa_verdict_name(v));
    cr_expect(strstr(err, "time limit") != NULL, "%s", err);
    cr_expect(dt < 4 * l.seconds + 2.5, "took %.2f s", dt);
    /* identical texts are equal without building */
    cr_assert_eq(nlrx_dfa_equiv("~(.*a.{40})", "~(.*a.{40})", &l, &v, err, sizeof err), 0, "%s", err);
    cr_expect_eq(v, DFA_EQUAL);
}

/* In process, the builder gives up between operations past its deadline. */
Test(dfa_limits, builder_deadline) {
    NlrxRegex r = {0};
    char err[256];
    cr_assert_eq(nlrx_parse(".*a.{10}", NLRX_BOUNDARY_LITERAL, &r, err, sizeof err), 0, "%s", err);
    struct fa *a = NULL;
    cr_expect_eq(nlrx_build(&r, 100000000L, 1e-9, &a, err, sizeof err), NLRX_BUILD_TIME);
    cr_expect_null(a);
    cr_expect(strstr(err, "time limit") != NULL, "%s", err);
    cr_assert_eq(nlrx_build(&r, 100000000L, 0, &a, err, sizeof err), NLRX_BUILD_OK, "%s", err);
    cr_expect_gt(nlrx_fa_states(a), 1024);
    fa_free(a);
    nlrx_free(&r);
}

Test(dfa_limits, state_limit_gives_undecided) {
    DfaLimits l = {5.0, 20};
    DfaVerdict v = DFA_EQUAL;
    char err[256];
    cr_assert_eq(nlrx_dfa_equiv("(dog.*[0-9].*){7,}", "(dog.*[0-9].*){6,}", &l, &v, err, sizeof err), 0, "%s", err);
    cr_expect_eq(v, DFA_UNDECIDED);
    cr_expect(strstr(err, "state limit") != NULL, "%s", err);
    l.max_states = 100; /* .*a.{8}: 512 states once determinised after the concatenation */
    cr_assert_eq(nlrx_dfa_equiv(".*a.{8}", ".*a.{7}", &l, &v, err, sizeof err), 0, "%s", err);
    cr_expect_eq(v, DFA_UNDECIDED);
    cr_expect(strstr(err, "state limit") != NULL, "%s", err);
    l.max_states = 100000;
    cr_assert_eq(nlrx_dfa_equiv(".*a.{8}", ".*a.{7}", &l, &v, err, sizeof err), 0, "%s", err);
    cr_expect_eq(v, DFA_DIFFERENT);
    cr_assert_eq(nlrx_dfa_equiv("(dog.*[0-9].*){7,}", "(dog.*[0-9].*){6,}", &l, &v, err, sizeof err), 0, "%s", err);
    cr_expect_eq(v, DFA_DIFFERENT);
    double t0 = wall(); /* a huge count is refused before building */
    cr_assert_eq(nlrx_dfa_equiv("(a){2000000000}", "a", &l, &v, err, sizeof err), 0, "%s", err);
    cr_expect_eq(v, DFA_UNDECIDED);
    cr_expect(wall() - t0 < 1.0);
}

/* ---- every target of the NL-RX test splits ---- */

/* The assistant message of each line of data file stem, distinct, into *out. */
static int read_targets(const char *stem, char ***out, int n) {
    char path[512];
    snprintf(path, sizeof path, "%s/data/%s.jsonl", SOURCE_DIR, stem);
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s", path);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *o = cJSON_Parse(line);
        cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "messages"), 2);
        cJSON *c = cJSON_GetObjectItem(m, "content");
        cr_assert(cJSON_IsString(c), "%s: bad line", path);
        int seen = 0;
        for (int i = 0; i < n && !seen; i++) seen = !strcmp((*out)[i], c->valuestring);
        if (!seen) {
            *out = realloc(*out, (size_t)(n + 1) * sizeof **out);
            (*out)[n++] = strdup(c->valuestring);
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    return n;
}

static struct fa *built(const char *re) {
    NlrxRegex r = {0};
    char err[256];
    cr_assert_eq(nlrx_parse(re, NLRX_BOUNDARY_LITERAL, &r, err, sizeof err), 0, "\"%s\": %s", re, err);
    struct fa *a = NULL;
    NlrxBuild s = nlrx_build(&r, DFA_DEFAULT_MAX_STATES, 0, &a, err, sizeof err);
    cr_assert_eq(s, NLRX_BUILD_OK, "\"%s\": %s", re, err);
    nlrx_free(&r);
    return a;
}

Test(dfa_data, every_test_target_parses_and_equals_itself) {
    char **t = NULL;
    int n = read_targets("synth_test", &t, 0);
    n = read_targets("turk_test", &t, n);
    cr_assert_gt(n, 1900);
    char buf[NLRX_MAX_LEN + 16];
    for (int i = 0; i < n; i++) {
        struct fa *a = built(t[i]);
        snprintf(buf, sizeof buf, "(%s)&(@)", t[i]);
        if (i % 4 == 0) { /* a rewrite of every 4th, through the fork for every 28th */
            struct fa *b = built(buf);
            cr_expect_eq(fa_equals(a, b), 1, "\"%s\"", t[i]);
            fa_free(b);
        }
        if (i % 28 == 0) cr_expect_eq(verdict(buf, t[i]), DFA_EQUAL, "\"%s\"", t[i]);
        cr_expect_eq(verdict(t[i], t[i]), DFA_EQUAL, "\"%s\"", t[i]);
        fa_free(a);
        free(t[i]);
    }
    free(t);
}

/* ---- rescoring ---- */

static void write_file(char *path, const char *text) {
    strcpy(path, "/tmp/test_dfa_XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

Test(dfa_rescore, counts) {
    char path[64];
    write_file(path,
               "{\"prompt\":\"p\",\"target\":\"(dog)|(truck)\",\"generated\":\"(dog)|(truck)\",\"exact\":true}\n"
               "{\"target\":\"(dog)|(truck)\",\"generated\":\" (truck)|(dog) \",\"exact\":false}\n"
               "\n"
               "{\"target\":\"x.*\",\"generated\":\"x.*.*\",\"exact\":false,\"startswith\":true}\n"
               "{\"target\":\"dog\",\"generated\":\"dogs\",\"exact\":false}\n"
               "{\"target\":\"dog\",\"generated\":\"(dog\",\"exact\":false}\n"
               "{\"target\":\"~(.*a.{40})\",\"generated\":\"~(.*a.{39})\",\"exact\":false}\n");
    DfaLimits l = {0.1, 100000000L};
    DfaCounts c;
    char err[256];
    cr_assert_eq(dfa_rescore_predictions(path, &l, &c, err, sizeof err), 0, "%s", err);
    cr_expect_eq(c.n, 6);
    cr_expect_eq(c.exact, 1);
    cr_expect_eq(c.dfa_equal, 3);
    cr_expect_eq(c.dfa_different, 1);
    cr_expect_eq(c.invalid, 1);
    cr_expect_eq(c.undecided, 1);
    cr_expect_eq(c.exact_wrong_but_dfa_right, 2);
    cr_expect_eq(c.dfa_wrong_but_exact_right, 0);
    cr_expect(c.seconds > 0);
    unlink(path);
}

Test(dfa_rescore, errors_name_file_and_line) {
    char path[64], err[256];
    DfaCounts c;
    write_file(path, "{\"target\":\"dog\",\"generated\":\"dog\",\"exact\":true}\n{\"target\":\"dog\"}\n");
    cr_expect_eq(dfa_rescore_predictions(path, NULL, &c, err, sizeof err), -1);
    cr_expect(strstr(err, ":2:") != NULL, "%s", err);
    cr_expect_eq(c.n, 1);
    unlink(path);
    write_file(path, "{\"target\":\"(dog\",\"generated\":\"dog\",\"exact\":false}\n");
    cr_expect_eq(dfa_rescore_predictions(path, NULL, &c, err, sizeof err), -1);
    cr_expect(strstr(err, ":1: target") != NULL, "%s", err);
    unlink(path);
    write_file(path, "not json\n");
    cr_expect_eq(dfa_rescore_predictions(path, NULL, &c, err, sizeof err), -1);
    unlink(path);
    cr_expect_eq(dfa_rescore_predictions("/nonexistent/predictions.jsonl", NULL, &c, err, sizeof err), -1);
}
