/* Greedy decoding with the KV cache (generate_greedy) against a reference that
 * recomputes the whole sequence with the training forward at every step (no
 * cache): tokens must be identical, one prompt at a time and batched, for
 * max_new = 1, and with an ⟨eos⟩ that stops some sequences early; prompts
 * that share prefixes (computed once and copied) give the same tokens as
 * each alone, whatever the batch and its order. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "generate.h"
#include "model.h"
#include "model_config.h"
#include "rng.h"
#include "tokenizer.h"

enum { NP = 5, MAXP = 40, MAX_NEW = 8 };

static const int PLEN[NP] = {1, 3, 6, 17, 40};

static Model M;
static int PROMPT[NP][MAXP];
static const int *PROMPTS[NP];

static void setup(void) {
    backend_cpu()->set_threads(backend_cpu(), 1);
    ModelConfig mc;
    char err[256];
    cr_assert_eq(model_config_preset("pico", TOK_VOCAB, &mc, err, sizeof err), 0, "%s", err);
    cr_assert_eq(model_init(&M, &mc, NULL, backend_cpu(), err, sizeof err), 0, "%s", err);
    Rng r = rng_stream(2024, "init");
    model_init_weights(&M, &r, 0.3f); /* large init: varied outputs */
    Rng p = rng_stream(2024, "prompts");
    for (int i = 0; i < NP; i++) {
        PROMPT[i][0] = TOK_BOS;
        for (int t = 1; t < PLEN[i]; t++) PROMPT[i][t] = 'a' + (int)rng_below(&p, 26);
        PROMPTS[i] = PROMPT[i];
    }
}

static void teardown(void) { model_free(&M); }

TestSuite(generate, .init = setup, .fini = teardown);

/* Reference: recompute the full sequence each step with model_forward (one
 * row, one SEG_NTP segment, positions 0..T-1, no targets), logits of the last
 * token = h·lm_headᵀ, argmax. Stops at eos (not emitted) or after max_new.
 * *margin receives the smallest top-1 / top-2 logit gap seen. */
static int ref_generate(const int *prompt, int plen, int max_new, int eos, int *out, double *margin) {
    int cap = plen + max_new, C = M.cfg.dim, V = M.cfg.vocab_size;
    int *ids = malloc(sizeof(int) * cap), *pos = malloc(sizeof(int) * cap), *seg = malloc(sizeof(int) * cap),
        *tgt = malloc(sizeof(int) * cap), row_start[2] = {0, 0};
    cr_assert(ids && pos && seg && tgt);
    memcpy(ids, prompt, sizeof(int) * plen);
    for (int t = 0; t < cap; t++) { pos[t] = t; seg[t] = SEG_NTP; tgt[t] = -1; }
    Batch b;
    memset(&b, 0, sizeof b);
    b.ids = ids; b.pos = pos; b.seg = seg; b.tgt = tgt; b.cap = cap;
    b.nrows = 1; b.rowcap = 2; b.row_start = row_start;
    b.nseg = 1; b.vis[0] = 1;
    const float *W = model_param(&M, M.tid_lm_head);
    float *lg = malloc(sizeof(float) * V);
    int n = 0;
    for (int step = 0; step < max_new; step++) {
        int T = plen + step;
        b.n = T;
        row_start[1] = T;
        const float *h = model_forward(&M, &b);
        cr_assert(h, "model_forward failed");
        h += (size_t)(T - 1) * C;
        int best = 0;
        for (int v = 0; v < V; v++) {
            float s = 0;
            for (int c = 0; c < C; c++) s += h[c] * W[(size_t)v * C + c];
            lg[v] = s;
            if (s > lg[best]) best = v;
        }
        double second = -INFINITY;
        for (int v = 0; v < V; v++)
            if (v != best) second = fmax(second, lg[v]);
        *margin = fmin(*margin, lg[best] - second);
        if (best == eos) break;
        out[n++] = best;
        ids[T] = best;
    }
    free(ids); free(pos); free(seg); free(tgt); free(lg);
    return n;
}

typedef struct Gen { int out[NP][MAX_NEW + 1]; int olen[NP]; } Gen;

/* generate_greedy over prompts idx[0..m) at once. */
static void run_gen(const int *idx, int m, int max_new, int eos, Gen *g) {
    const int *pr[NP];
    int pl[NP], *out[NP], ol[NP];
    for (int k = 0; k < m; k++) {
        pr[k] = PROMPTS[idx[k]];
        pl[k] = PLEN[idx[k]];
        out[k] = g->out[idx[k]];
        g->out[idx[k]][max_new] = -12345; /* guard: capacity is max_new */
    }
    cr_assert_eq(generate_greedy(&M, pr, pl, m, max_new, eos, out, ol), 0, "generate_greedy failed");
    for (int k = 0; k < m; k++) {
        g->olen[idx[k]] = ol[k];
        cr_assert(ol[k] >= 0 && ol[k] <= max_new, "olen %d out of range", ol[k]);
        cr_expect_eq(g->out[idx[k]][max_new], -12345, "generate_greedy wrote past max_new");
    }
}

