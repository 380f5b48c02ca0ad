/* jsonl parsing (malformed input names file and line) and the views of
 * ALGORITHM.md §2 (tokens, positions, segments, targets, Enc positions). */
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
    int n = view_prompt(&EX, 1, out, 32);
    int want[] = {TOK_BOS, TOK_SYSTEM, 'S', TOK_USER, 'a', 'b', TOK_ASSISTANT};
    cr_assert_eq(n, 7);
    for (int i = 0; i < n; i++) cr_expect_eq(out[i], want[i]);
    cr_expect_eq(view_prompt(&EX, 0, out, 32), 5);
    cr_expect_eq(view_prompt(&EX, 1, out, 3), -1, "too small a buffer is an error");
}
