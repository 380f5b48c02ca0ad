/* jsonl parsing (malformed input names file and line) and the views of
 * ALGORITHM.md §2–§3 (tokens, positions, segments, targets, Enc positions,
 * spans; the pred_position, direction and fused layouts). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "data.h"
#include "tokenizer.h"

static char g_path[64];

static void write_tmp(const char *text) {
    snprintf(g_path, sizeof g_path, "/tmp/jepa_data_XXXXXX");
    int fd = mkstemp(g_path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

#define GOOD "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"ab\"}, " \
             "{\"role\": \"assistant\", \"content\": \"xyz\"}]}\n"

static void expect_error(const char *text, const char *line_tag, const char *word) {
    write_tmp(text);
    Dataset d;
    char err[512];
    cr_expect_neq(dataset_load(g_path, 0, &d, err, sizeof err), 0, "accepted: %s", text);
    char want[128];
    snprintf(want, sizeof want, "%s%s", g_path, line_tag);
    cr_expect(strstr(err, want) != NULL, "error '%s' should name '%s'", err, want);
    cr_expect(strstr(err, word) != NULL, "error '%s' should say '%s'", err, word);
    unlink(g_path);
}

Test(data, malformed_lines_name_file_and_line) {
    expect_error(GOOD "{not json}\n", ":2:", "JSON");
    expect_error(GOOD GOOD "{\"msgs\": []}\n", ":3:", "messages");
    expect_error("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n", ":1:", "assistant");
    expect_error("{\"messages\": [{\"role\": \"user\", \"content\": 3}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n",
                 ":1:", "content");
    expect_error("", "", "no examples");
}

Test(data, limit_and_blank_lines) {
    write_tmp(GOOD "\n" GOOD GOOD);
    Dataset d;
    char err[512];
    cr_assert_eq(dataset_load(g_path, 2, &d, err, sizeof err), 0, "%s", err);
    cr_expect_eq(d.n, 2);
    cr_expect_str_eq(d.ex[1].assistant, "xyz");
    dataset_free(&d);
    cr_assert_eq(dataset_load(g_path, 0, &d, err, sizeof err), 0, "%s", err);
    cr_expect_eq(d.n, 3);
    dataset_free(&d);
    cr_expect_neq(dataset_load("/nonexistent/x.jsonl", 0, &d, err, sizeof err), 0);
    cr_expect(strstr(err, "/nonexistent/x.jsonl") != NULL, "%s", err);
    unlink(g_path);
}

static Example EX = {"S", "ab", "xyz", 1};

Test(views, ntp_row_and_targets) {
    Batch b = {0};
    int idx[1] = {0};
    ViewOpts o = {.include_system = 1, .targets_all = 1, .k = 2, .packed = 1};
    cr_assert_eq(batch_build(&b, &EX, idx, 1, &o, 0), 0);
    int want[] = {TOK_BOS, TOK_SYSTEM, 'S', TOK_USER, 'a', 'b', TOK_ASSISTANT, 'x', 'y', 'z', TOK_EOS};
    int n = (int)(sizeof want / sizeof want[0]);
    cr_assert_eq(b.n, n);
    cr_assert_eq(b.nrows, 1);
    for (int t = 0; t < n; t++) {
        cr_expect_eq(b.ids[t], want[t], "token %d", t);
        cr_expect_eq(b.pos[t], t);
        cr_expect_eq(b.tgt[t], t + 1 < n ? want[t + 1] : -1, "target %d", t);
    }
    cr_expect_eq(b.ntargets, n - 1);
    /* assistant targets: only A and <eos> are predicted; system omitted */
    ViewOpts oa = {.include_system = 0, .targets_all = 0, .k = 2, .packed = 1};
    cr_assert_eq(batch_build(&b, &EX, idx, 1, &oa, 0), 0);
    cr_assert_eq(b.n, n - 2);
    cr_expect_eq(b.ntargets, 4, "x y z <eos>");
    cr_expect_eq(b.tgt[4], 'x', "<assistant> predicts the first answer byte");
    cr_expect_eq(b.tgt[3], -1, "user bytes are not targets");
    batch_free(&b);
}