static void reference(int max_new, int eos, Gen *g) {
    double margin = INFINITY;
    for (int i = 0; i < NP; i++) g->olen[i] = ref_generate(PROMPTS[i], PLEN[i], max_new, eos, g->out[i], &margin);
    if (getenv("TEST_GENERATE_VERBOSE")) {
        fprintf(stderr, "reference (max_new %d, eos %d, min logit gap %g):\n", max_new, eos, margin);
        for (int i = 0; i < NP; i++) {
            fprintf(stderr, "  prompt %d (len %2d):", i, PLEN[i]);
            for (int t = 0; t < g->olen[i]; t++) fprintf(stderr, " %d", g->out[i][t]);
            fprintf(stderr, "\n");
        }
    }
    if (margin < 1e-4) cr_log_warn("reference has a near tie (logit gap %g): token comparisons may be fragile", margin);
}

static void expect_same(const Gen *got, const Gen *ref, const char *what) {
    for (int i = 0; i < NP; i++) {
        cr_expect_eq(got->olen[i], ref->olen[i], "%s: prompt %d (len %d): %d tokens, reference %d", what, i, PLEN[i],
                     got->olen[i], ref->olen[i]);
        int n = got->olen[i] < ref->olen[i] ? got->olen[i] : ref->olen[i];
        for (int t = 0; t < n; t++)
            cr_expect_eq(got->out[i][t], ref->out[i][t], "%s: prompt %d token %d: %d, reference %d", what, i, t,
                         got->out[i][t], ref->out[i][t]);
    }
}

/* The comparison must be able to notice a difference: outputs are non-empty,
 * use several distinct tokens, and differ between prompts. */
static void expect_varied(const Gen *g, int max_new) {
    int seen[TOK_VOCAB] = {0}, distinct = 0, total = 0, differ = 0;
    for (int i = 0; i < NP; i++) {
        total += g->olen[i];
        for (int t = 0; t < g->olen[i]; t++)
            if (!seen[g->out[i][t]]++) distinct++;
        if (i > 0 && (g->olen[i] != g->olen[0] || memcmp(g->out[i], g->out[0], sizeof(int) * g->olen[0]))) differ++;
    }
    cr_assert_gt(total, NP * max_new / 2, "reference outputs are mostly empty (%d tokens)", total);
    cr_assert_geq(distinct, max_new > 1 ? 4 : 2, "reference outputs use only %d distinct tokens", distinct);
    cr_assert_gt(differ, 0, "all prompts give the same output");
}

static const int ALL[NP] = {0, 1, 2, 3, 4};

Test(generate, one_at_a_time_matches_reference) {
    Gen ref, got;
    reference(MAX_NEW, -1, &ref);
    expect_varied(&ref, MAX_NEW);
    for (int i = 0; i < NP; i++) run_gen(&i, 1, MAX_NEW, -1, &got);
    expect_same(&got, &ref, "one at a time");
}

Test(generate, batched_matches_reference) {
    Gen ref, got, rev;
    reference(MAX_NEW, -1, &ref);
    run_gen(ALL, NP, MAX_NEW, -1, &got);
    expect_same(&got, &ref, "batched");
    /* another order and a subset */
    int order[NP] = {4, 2, 0, 3, 1};
    run_gen(order, NP, MAX_NEW, -1, &rev);
    expect_same(&rev, &ref, "batched, permuted");
    int sub[2] = {3, 1};
    Gen part = ref;
    run_gen(sub, 2, MAX_NEW, -1, &part);
    expect_same(&part, &ref, "batched, subset");
}

Test(generate, max_new_one) {
    Gen ref, got, single;
    reference(1, -1, &ref);
    expect_varied(&ref, 1);
    run_gen(ALL, NP, 1, -1, &got);
    expect_same(&got, &ref, "max_new=1 batched");
    for (int i = 0; i < NP; i++) run_gen(&i, 1, 1, -1, &single);
    expect_same(&single, &ref, "max_new=1 one at a time");
    for (int i = 0; i < NP; i++) cr_expect_eq(got.olen[i], 1);
}

Test(generate, max_new_zero) {
    Gen got;
    for (int i = 0; i < NP; i++) got.olen[i] = 99;
    run_gen(ALL, NP, 0, -1, &got);
    for (int i = 0; i < NP; i++) cr_expect_eq(got.olen[i], 0, "max_new=0 gave %d tokens", got.olen[i]);
}

/* eos = a token the reference emits mid-sequence, or as the very first token
 * of a prompt: those sequences stop there (eos not emitted) while the others
 * run on, batched and one at a time. */