Test(views, packed_text_code_blocks) {
    Batch b = {0};
    int idx[1] = {0};
    ViewOpts o = {.include_system = 1, .targets_all = 1, .k = 3, .packed = 1};
    cr_assert_eq(batch_build(&b, &EX, idx, 1, &o, 1), 0);
    cr_assert_eq(b.nrows, 2);
    int r0 = b.row_start[1];
    int text[] = {TOK_BOS, TOK_USER, 'a', 'b', TOK_PRED1 + 2, TOK_PRED1 + 1, TOK_PRED1, TOK_EOS};
    int code[] = {TOK_BOS, TOK_ASSISTANT, 'x', 'y', 'z', TOK_EOS};
    for (int i = 0; i < 8; i++) {
        cr_expect_eq(b.ids[r0 + i], text[i], "text token %d", i);
        cr_expect_eq(b.pos[r0 + i], i);
        cr_expect_eq(b.seg[r0 + i], SEG_TEXT);
        cr_expect_eq(b.tgt[r0 + i], -1, "views carry no NTP targets");
    }
    for (int i = 0; i < 6; i++) {
        cr_expect_eq(b.ids[r0 + 8 + i], code[i], "code token %d", i);
        cr_expect_eq(b.pos[r0 + 8 + i], i, "positions restart per block");
        cr_expect_eq(b.seg[r0 + 8 + i], SEG_CODE);
    }
    cr_expect_eq(b.enc_text[0], r0 + 6, "Enc(Text) reads pred_1");
    cr_expect_eq(b.enc_code[0], r0 + 8 + 4, "Enc(Code) reads the last answer token");
    cr_expect_eq(b.vis[SEG_TEXT * SEG_COUNT + SEG_CODE], 0);
    cr_expect_eq(b.vis[SEG_CODE * SEG_COUNT + SEG_TEXT], 0);
    /* k = 0, separate: three rows, Enc(Text) is the last user byte */
    ViewOpts s = {.include_system = 1, .targets_all = 1, .k = 0, .packed = 0};
    cr_assert_eq(batch_build(&b, &EX, idx, 1, &s, 1), 0);
    cr_assert_eq(b.nrows, 3);
    cr_expect_eq(b.ids[b.enc_text[0]], 'b');
    cr_expect_eq(b.ids[b.enc_text[0] + 1], TOK_EOS);
    cr_expect_eq(b.enc_code[0], b.row_start[2] + 4);
    batch_free(&b);
}

Test(views, prompt) {
    int out[32];
    ViewOpts sys = {.include_system = 1}, nosys = {.include_system = 0};
    int n = view_prompt(&EX, &sys, out, 32);
    int want[] = {TOK_BOS, TOK_SYSTEM, 'S', TOK_USER, 'a', 'b', TOK_ASSISTANT};
    cr_assert_eq(n, 7);
    for (int i = 0; i < n; i++) cr_expect_eq(out[i], want[i]);
    cr_expect_eq(view_prompt(&EX, &nosys, out, 32), 5);
    cr_expect_eq(view_prompt(&EX, &sys, out, 3), -1, "too small a buffer is an error");
}

/* Expect the tokens of b from t0 on to be ids[0..n) at positions pos0.. in segment seg. */
static void expect_run(const Batch *b, int t0, const int *ids, int n, int pos0, int seg, const char *what) {
    for (int i = 0; i < n; i++) {
        cr_expect_eq(b->ids[t0 + i], ids[i], "%s token %d: id %d, want %d", what, i, b->ids[t0 + i], ids[i]);
        cr_expect_eq(b->pos[t0 + i], pos0 + i, "%s token %d: position", what, i);
        cr_expect_eq(b->seg[t0 + i], seg, "%s token %d: segment", what, i);
    }
}

/* pred_position=front: ⟨bos⟩ ⟨user⟩ ⟨pred_1⟩ … ⟨pred_k⟩ U ⟨eos⟩, readout the
 * last U byte, span [pred_1, last U byte]. */
Test(views, pred_front_layout) {
    Batch b = {0};
    int idx[1] = {0};
    ViewOpts o = {.include_system = 1, .targets_all = 1, .k = 3, .packed = 1, .pred_front = 1};
    cr_assert_eq(batch_build(&b, &EX, idx, 1, &o, 1), 0);
    int r0 = b.row_start[1];
    int text[] = {TOK_BOS, TOK_USER, TOK_PRED1, TOK_PRED1 + 1, TOK_PRED1 + 2, 'a', 'b', TOK_EOS};
    int code[] = {TOK_BOS, TOK_ASSISTANT, 'x', 'y', 'z', TOK_EOS};
    expect_run(&b, r0, text, 8, 0, SEG_TEXT, "front text");
    expect_run(&b, r0 + 8, code, 6, 0, SEG_CODE, "code");
    cr_expect_eq(b.enc_text[0], r0 + 6, "Enc(Text) reads the last user byte");
    cr_expect_eq(b.text_span[0], r0 + 2);
    cr_expect_eq(b.text_span[1], r0 + 6);
    cr_expect_eq(b.enc_code[0], r0 + 12);
    cr_expect_eq(b.code_span[0], r0 + 10);
    cr_expect_eq(b.code_span[1], r0 + 12);
    batch_free(&b);
}

/* direction=code2text: the [PRED]s on the Code view, none on the Text view. */
Test(views, code2text_layout) {
    Batch b = {0};
    int idx[1] = {0};
    ViewOpts o = {.include_system = 1, .targets_all = 1, .k = 2, .packed = 0, .code2text = 1};
    cr_assert_eq(batch_build(&b, &EX, idx, 1, &o, 1), 0);
    cr_assert_eq(b.nrows, 3);
    int text[] = {TOK_BOS, TOK_USER, 'a', 'b', TOK_EOS};
    int code[] = {TOK_BOS, TOK_ASSISTANT, 'x', 'y', 'z', TOK_PRED1 + 1, TOK_PRED1, TOK_EOS};
    int t0 = b.row_start[1], c0 = b.row_start[2];
    cr_assert_eq(b.row_start[2] - t0, 5);
    cr_assert_eq(b.row_start[3] - c0, 8);
    expect_run(&b, t0, text, 5, 0, SEG_TEXT, "text");
    expect_run(&b, c0, code, 8, 0, SEG_CODE, "code2text code");
    cr_expect_eq(b.enc_text[0], t0 + 3, "Enc(Text) reads the last user byte");
    cr_expect_eq(b.text_span[0], t0 + 2);
    cr_expect_eq(b.text_span[1], t0 + 3);
    cr_expect_eq(b.enc_code[0], c0 + 6, "Pred(Enc(Code)) reads pred_1");
    cr_expect_eq(b.code_span[0], c0 + 2);
    cr_expect_eq(b.code_span[1], c0 + 6);
    /* front: ⟨bos⟩ ⟨assistant⟩ ⟨pred_1⟩ ⟨pred_2⟩ A ⟨eos⟩ */
    o.pred_front = 1;
    cr_assert_eq(batch_build(&b, &EX, idx, 1, &o, 1), 0);
    int codef[] = {TOK_BOS, TOK_ASSISTANT, TOK_PRED1, TOK_PRED1 + 1, 'x', 'y', 'z', TOK_EOS};
    expect_run(&b, b.row_start[2], codef, 8, 0, SEG_CODE, "front code2text code");
    cr_expect_eq(b.enc_code[0], b.row_start[2] + 6);
    cr_expect_eq(b.code_span[0], b.row_start[2] + 2);
    batch_free(&b);
}

/* jepa_pass=fused (ALGORITHM.md §3): the fused row
 * [⟨bos⟩ ⟨user⟩ U | ⟨pred_k⟩ … ⟨pred_1⟩ | ⟨assistant⟩ A ⟨eos⟩] and the Code row
 * [⟨bos⟩ ⟨assistant⟩ A]: positions, segments, explicit NTP targets, readouts
 * and visibility. */
Test(views, fused_layout) {
    Batch b = {0};
    int idx[1] = {0};
    ViewOpts o = {.include_system = 0, .targets_all = 1, .k = 2, .fused = 1};
    cr_assert_eq(batch_build(&b, &EX, idx, 1, &o, 1), 0);
    cr_assert_eq(b.nrows, 2);
    cr_assert_eq(b.n, 4 + 2 + 5 + 5);
    cr_assert_eq(b.row_start[1], 11, "the Code view is a row of its own");
    int prefix[] = {TOK_BOS, TOK_USER, 'a', 'b'}, preds[] = {TOK_PRED1 + 1, TOK_PRED1};
    int cont[] = {TOK_ASSISTANT, 'x', 'y', 'z', TOK_EOS}, code[] = {TOK_BOS, TOK_ASSISTANT, 'x', 'y', 'z'};
    expect_run(&b, 0, prefix, 4, 0, SEG_NTP, "prefix");
    expect_run(&b, 4, preds, 2, 4, SEG_PRED, "preds continue the Text view's positions");
    expect_run(&b, 6, cont, 5, 4, SEG_CONT, "continuation continues the NTP positions");
    expect_run(&b, 11, code, 5, 0, SEG_CODE, "code restarts at 0, no <eos>");
    int tgt[16] = {TOK_USER, 'a', 'b', TOK_ASSISTANT, -1, -1, 'x', 'y', 'z', TOK_EOS, -1, -1, -1, -1, -1, -1};
    for (int t = 0; t < b.n; t++) cr_expect_eq(b.tgt[t], tgt[t], "target of token %d: %d", t, b.tgt[t]);
    cr_expect_eq(b.ntargets, 8, "as many targets as the NTP row");
    cr_expect_eq(b.enc_text[0], 5, "pred_1");
    cr_expect_eq(b.enc_code[0], 15, "last answer byte of the Code block");
    cr_expect(b.text_span[0] == 2 && b.text_span[1] == 5, "U and the [PRED]s");
    cr_expect(b.code_span[0] == 13 && b.code_span[1] == 15);
    cr_expect(b.ntp_user[0] == 2 && b.ntp_user[1] == 4);
    cr_expect(b.ntp_asst[0] == 7 && b.ntp_asst[1] == 10, "A of the continuation");
    /* visibility: row = query segment, column = key segment */
    static const unsigned char want[SEG_COUNT][SEG_COUNT] = {
        [SEG_NTP] = {[SEG_NTP] = 1}, [SEG_TEXT] = {[SEG_TEXT] = 1}, [SEG_CODE] = {[SEG_CODE] = 1},
        [SEG_PRED] = {[SEG_NTP] = 1, [SEG_PRED] = 1}, [SEG_CONT] = {[SEG_NTP] = 1, [SEG_CONT] = 1}};
    cr_assert_eq(b.nseg, SEG_COUNT);
    for (int i = 0; i < SEG_COUNT; i++)
        for (int j = 0; j < SEG_COUNT; j++) cr_expect_eq(b.vis[i * SEG_COUNT + j], want[i][j], "vis %d -> %d", i, j);
    /* ntp_targets=assistant: ⟨assistant⟩ x y z only; k = 0: Enc(Text) = last user byte */
    ViewOpts oa = {.targets_all = 0, .k = 0, .fused = 1};
    cr_assert_eq(batch_build(&b, &EX, idx, 1, &oa, 1), 0);
    cr_expect_eq(b.ntargets, 4);
    cr_expect_eq(b.tgt[3], -1);
    cr_expect_eq(b.tgt[4], 'x');
    cr_expect_eq(b.enc_text[0], 3);
    cr_expect(b.text_span[0] == 2 && b.text_span[1] == 3);
    batch_free(&b);
}