Test(generate, eos_stops_sequences) {
    Gen full;
    reference(MAX_NEW, -1, &full);
    const int which[2][2] = {{2, 3}, {1, 0}}; /* (prompt, step) whose token becomes eos */
    for (int k = 0; k < 2; k++) {
        int p = which[k][0], s = which[k][1], eos = full.out[p][s];
        Gen ref, got, single;
        reference(MAX_NEW, eos, &ref);
        int ran = 0;
        for (int i = 0; i < NP; i++) ran += ref.olen[i] == MAX_NEW;
        cr_assert_leq(ref.olen[p], s, "eos %d should stop prompt %d by step %d", eos, p, s);
        run_gen(ALL, NP, MAX_NEW, eos, &got);
        expect_same(&got, &ref, "batched with eos");
        for (int i = 0; i < NP; i++) run_gen(&i, 1, MAX_NEW, eos, &single);
        expect_same(&single, &ref, "one at a time with eos");
        for (int i = 0; i < NP; i++)
            for (int t = 0; t < got.olen[i]; t++) cr_expect_neq(got.out[i][t], eos, "eos emitted");
        cr_expect_gt(ran, 0, "eos %d should not stop every sequence", eos);
    }
}

Test(generate, too_long_for_max_pos) {
    int len = M.cfg.max_pos - 2;
    int *p = calloc((size_t)len, sizeof(int));
    const int *pr[1] = {p};
    int pl[1] = {len}, buf[4], *out[1] = {buf}, ol[1];
    cr_expect_eq(generate_greedy(&M, pr, pl, 1, 3, -1, out, ol), -1, "prompt + max_new > max_pos should fail");
    free(p);
}

/* ---- Shared prefixes ------------------------------------------------------------- */

enum { NS = 9, MAXS = 24 };

/* Prompts built to share prefixes at several depths: a prompt that is a
 * prefix of another, a duplicate, a chain of nested prefixes, one alone. */
static int SHARED[NS][MAXS], SLEN[NS];

static void make_shared(void) {
    static const char *text[NS] = {"lines with abc", "lines with abd", "lines with", "lines with abc",
                                   "lines with abcd and x", "lines wit", "lines with abd then", "zzz", "l"};
    for (int i = 0; i < NS; i++) {
        SHARED[i][0] = TOK_BOS;
        SLEN[i] = 1 + (int)strlen(text[i]);
        for (int t = 1; t < SLEN[i]; t++) SHARED[i][t] = (unsigned char)text[i][t - 1];
    }
}

/* generate_greedy over shared prompts idx[0..m) at once into out/ol (by prompt). */
static void run_shared(const int *idx, int m, int max_new, int out[NS][MAX_NEW + 1], int *ol) {
    const int *pr[NS];
    int pl[NS], *o[NS], l[NS];
    for (int k = 0; k < m; k++) {
        pr[k] = SHARED[idx[k]];
        pl[k] = SLEN[idx[k]];
        o[k] = out[idx[k]];
        out[idx[k]][max_new] = -12345;
    }
    cr_assert_eq(generate_greedy(&M, pr, pl, m, max_new, -1, o, l), 0, "generate_greedy failed");
    for (int k = 0; k < m; k++) {
        ol[idx[k]] = l[k];
        cr_expect_eq(out[idx[k]][max_new], -12345, "generate_greedy wrote past max_new");
    }
}

Test(generate, shared_prefixes_match_reference) {
    make_shared();
    int ref[NS][MAX_NEW + 1], rl[NS], got[NS][MAX_NEW + 1], gl[NS];
    double margin = INFINITY;
    for (int i = 0; i < NS; i++) rl[i] = ref_generate(SHARED[i], SLEN[i], MAX_NEW, -1, ref[i], &margin);
    int differ = 0;
    for (int i = 1; i < NS; i++) differ += memcmp(ref[i], ref[0], sizeof(int) * MAX_NEW) != 0;
    cr_assert_gt(differ, 0, "all shared prompts give the same output");
    static const int orders[3][NS] = {{0, 1, 2, 3, 4, 5, 6, 7, 8}, {8, 6, 4, 2, 0, 7, 5, 3, 1}, {3, 0, 4, 2, 5, 1, 6, 8, 7}};
    for (int o = 0; o < 3; o++) {
        run_shared(orders[o], NS, MAX_NEW, got, gl);
        for (int i = 0; i < NS; i++) {
            cr_expect_eq(gl[i], rl[i], "order %d prompt %d: %d tokens, reference %d", o, i, gl[i], rl[i]);
            for (int t = 0; t < gl[i] && t < rl[i]; t++)
                cr_expect_eq(got[i][t], ref[i][t], "order %d prompt %d token %d: %d, reference %d", o, i, t,
                             got[i][t], ref[i][t]);
        }
    }
}

/* Chunked calls (as evaluate makes them) give the tokens of one call over all
 * prompts, bit for bit the same decoding. */
Test(generate, chunked_matches_unchunked) {
    make_shared();
    int all[NS][MAX_NEW + 1], al[NS], part[NS][MAX_NEW + 1], pl[NS];
    static const int idx[NS] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    run_shared(idx, NS, MAX_NEW, all, al);
    for (int s = 0; s < NS; s += 2) run_shared(idx + s, NS - s < 2 ? NS - s : 2, MAX_NEW, part, pl);
    for (int i = 0; i < NS; i++) {
        cr_expect_eq(pl[i], al[i], "prompt %d: %d tokens chunked, %d unchunked", i, pl[i], al[i]);
        cr_expect_eq(memcmp(part[i], all[i], sizeof(int) * (size_t)al[i]), 0, "prompt %d: tokens differ", i);
    }
}