/* fused + front with [PRED]s on the Text view is refused; the other fused variants are built. */
Test(views, fused_front_refused) {
    Batch b = {0};
    int idx[1] = {0};
    ViewOpts o = {.k = 2, .fused = 1, .pred_front = 1};
    cr_expect(view_fused_refused(&o));
    cr_expect_eq(batch_build(&b, &EX, idx, 1, &o, 1), -1);
    cr_expect_eq(batch_build(&b, &EX, idx, 1, &o, 0), 0, "an NTP batch is still built");
    o.code2text = 1;
    cr_expect(!view_fused_refused(&o));
    cr_expect_eq(batch_build(&b, &EX, idx, 1, &o, 1), 0);
    o.code2text = 0, o.k = 0;
    cr_expect(!view_fused_refused(&o));
    cr_expect_eq(batch_build(&b, &EX, idx, 1, &o, 1), 0);
    batch_free(&b);
}

/* The readouts, spans and NTP ranges in every pass mode and variant, by the
 * ids at their ends. */
static void check_spans(const Batch *b, const Example *e, const ViewOpts *o, const char *what) {
    int U = (int)strlen(e->user), A = (int)strlen(e->assistant);
    int kt = o->code2text ? 0 : o->k, kc = o->code2text ? o->k : 0;
    const int *ts = b->text_span, *cs = b->code_span;
    cr_expect_eq(ts[1] - ts[0] + 1, U + kt, "%s: Text span length", what);
    cr_expect_eq(cs[1] - cs[0] + 1, A + kc, "%s: Code span length", what);
    cr_expect_eq(b->enc_text[0], ts[1], "%s: Enc(Text) ends the span", what);
    cr_expect_eq(b->enc_code[0], cs[1], "%s: Enc(Code) ends the span", what);
    int tf = o->pred_front && kt ? TOK_PRED1 : (unsigned char)e->user[0];
    int tl = !o->pred_front && kt ? TOK_PRED1 : (unsigned char)e->user[U - 1];
    int cf = o->pred_front && kc ? TOK_PRED1 : (unsigned char)e->assistant[0];
    int cl = !o->pred_front && kc ? TOK_PRED1 : (unsigned char)e->assistant[A - 1];
    cr_expect(b->ids[ts[0]] == tf && b->ids[ts[1]] == tl, "%s: Text span ids %d..%d", what, b->ids[ts[0]], b->ids[ts[1]]);
    cr_expect(b->ids[cs[0]] == cf && b->ids[cs[1]] == cl, "%s: Code span ids %d..%d", what, b->ids[cs[0]], b->ids[cs[1]]);
    cr_expect_eq(b->ids[ts[0] - 1], TOK_USER, "%s: ⟨user⟩ opens the Text span", what);
    cr_expect_eq(b->ids[cs[0] - 1], TOK_ASSISTANT, "%s: ⟨assistant⟩ opens the Code span", what);
    const int *nu = b->ntp_user, *na = b->ntp_asst;
    cr_expect(nu[1] - nu[0] == U && na[1] - na[0] == A, "%s: NTP ranges", what);
    cr_expect(b->ids[nu[0] - 1] == TOK_USER && b->ids[na[0] - 1] == TOK_ASSISTANT && b->ids[na[1]] == TOK_EOS,
              "%s: NTP ranges framed by their role tokens and ⟨eos⟩", what);
    for (int t = 0; t < U; t++) cr_expect_eq(b->ids[nu[0] + t], (unsigned char)e->user[t], "%s: U byte %d", what, t);
    for (int t = 0; t < A; t++) cr_expect_eq(b->ids[na[0] + t], (unsigned char)e->assistant[t], "%s: A byte %d", what, t);
}

Test(views, spans_every_pass_mode) {
    Batch b = {0};
    int idx[1] = {0};
    const char *mode[3] = {"separate", "packed", "fused"};
    for (int pm = 0; pm < 3; pm++)
        for (int k = 0; k <= 2; k += 2)
            for (int v = 0; v < 4; v++) {
                ViewOpts o = {.include_system = v & 1, .targets_all = 1, .k = k, .packed = pm == 1,
                              .fused = pm == 2, .pred_front = (v >> 1) & 1};
                for (o.code2text = 0; o.code2text <= 1; o.code2text++) {
                    char what[96];
                    snprintf(what, sizeof what, "%s k=%d system=%d front=%d code2text=%d", mode[pm], k,
                             o.include_system, o.pred_front, o.code2text);
                    int rc = batch_build(&b, &EX, idx, 1, &o, 1);
                    cr_assert_eq(rc, view_fused_refused(&o) ? -1 : 0, "%s", what);
                    if (rc == 0) check_spans(&b, &EX, &o, what);
                    cr_assert_eq(batch_build(&b, &EX, idx, 1, &o, 0), 0); /* without JEPA: NTP ranges only */
                    cr_expect_eq(b.text_span[0], -1, "%s", what);
                    cr_expect_eq(b.enc_code[0], -1, "%s", what);
                    cr_expect(b.ntp_user[1] - b.ntp_user[0] == 2 && b.ids[b.ntp_asst[0]] == 'x', "%s", what);
                }
            }
    batch_free(&b);
}

/* ---- the views under BPE tokenizers ---------------------------------------------- */

static const Example EXB = {"Convert to a regex.", "lines with words ending in dog", "\\bdog\\b.*[0-9]", 7};

/* Expect ids[0..n) of b from t0 on to equal want[0..n). */
static void expect_ids(const Batch *b, int t0, const int *want, int n, const char *what) {
    for (int i = 0; i < n; i++) cr_expect_eq(b->ids[t0 + i], want[i], "%s: token %d", what, i);
}

/* check_spans under tokenizer t: the spans hold the content's token ids, the
 * readouts sit on pred_1 or the last content token, framed by the template's
 * sequences and ⟨eos⟩. */
static void check_spans_tok(const Batch *b, const Example *e, const ViewOpts *o, const Tokenizer *t, const char *what) {
    int u[256], a[256];
    char err[256] = "";
    int U = tokenizer_encode(t, e->user, strlen(e->user), u, 256, err, sizeof err);
    int A = tokenizer_encode(t, e->assistant, strlen(e->assistant), a, 256, err, sizeof err);
    cr_assert(U > 1 && A > 1 && U < (int)strlen(e->user), "%s: U %d A %d tokens: merges expected (%s)", what, U, A, err);
    int kt = o->code2text ? 0 : o->k, kc = o->code2text ? o->k : 0, p1 = tok_pred(t, 1);
    const int *ts = b->text_span, *cs = b->code_span;
    cr_expect_eq(ts[1] - ts[0] + 1, U + kt, "%s: Text span length", what);
    cr_expect_eq(cs[1] - cs[0] + 1, A + kc, "%s: Code span length", what);
    cr_expect_eq(b->enc_text[0], ts[1], "%s: Enc(Text) ends the span", what);
    cr_expect_eq(b->enc_code[0], cs[1], "%s: Enc(Code) ends the span", what);
    cr_expect_eq(b->ids[b->enc_text[0]], !o->pred_front && kt ? p1 : u[U - 1], "%s: Text readout token", what);
    cr_expect_eq(b->ids[b->enc_code[0]], !o->pred_front && kc ? p1 : a[A - 1], "%s: Code readout token", what);
    cr_expect_eq(b->ids[ts[0]], o->pred_front && kt ? p1 : u[0], "%s: Text span start", what);
    cr_expect_eq(b->ids[cs[0]], o->pred_front && kc ? p1 : a[0], "%s: Code span start", what);
    if (!o->fused) {
        cr_expect_eq(b->ids[ts[1] + 1], t->eos, "%s: ⟨eos⟩ after the Text readout", what);
        expect_ids(b, ts[0] - t->user_open.n, t->user_open.id, t->user_open.n, "user_open before the Text span");
    }
    expect_ids(b, cs[0] - t->assistant_open.n, t->assistant_open.id, t->assistant_open.n, "assistant_open before Code");
    const int *nu = b->ntp_user, *na = b->ntp_asst;
    cr_expect(nu[1] - nu[0] == U && na[1] - na[0] == A, "%s: NTP ranges", what);
    expect_ids(b, nu[0], u, U, "U in the NTP row");
    expect_ids(b, na[0], a, A, "A in the NTP row");
    expect_ids(b, na[0] - t->assistant_open.n, t->assistant_open.id, t->assistant_open.n, "assistant_open before A");
    expect_ids(b, na[0] - t->assistant_open.n - t->user_close.n, t->user_close.id, t->user_close.n,
               "user_close before assistant_open");
    if (!o->fused) cr_expect_eq(na[0] - t->assistant_open.n - t->user_close.n, nu[1], "%s: U, then the answer", what);
    cr_expect_eq(b->ids[na[1]], t->eos, "%s: ⟨eos⟩ after A", what);
}

static const char *const BPE_TEXTS[] = {"lines with words ending in dog", "\\bdog\\b.*[0-9]", "lines with a vowel",
                                        "words ending in dog", "dog.*[0-9]", "lines with words", "Convert to a regex."};

/* Every pass mode and variant under a bpe:N tokenizer and the Llama-3
 * template, the example's ids from the cache or encoded on the fly. */
Test(views, bpe_spans_every_pass_mode) {
    Tokenizer tk[2];
    char err[512];
    cr_assert_eq(tokenizer_train(BPE_TEXTS, sizeof BPE_TEXTS / sizeof *BPE_TEXTS, 60, &tk[0], err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(tokenizer_load(SOURCE_DIR "/tests/fixtures/bpe/llama3_small.json", &tk[1], NULL, 0, err, sizeof err),
                 0, "%s", err);
    Example ex[1] = {EXB};
    Dataset d = {ex, 1, "x.jsonl"};
    Batch b = {0}, c = {0};
    int idx[1] = {0};
    const char *mode[3] = {"separate", "packed", "fused"};
    for (int ti = 0; ti < 2; ti++) {
        TokenCache cache;
        cr_assert_eq(token_cache_build(&cache, &d, &tk[ti], err, sizeof err), 0, "%s", err);
        for (int pm = 0; pm < 3; pm++)
            for (int k = 0; k <= 2; k += 2)
                for (int v = 0; v < 4; v++) {
                    ViewOpts o = {.include_system = v & 1, .targets_all = 1, .k = k, .packed = pm == 1,
                                  .fused = pm == 2, .pred_front = (v >> 1) & 1, .tok = &tk[ti]};
                    for (o.code2text = 0; o.code2text <= 1; o.code2text++) {
                        char what[128];
                        snprintf(what, sizeof what, "%s %s k=%d system=%d front=%d code2text=%d", tk[ti].chat,
                                 mode[pm], k, o.include_system, o.pred_front, o.code2text);
                        o.cache = NULL;
                        int rc = batch_build(&b, ex, idx, 1, &o, 1);
                        cr_assert_eq(rc, view_fused_refused(&o) ? -1 : 0, "%s", what);
                        if (rc) continue;
                        check_spans_tok(&b, ex, &o, &tk[ti], what);
                        cr_expect_leq(view_positions(ex, &o, 0), b.n, "%s: positions", what);
                        o.cache = &cache; /* the cached ids build the same batch */
                        cr_assert_eq(batch_build(&c, ex, idx, 1, &o, 1), 0, "%s", what);
                        cr_assert_eq(c.n, b.n, "%s: cached", what);
                        cr_expect_eq(memcmp(c.ids, b.ids, (size_t)b.n * sizeof(int)), 0, "%s: cached ids", what);
                        cr_expect_eq(memcmp(c.pos, b.pos, (size_t)b.n * sizeof(int)), 0, "%s: cached positions", what);
                    }
                }
        token_cache_free(&cache);
        tokenizer_free(&tk[ti]);
    }
    batch_free(&b);
    batch_free(&c);
}

/* view_positions counts tokens, not bytes: the NTP row of a BPE batch is exactly that long. */
Test(views, bpe_positions_count_tokens) {
    Tokenizer t;
    char err[512];
    cr_assert_eq(tokenizer_train(BPE_TEXTS, sizeof BPE_TEXTS / sizeof *BPE_TEXTS, 60, &t, err, sizeof err), 0, "%s", err);
    ViewOpts o = {.include_system = 1, .targets_all = 1, .tok = &t};
    Batch b = {0};
    int idx[1] = {0};
    cr_assert_eq(batch_build(&b, &EXB, idx, 1, &o, 0), 0);
    cr_expect_eq(view_ntp_length(&EXB, &o), b.n);
    cr_expect_eq(view_positions(&EXB, &o, 0), b.n);
    cr_expect_lt(b.n, (int)(strlen(EXB.system) + strlen(EXB.user) + strlen(EXB.assistant)), "merges shorten the row");
    cr_expect_eq(view_prompt_length(&EXB, &o), b.ntp_asst[0]);
    Example one[1] = {EXB};
    Dataset d = {one, 1, "data/y.jsonl"};
    int prompt = view_prompt_length(&EXB, &o);
    cr_expect_eq(dataset_check_positions(&d, &o, 100, prompt + 100, err, sizeof err), 0, "%s", err);
    cr_expect_neq(dataset_check_positions(&d, &o, 100, prompt + 99, err, sizeof err), 0, "prompt + 100 new tokens");
    cr_expect(strstr(err, "data/y.jsonl:7:"), "%s", err);
    batch_free(&b);
    tokenizer_free(&t);
}

/* The base corpus (ALGORITHM.md §10, data/README.md) holds no test-split answer of a set the
 * base is fine-tuned on, and is NL-RX-TURK's train split minus exactly those examples. */
static int has_answer(const Dataset *d, const char *a) {
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->ex[i].assistant, a)) return 1;
    return 0;
}

Test(data, base_corpus_disjoint_from_test_answers) {
    static const char *const tests[] = {"synth", "turk"};
    Dataset base, turk, test;
    char path[1100], err[512];
    dataset_path("nlrx_base", "train", path, sizeof path);
    cr_assert_eq(dataset_load(path, 0, &base, err, sizeof err), 0, "%s", err);
    for (int t = 0; t < 2; t++) {
        dataset_path(tests[t], "test", path, sizeof path);
        cr_assert_eq(dataset_load(path, 0, &test, err, sizeof err), 0, "%s", err);
        for (int i = 0; i < base.n; i++)
            cr_assert(!has_answer(&test, base.ex[i].assistant), "nlrx_base line %d: its regex %s is a %s test answer",
                      base.ex[i].line, base.ex[i].assistant, tests[t]);
        dataset_free(&test);
    }
    /* an order-preserving subsequence of turk_train, dropping only test answers */
    dataset_path("turk", "train", path, sizeof path);
    cr_assert_eq(dataset_load(path, 0, &turk, err, sizeof err), 0, "%s", err);
    dataset_path("synth", "test", path, sizeof path);
    cr_assert_eq(dataset_load(path, 0, &test, err, sizeof err), 0, "%s", err);
    int j = 0, dropped = 0;
    for (int i = 0; i < turk.n; i++) {
        if (j < base.n && !strcmp(turk.ex[i].user, base.ex[j].user) && !strcmp(turk.ex[i].assistant, base.ex[j].assistant)) {
            j++;
            continue;
        }
        cr_assert(has_answer(&test, turk.ex[i].assistant), "turk_train line %d dropped but its regex is no test answer",
                  turk.ex[i].line);
        dropped++;
    }
    cr_expect_eq(j, base.n, "nlrx_base is not a subsequence of turk_train (stopped at its line %d)", j + 1);
    cr_expect_eq(dropped, 112, "dropped %d examples, expected the 112 whose regex is a test answer", dropped);
    char tpath[1100];
    dataset_path("nlrx_base", "test", tpath, sizeof tpath);
    cr_expect(strstr(tpath, "turk_test.jsonl") != NULL, "nlrx_base is evaluated on %s", tpath);
    dataset_free(&base);
    dataset_free(&turk);
    dataset_free(&test);
}

#include <sys/stat.h> /* mkdir, for the search order test below */

/* Hardening (issue 10): a line is exactly one JSON object (no trailing text, no NUL byte). */
Test(data, line_is_one_json_object) {
    expect_error(GOOD "{\"messages\": []} trailing\n", ":2:", "not valid JSON");
    expect_error(GOOD "{\"messages\": []}{}\n", ":2:", "not valid JSON");
    expect_error("[1, 2]\n", ":1:", "messages");
    char text[512];
    size_t n = strlen(GOOD);
    memcpy(text, GOOD, n);
    memcpy(text + n, "{\"messages\"\0: []}\n", 18); /* a NUL inside line 2 */
    snprintf(g_path, sizeof g_path, "/tmp/jepa_data_XXXXXX");
    int fd = mkstemp(g_path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, n + 18), (ssize_t)(n + 18));
    close(fd);
    Dataset d;
    char err[512];
    cr_expect_neq(dataset_load(g_path, 0, &d, err, sizeof err), 0);
    cr_expect(strstr(err, ":2:") && strstr(err, "NUL"), "%s", err);
    unlink(g_path);
    write_tmp("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}"
              "  \t\r\n"); /* blanks after the object are fine, a CRLF too */
    cr_assert_eq(dataset_load(g_path, 0, &d, err, sizeof err), 0, "%s", err);
    dataset_free(&d);
    unlink(g_path);
}

/* data/<name>.jsonl is searched in $HARNESS_DATA, then ./data, then the source tree's data/;
 * a missing file's error lists every place looked. */
Test(data, search_order_and_where_it_looked) {
    char dir[] = "/tmp/jepa_search_XXXXXX", env[600], path[1200], err[2048], cmd[1300];
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(chdir(dir), 0); /* no ./data here */
    snprintf(env, sizeof env, "%s/env", dir);
    cr_assert_eq(mkdir(env, 0755), 0);
    setenv("HARNESS_DATA", env, 1);
    /* only the source tree has synth_train */
    dataset_path("synth", "train", path, sizeof path);
    cr_expect_str_eq(path, SOURCE_DIR "/data/synth_train.jsonl");
    /* ./data comes before it */
    cr_assert_eq(mkdir("data", 0755), 0);
    FILE *f = fopen("data/synth_train.jsonl", "w");
    cr_assert_not_null(f);
    fputs(GOOD, f);
    fclose(f);
    dataset_path("synth", "train", path, sizeof path);
    cr_expect_str_eq(path, "data/synth_train.jsonl");
    /* and $HARNESS_DATA before both */
    snprintf(path, sizeof path, "%s/synth_train.jsonl", env);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(GOOD GOOD, f);
    fclose(f);
    char want[1200];
    snprintf(want, sizeof want, "%s/synth_train.jsonl", env);
    dataset_path("synth", "train", path, sizeof path);
    cr_expect_str_eq(path, want);
    /* nowhere: the first place, and the error lists all three */
    dataset_path("nosuch", "train", path, sizeof path);
    snprintf(want, sizeof want, "%s/nosuch_train.jsonl", env);
    cr_expect_str_eq(path, want);
    Dataset d;
    cr_expect_neq(dataset_load(path, 0, &d, err, sizeof err), 0);
    cr_expect(strstr(err, "No such file") && strstr(err, "looked for nosuch_train.jsonl in:") &&
              strstr(err, env) && strstr(err, "$HARNESS_DATA") && strstr(err, ", data,") &&
              strstr(err, SOURCE_DIR "/data"), "%s", err);
    unsetenv("HARNESS_DATA");
    dataset_path("nosuch", "test", path, sizeof path);
    cr_expect_str_eq(path, "data/nosuch_test.jsonl");
    cr_expect_neq(dataset_load(path, 0, &d, err, sizeof err), 0);
    cr_expect(strstr(err, "looked for nosuch_test.jsonl in: data, " SOURCE_DIR "/data (HARNESS_DATA is not set)"),
              "%s", err);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

/* A prefix of a label task's split (train_limit, test_limit, epoch_eval_limit) must not hold
 * one label only: upstream rotten_tomatoes is sorted by label, so the vendored copies are
 * shuffled (data/shuffle_rows.py, data/README.md). For every split of the label tasks, at
 * most 75 of the first 100 rows share the first row's label. */
Test(data, label_splits_mix_their_labels_in_every_prefix) {
    const char *files[] = {"rotten_tomatoes_train", "rotten_tomatoes_test", "yelp_test"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[600], err[512];
        snprintf(path, sizeof path, "%s/data/%s.jsonl", SOURCE_DIR, files[f]);
        Dataset d;
        cr_assert_eq(dataset_load(path, 100, &d, err, sizeof err), 0, "%s", err);
        cr_assert_eq(d.n, 100, "%s", path);
        int same_as_first = 0;
        for (int i = 0; i < d.n; i++) same_as_first += !strcmp(d.ex[i].assistant, d.ex[0].assistant);
        cr_expect(same_as_first <= 75, "%s: %d of its first 100 rows have the label '%s' (sorted by label? "
                  "shuffle it with data/shuffle_rows.py)", files[f], same_as_first, d.ex[0].assistant);
        dataset_free(&d);
    }
}
