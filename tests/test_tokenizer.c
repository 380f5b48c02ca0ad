/* The tokenizer interface (engine/tokenizer.h): the byte tokenizer's ids
 * (run identity depends on them), bpe:N training, decode(encode(s)) == s,
 * the Llama-3 chat template on tests/fixtures/bpe/llama3_small.json, special
 * tokens appended to a tokenizer.json that lacks them, the `tokenizer`
 * config key in the run identity, and a whole pico run with tokenizer=bpe:64
 * whose checkpoint reloads the same tokenizer under init=. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "backend.h"
#include "batch.h"
#include "checkpoint.h"
#include "config.h"
#include "model.h"
#include "model_config.h"
#include "rng.h"
#include "tokenizer.h"
#include "train.h"

#define FIX SOURCE_DIR "/tests/fixtures/bpe/"
#define LLAMA3_DATE "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"

static char g_err[1024];

/* Texts to train small tokenizers on: NL-RX-like requests and regexes. */
static const char *const CORPUS[] = {
    "lines with a vowel",         "[AEIOU]",
    "lines with words ending in dog", "\\bdog\\b",
    "lines containing a number, 3 or more times", "([0-9]){3,}",
    "lines with the string 'dog' before a vowel", ".*dog.*[AEIOU].*",
    "lines with words with a vowel and a lower-case letter", "\\b[a-z]*[AEIOU][a-z]*\\b",
};
#define NCORPUS (sizeof CORPUS / sizeof *CORPUS)

static Tokenizer trained(int merges) {
    Tokenizer t;
    cr_assert_eq(tokenizer_train(CORPUS, NCORPUS, merges, &t, g_err, sizeof g_err), 0, "%s", g_err);
    return t;
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)len + 1);
    size_t got = fread(s, 1, (size_t)len, f);
    fclose(f);
    s[got] = 0;
    if (n) *n = got;
    return s;
}

static void tmpfile_path(char *path, size_t n, const char *tag) {
    snprintf(path, n, "/tmp/jepa_tok_%s_XXXXXX", tag);
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
}

/* ---- byte tokenizer ------------------------------------------------------- */

Test(byte, golden_ids) {
    Tokenizer t = tokenizer_byte();
    cr_expect_eq(t.kind, TOKENIZER_BYTE);
    cr_expect_str_eq(t.chat, "engine");
    cr_expect_eq(t.vocab_size, 278);
    cr_expect(t.bos == 256 && t.eos == 257 && t.pad == 258 && t.system == 259 && t.user == 260 && t.assistant == 261,
              "special ids %d %d %d %d %d %d", t.bos, t.eos, t.pad, t.system, t.user, t.assistant);
    cr_expect_eq(t.npred, 16);
    for (int i = 1; i <= 16; i++) cr_expect_eq(tok_pred(&t, i), 261 + i, "pred_%d", i);
    const char *s = "h\xC3\xA9<|eos|>\n";
    int ids[32], want[] = {104, 195, 169, 60, 124, 101, 111, 115, 124, 62, 10};
    cr_assert_eq(tokenizer_encode(&t, s, strlen(s), ids, 32, g_err, sizeof g_err), 11);
    for (int i = 0; i < 11; i++) cr_expect_eq(ids[i], want[i], "byte %d", i);
    /* the NTP row and the prompt of the engine template, as literal ids */
    Example e = {"S", "ab", "xyz", 1};
    ViewOpts o = {.include_system = 1, .targets_all = 1};
    Batch b = {0};
    int idx = 0, row[] = {256, 259, 83, 260, 97, 98, 261, 120, 121, 122, 257};
    cr_assert_eq(batch_build(&b, &e, &idx, 1, &o, 0), 0);
    cr_assert_eq(b.n, 11);
    for (int i = 0; i < 11; i++) cr_expect_eq(b.ids[i], row[i], "NTP token %d", i);
    cr_expect_eq(view_prompt(&e, &o, ids, 32), 7);
    for (int i = 0; i < 7; i++) cr_expect_eq(ids[i], row[i], "prompt token %d", i);
    batch_free(&b);
    /* decode keeps bytes, drops the special ids */
    int mixed[] = {256, 104, 105, 262, 10, 257};
    char out[16];
    cr_expect_eq(tokenizer_decode(&t, mixed, 6, out, sizeof out), 3);
    cr_expect_str_eq(out, "hi\n");
    cr_expect_eq(tokenizer_decode(&t, mixed, 6, out, 2), 3, "the whole length, as snprintf");
    cr_expect_str_eq(out, "h");
}

/* ---- config values and run identity ----------------------------------------- */

Test(spec, values) {
    int m = -1;
    cr_expect_eq(tokenizer_spec("byte", &m, g_err, sizeof g_err), TOKSPEC_BYTE);
    cr_expect_eq(tokenizer_spec("bpe:256", &m, g_err, sizeof g_err), TOKSPEC_TRAIN);
    cr_expect_eq(m, 256);
    cr_expect_eq(tokenizer_spec("bpe:0", &m, g_err, sizeof g_err), TOKSPEC_TRAIN);
    cr_expect_eq(tokenizer_spec("models/x/tokenizer.json", &m, g_err, sizeof g_err), TOKSPEC_FILE);
    const char *bad[] = {"", "bpe:", "bpe:-3", "bpe:1e3", "bpe:12x", "bpe:99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_expect_eq(tokenizer_spec(bad[i], &m, g_err, sizeof g_err), -1, "'%s' accepted", bad[i]);
    Config c;
    config_defaults(&c);
    cr_expect_str_eq(c.tokenizer, "byte");
    cr_expect_neq(config_set(&c, "tokenizer", "bpe:x", g_err, sizeof g_err), 0);
    cr_expect(strstr(g_err, "bpe:N"), "%s", g_err);
}

static void run_id(const Config *c, char id[17]) {
    cr_assert_eq(config_run_id(c, id, g_err, sizeof g_err), 0, "%s", g_err);
}

/* byte is neutral (old run_ids kept); bpe:N is part of the identity; a
 * tokenizer.json enters by its SHA-256, not its path. */
Test(spec, run_identity) {
    Config c;
    config_defaults(&c);
    char base[17], id[17];
    run_id(&c, base);
    cr_assert_eq(config_set(&c, "tokenizer", "byte", g_err, sizeof g_err), 0);
    run_id(&c, id);
    cr_expect_str_eq(id, base, "tokenizer=byte changes the run_id");
    cr_assert_eq(config_set(&c, "tokenizer", "bpe:64", g_err, sizeof g_err), 0);
    run_id(&c, id);
    cr_expect_str_neq(id, base);
    char *txt;
    cr_assert_eq(config_canonical(&c, 1, NULL, &txt, g_err, sizeof g_err), 0);
    cr_expect(strstr(txt, "tokenizer=bpe:64\n"), "%s", txt);
    free(txt);

    char p1[64], p2[64], id1[17], id2[17];
    tmpfile_path(p1, sizeof p1, "a");
    tmpfile_path(p2, sizeof p2, "b");
    Tokenizer t = trained(20);
    cr_assert_eq(tokenizer_save(&t, p1, g_err, sizeof g_err), 0, "%s", g_err);
    cr_assert_eq(tokenizer_save(&t, p2, g_err, sizeof g_err), 0, "%s", g_err);
    tokenizer_free(&t);
    cr_assert_eq(config_set(&c, "tokenizer", p1, g_err, sizeof g_err), 0);
    run_id(&c, id1);
    cr_assert_eq(config_canonical(&c, 1, NULL, &txt, g_err, sizeof g_err), 0);
    cr_expect(strstr(txt, "tokenizer=sha256:") && !strstr(txt, p1), "%s", txt);
    free(txt);
    cr_assert_eq(config_set(&c, "tokenizer", p2, g_err, sizeof g_err), 0);
    run_id(&c, id2);
    cr_expect_str_eq(id1, id2, "the same file under another path is the same run");
    t = trained(21);
    cr_assert_eq(tokenizer_save(&t, p2, g_err, sizeof g_err), 0, "%s", g_err);
    tokenizer_free(&t);
    run_id(&c, id2);
    cr_expect_str_neq(id1, id2, "another tokenizer.json is another run");
    unlink(p1);
    cr_assert_eq(config_set(&c, "tokenizer", p1, g_err, sizeof g_err), 0);
    cr_expect_neq(config_run_id(&c, id, g_err, sizeof g_err), 0, "a missing file cannot be hashed");
    cr_expect(strstr(g_err, "tokenizer:"), "%s", g_err);
    unlink(p2);
}

/* ---- bpe:N ----------------------------------------------------------------- */

Test(bpe, training_is_deterministic) {
    char p1[64], p2[64];
    tmpfile_path(p1, sizeof p1, "d1");
    tmpfile_path(p2, sizeof p2, "d2");
    Tokenizer a = trained(40), b = trained(40), c = trained(10);
    cr_assert_eq(tokenizer_save(&a, p1, g_err, sizeof g_err), 0, "%s", g_err);
    cr_assert_eq(tokenizer_save(&b, p2, g_err, sizeof g_err), 0, "%s", g_err);
    size_t n1 = 0, n2 = 0;
    char *s1 = slurp(p1, &n1), *s2 = slurp(p2, &n2);
    cr_assert(s1 && s2);
    cr_expect(n1 == n2 && !memcmp(s1, s2, n1), "two trainings on the same texts differ");
    free(s1), free(s2);
    /* layout: 256 bytes, the merges, then bos eos pad system user assistant pred_1..16 */
    int merges = bpe_n_merges(a.bpe);
    cr_expect_eq(merges, 40);
    cr_expect_eq(a.vocab_size, 256 + merges + 22);
    cr_expect(a.bos == 256 + merges && a.eos == a.bos + 1 && a.pad == a.bos + 2 && a.system == a.bos + 3 &&
              a.user == a.bos + 4 && a.assistant == a.bos + 5 && tok_pred(&a, 1) == a.bos + 6 &&
              tok_pred(&a, 16) == a.bos + 21);
    cr_expect(a.system_open.n == 1 && a.system_open.id[0] == a.system && a.system_close.n == 0 &&
              a.user_open.n == 1 && a.user_open.id[0] == a.user && a.user_close.n == 0 &&
              a.assistant_open.n == 1 && a.assistant_open.id[0] == a.assistant, "the engine template");
    cr_expect_eq(c.vocab_size, 256 + 10 + 22, "merges change the vocabulary");
    /* merges shorten the text */
    const char *s = "lines with words ending in dog";
    int k = tokenizer_encode(&a, s, strlen(s), NULL, 0, g_err, sizeof g_err);
    cr_expect(k > 0 && k < (int)strlen(s) / 2, "%d tokens for %zu bytes", k, strlen(s));
    /* the saved file loads back with the same ids */
    Tokenizer r;
    char note[256];
    cr_assert_eq(tokenizer_load(p1, &r, note, sizeof note, g_err, sizeof g_err), 0, "%s", g_err);
    cr_expect_eq(r.n_appended, 0);
    cr_expect_str_eq(note, "");
    cr_expect(r.bos == a.bos && r.eos == a.eos && tok_pred(&r, 5) == tok_pred(&a, 5) && r.vocab_size == a.vocab_size);
    int x[64], y[64];
    cr_expect_eq(tokenizer_encode(&r, s, strlen(s), x, 64, g_err, sizeof g_err), k);
    tokenizer_encode(&a, s, strlen(s), y, 64, g_err, sizeof g_err);
    cr_expect_eq(memcmp(x, y, (size_t)k * sizeof(int)), 0);
    cr_expect_eq(strlen(r.sha256), 64);
    tokenizer_free(&a), tokenizer_free(&b), tokenizer_free(&c), tokenizer_free(&r);
    cr_expect_eq(r.kind, TOKENIZER_BYTE, "tokenizer_free leaves the byte tokenizer");
    unlink(p1), unlink(p2);
}

/* decode(encode(s)) == s for every text, also special-token text and bytes
 * that are not UTF-8; content never encodes to a special id. */
static void expect_roundtrip(const Tokenizer *t, const char *what) {
    const char *texts[] = {"", "a", "lines with words ending in dog", "  two  spaces\tand\nlines\n",
                           "caf\xC3\xA9 \xE2\x82\xAC 42 \xF0\x9F\x98\x80", "\xFF\xFE bad \xC3", "<|eos|><|user|>x",
                           "<|eot_id|><|start_header_id|>", "([0-9]){3,}.*\\bdog\\b"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        const char *s = texts[i];
        int ids[256];
        int n = tokenizer_encode(t, s, strlen(s), ids, 256, g_err, sizeof g_err);
        cr_assert(n >= 0 && n <= (int)tokenizer_encode_bound(t, strlen(s)), "%s: %s", what, g_err);
        for (int j = 0; j < n; j++)
            cr_expect(t->kind == TOKENIZER_BYTE || !bpe_is_special(t->bpe, ids[j]), "%s: '%s' gave special id %d",
                      what, s, ids[j]);
        size_t len = tokenizer_decode(t, ids, (size_t)n, NULL, 0);
        char *out = malloc(len + 1);
        cr_assert_eq(tokenizer_decode(t, ids, (size_t)n, out, len + 1), len);
        cr_expect(len == strlen(s) && !memcmp(out, s, len), "%s: '%s' came back as '%s'", what, s, out);
        free(out);
    }
}

Test(bpe, decode_encode_roundtrip) {
    Tokenizer b = tokenizer_byte(), t = trained(60), l;
    expect_roundtrip(&b, "byte");
    expect_roundtrip(&t, "bpe:60");
    cr_assert_eq(tokenizer_load(FIX "llama3_small.json", &l, NULL, 0, g_err, sizeof g_err), 0, "%s", g_err);
    expect_roundtrip(&l, "llama3_small");
    tokenizer_free(&t), tokenizer_free(&l);
}

/* ---- Llama-3 ------------------------------------------------------------------- */

/* ids of text under t with its special tokens recognised (the whole rendered chat string). */
static int encode_rendered(const Tokenizer *t, const char *text, int *ids, int cap) {
    int n = bpe_encode(t->bpe, text, strlen(text), 0, ids, (size_t)cap, g_err, sizeof g_err);
    cr_assert(n >= 0 && n <= cap, "%s", g_err);
    return n;
}

Test(llama3, chat_template_prompt) {
    Tokenizer t;
    char note[512];
    cr_assert_eq(tokenizer_load(FIX "llama3_small.json", &t, note, sizeof note, g_err, sizeof g_err), 0, "%s", g_err);
    cr_expect_str_eq(t.chat, "llama3");
    cr_expect(t.bos == 656 && t.eos == 660, "<|begin_of_text|> %d, <|eot_id|> %d", t.bos, t.eos);
    cr_expect_eq(t.pad, 660, "no <|finetune_right_pad_id|>: pad is <|eot_id|>");
    cr_expect(t.system == -1 && t.user == -1 && t.assistant == -1, "no single role tokens");
    /* no reserved special tokens in the fixture: pred tokens appended after its 661 ids */
    cr_expect_eq(t.n_appended, 16);
    cr_expect(tok_pred(&t, 1) == 661 && tok_pred(&t, 16) == 676 && t.vocab_size == 677);
    cr_expect(strstr(note, "appended 16 special tokens <|pred_1|> .. <|pred_16|> (ids 661..676"), "%s", note);
    cr_expect(t.user_open.n >= 3 && t.user_open.id[0] == 658 && t.user_close.n == 1 && t.user_close.id[0] == 660,
              "user turn framed by <|start_header_id|> .. <|eot_id|>");
    Example e = {"Convert to a regex.", "lines with a vowel", "[AEIOU]", 1};
    int got[512], want[512];
    ViewOpts o = {.include_system = 1, .targets_all = 1, .tok = &t};
    int n = view_prompt(&e, &o, got, 512);
    int m = encode_rendered(&t,
                            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" LLAMA3_DATE
                            "Convert to a regex.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nlines with a "
                            "vowel<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                            want, 512);
    cr_assert_eq(n, m, "prompt of %d ids, the rendered template %d", n, m);
    for (int i = 0; i < n; i++) cr_expect_eq(got[i], want[i], "prompt id %d", i);
    cr_expect_eq(view_prompt_length(&e, &o), n);
    /* the NTP row is the rendered conversation, A ending with <|eot_id|> */
    Batch b = {0};
    int idx = 0;
    cr_assert_eq(batch_build(&b, &e, &idx, 1, &o, 0), 0);
    m = encode_rendered(&t,
                        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" LLAMA3_DATE
                        "Convert to a regex.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nlines with a "
                        "vowel<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n[AEIOU]<|eot_id|>",
                        want, 512);
    cr_assert_eq(b.n, m);
    for (int i = 0; i < m; i++) cr_expect_eq(b.ids[i], want[i], "NTP id %d", i);
    cr_expect_eq(b.ids[b.ntp_asst[1]], 660, "A ends with <|eot_id|>");
    cr_expect_eq(view_ntp_length(&e, &o), m);
    /* system_prompt=omit drops the whole system turn */
    o.include_system = 0;
    n = view_prompt(&e, &o, got, 512);
    m = encode_rendered(&t,
                        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nlines with a vowel<|eot_id|>"
                        "<|start_header_id|>assistant<|end_header_id|>\n\n",
                        want, 512);
    cr_assert_eq(n, m);
    for (int i = 0; i < n; i++) cr_expect_eq(got[i], want[i], "prompt (omit) id %d", i);
    /* the Text view: <|begin_of_text|> user header U [PRED]s <|eot_id|>, read at pred_1 */
    o.k = 2, o.packed = 1;
    cr_assert_eq(batch_build(&b, &e, &idx, 1, &o, 1), 0);
    int r = b.row_start[1];
    cr_expect_eq(b.ids[r], 656);
    cr_expect_eq(b.ids[b.enc_text[0]], tok_pred(&t, 1));
    cr_expect_eq(b.ids[b.enc_text[0] + 1], 660);
    cr_expect_eq(b.ids[b.enc_code[0] + 1], 660, "the Code view ends with <|eot_id|>");
    batch_free(&b);
    tokenizer_free(&t);
}

/* With Llama-3's reserved special tokens, pred_i is <|reserved_special_token_{i-1}|>
 * and nothing is appended. */
Test(llama3, reserved_tokens_are_the_preds) {
    size_t len;
    char *s = slurp(FIX "llama3_small.json", &len), path[64];
    cr_assert_not_null(s);
    cJSON *j = cJSON_Parse(s);
    free(s);
    cJSON *added = cJSON_GetObjectItem(j, "added_tokens");
    for (int i = 0; i < 20; i++) {
        char c[48];
        snprintf(c, sizeof c, "<|reserved_special_token_%d|>", i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", 661 + i);
        cJSON_AddStringToObject(o, "content", c);
        cJSON_AddBoolToObject(o, "single_word", 0);
        cJSON_AddBoolToObject(o, "lstrip", 0);
        cJSON_AddBoolToObject(o, "rstrip", 0);
        cJSON_AddBoolToObject(o, "normalized", 0);
        cJSON_AddBoolToObject(o, "special", 1);
        cJSON_AddItemToArray(added, o);
    }
    char *js = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    tmpfile_path(path, sizeof path, "l3");
    FILE *f = fopen(path, "wb");
    fputs(js, f);
    fclose(f);
    free(js);
    Tokenizer t;
    cr_assert_eq(tokenizer_load(path, &t, NULL, 0, g_err, sizeof g_err), 0, "%s", g_err);
    cr_expect_eq(t.n_appended, 0);
    for (int i = 1; i <= 16; i++) cr_expect_eq(tok_pred(&t, i), 660 + i, "pred_%d", i);
    cr_expect_eq(t.vocab_size, 681);
    tokenizer_free(&t);
    unlink(path);
}

/* A tokenizer.json without the engine's special tokens (GPT-2 style) gets them appended. */
Test(bpe, engine_specials_appended) {
    Tokenizer t;
    char note[512];
    cr_assert_eq(tokenizer_load(FIX "gpt2_small.json", &t, note, sizeof note, g_err, sizeof g_err), 0, "%s", g_err);
    cr_expect_str_eq(t.chat, "engine");
    cr_expect_eq(t.n_appended, 22);
    cr_expect(t.bos == 421 && t.assistant == 426 && tok_pred(&t, 16) == 442 && t.vocab_size == 443, "bos %d vocab %d",
              t.bos, t.vocab_size);
    cr_expect(strstr(note, "<|bos|> .. <|pred_16|>"), "%s", note);
    char path[64];
    tmpfile_path(path, sizeof path, "g2");
    cr_assert_eq(tokenizer_save(&t, path, g_err, sizeof g_err), 0, "%s", g_err);
    Tokenizer r;
    cr_assert_eq(tokenizer_load(path, &r, NULL, 0, g_err, sizeof g_err), 0, "%s", g_err);
    cr_expect(r.n_appended == 0 && r.bos == t.bos && tok_pred(&r, 16) == tok_pred(&t, 16), "saved with its specials");
    tokenizer_free(&t), tokenizer_free(&r);
    unlink(path);
    Tokenizer byte = tokenizer_byte();
    cr_expect_neq(tokenizer_save(&byte, path, g_err, sizeof g_err), 0, "the byte tokenizer has no file");
    cr_expect_neq(tokenizer_load("/nonexistent/tokenizer.json", &t, NULL, 0, g_err, sizeof g_err), 0);
    cr_expect(strstr(g_err, "/nonexistent/tokenizer.json"), "%s", g_err);
}

/* ---- a whole run with tokenizer=bpe:64 ----------------------------------------- */

static void pico_config(Config *c, const char *tokenizer) {
    config_defaults(c);
    const char *kv[][2] = {{"model", "pico"},    {"dataset", "synth"}, {"train_limit", "32"}, {"test_limit", "4"},
                           {"epochs", "1"},      {"threads", "1"},     {"batch_size", "16"},  {"max_new_tokens", "16"},
                           {"epoch_eval_limit", "0"}, {"loss", "jepa"}, {"k", "2"}};
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
        cr_assert_eq(config_set(c, kv[i][0], kv[i][1], g_err, sizeof g_err), 0, "%s", g_err);
    if (tokenizer) cr_assert_eq(config_set(c, "tokenizer", tokenizer, g_err, sizeof g_err), 0, "%s", g_err);
}

Test(run, bpe64_trains_saves_and_reloads, .timeout = 60) {
    char dir[] = "/tmp/jepa_tok_run_XXXXXX", ck[128], path[160];
    cr_assert_not_null(mkdtemp(dir));
    Config c;
    pico_config(&c, "bpe:64");
    TrainResult r;
    cr_assert_eq(train_run(&c, dir, NULL, &r, g_err, sizeof g_err), 0, "%s", g_err);
    cr_assert_str_eq(r.status, "ok", "%s", r.message);
    cr_expect(r.ntp_loss > 0 && r.eval.n == 4 && r.steps == 2);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    cr_expect_eq(access(path, F_OK), 0, "tokenizer.json in the run directory");
    snprintf(ck, sizeof ck, "%s/checkpoint", dir);
    snprintf(path, sizeof path, "%s/tokenizer.json", ck);
    cr_expect_eq(access(path, F_OK), 0, "tokenizer.json in the checkpoint");

    /* the checkpoint's tokenizer is the run's: the one bpe:64 trains on the same split */
    Tokenizer t, want;
    cr_assert_eq(checkpoint_tokenizer(ck, &t, NULL, 0, g_err, sizeof g_err), 0, "%s", g_err);
    cr_expect_eq(t.kind, TOKENIZER_BPE);
    cr_expect_eq(t.vocab_size, 256 + 64 + 22);
    Dataset d;
    char dpath[1024];
    dataset_path("synth", "train", dpath, sizeof dpath);
    cr_assert_eq(dataset_load(dpath, 32, &d, g_err, sizeof g_err), 0, "%s", g_err);
    const char **texts = malloc(3 * (size_t)d.n * sizeof *texts);
    for (int i = 0; i < d.n; i++)
        texts[3 * i] = d.ex[i].system, texts[3 * i + 1] = d.ex[i].user, texts[3 * i + 2] = d.ex[i].assistant;
    cr_assert_eq(tokenizer_train(texts, 3 * (size_t)d.n, 64, &want, g_err, sizeof g_err), 0, "%s", g_err);
    free(texts);
    for (int i = 0; i < d.n; i++) {
        int a[1024], b[1024];
        const char *s = d.ex[i].user;
        int na = tokenizer_encode(&t, s, strlen(s), a, 1024, g_err, sizeof g_err);
        int nb = tokenizer_encode(&want, s, strlen(s), b, 1024, g_err, sizeof g_err);
        cr_expect(na == nb && !memcmp(a, b, (size_t)na * sizeof(int)), "example %d encodes differently", i);
    }
    cr_expect(t.bos == want.bos && tok_pred(&t, 2) == tok_pred(&want, 2));
    tokenizer_free(&want);

    /* the byte-only loader refuses it; the tokenizer-aware one gives model and tokenizer */
    Model m;
    cr_expect_neq(checkpoint_load(&m, backend_cpu(), ck, NULL, NULL, g_err, sizeof g_err), 0);
    cr_expect(strstr(g_err, "BPE tokenizer"), "%s", g_err);
    Tokenizer lt;
    cr_assert_eq(checkpoint_load_tok(&m, backend_cpu(), ck, NULL, NULL, &lt, g_err, sizeof g_err), 0, "%s", g_err);
    cr_expect_eq(m.cfg.vocab_size, 342);
    cr_expect(lt.kind == TOKENIZER_BPE && lt.eos == t.eos);
    model_free(&m);
    tokenizer_free(&lt);

    /* init= the checkpoint: the same tokenizer, saved again byte for byte */
    char dir2[] = "/tmp/jepa_tok_run2_XXXXXX";
    cr_assert_not_null(mkdtemp(dir2));
    Config c2;
    pico_config(&c2, NULL);
    snprintf(c2.init, sizeof c2.init, "%s", ck);
    TrainResult r2;
    cr_assert_eq(train_run(&c2, dir2, NULL, &r2, g_err, sizeof g_err), 0, "%s", g_err);
    cr_assert_str_eq(r2.status, "ok", "%s", r2.message);
    char p2[160];
    snprintf(p2, sizeof p2, "%s/checkpoint/tokenizer.json", dir2);
    size_t n1 = 0, n2 = 0;
    char *s1 = slurp(path, &n1), *s2 = slurp(p2, &n2);
    cr_assert(s1 && s2);
    cr_expect(n1 == n2 && !memcmp(s1, s2, n1), "the init run saved another tokenizer.json");
    free(s1), free(s2);
    /* bpe:N together with init= is refused */
    cr_assert_eq(config_set(&c2, "tokenizer", "bpe:64", g_err, sizeof g_err), 0);
    cr_expect_neq(train_run(&c2, NULL, NULL, &r2, g_err, sizeof g_err), 0);
    cr_expect(strstr(g_err, "init"), "%s", g_err);
    tokenizer_free(&t);
    dataset_free(&d);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, dir2);
    cr_assert_eq(system(cmd), 0);
}

/* ---- a Hugging Face Llama-3 checkpoint with its tokenizer.json under init= ---------- */

/* dir = a pico Llama with vocab_size 661 (llama3_small.json's ids) and that
 * tokenizer.json, config.json without our "tokenizer" object. */
static void write_llama3_dir(const char *dir) {
    ModelConfig mc;
    Model m;
    cr_assert_eq(model_config_preset("pico", 661, &mc, g_err, sizeof g_err), 0, "%s", g_err);
    cr_assert_eq(model_init(&m, &mc, NULL, backend_cpu(), g_err, sizeof g_err), 0, "%s", g_err);
    Rng r = rng_stream(3, "init");
    model_init_weights(&m, &r, 0.3f);
    cr_assert_eq(checkpoint_save(&m, NULL, NULL, dir, g_err, sizeof g_err), 0, "%s", g_err);
    model_free(&m);
    size_t n;
    char *s = slurp(FIX "llama3_small.json", &n), path[200];
    cr_assert_not_null(s);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "wb");
    cr_assert_eq(fwrite(s, 1, n, f), n);
    fclose(f);
    free(s);
}

Test(llama3, init_checkpoint_uses_its_tokenizer, .timeout = 60) {
    char dir[] = "/tmp/jepa_tok_l3_XXXXXX", out[] = "/tmp/jepa_tok_l3o_XXXXXX", path[200], note[512];
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_not_null(mkdtemp(out));
    write_llama3_dir(dir);
    Config c;
    pico_config(&c, NULL);
    snprintf(c.init, sizeof c.init, "%s", dir);
    Tokenizer t;
    cr_assert_eq(run_tokenizer(&c, &t, note, sizeof note, g_err, sizeof g_err), 0, "%s", g_err);
    cr_expect_str_eq(t.chat, "llama3");
    cr_expect_eq(t.vocab_size, 677);
    Model m;
    cr_expect_neq(model_build(&c, backend_cpu(), &m, NULL, 0, g_err, sizeof g_err), 0, "the byte-only builder refuses");
    cr_assert_eq(model_build_tok(&c, &t, backend_cpu(), &m, note, sizeof note, g_err, sizeof g_err), 0, "%s", g_err);
    cr_expect_eq(m.cfg.vocab_size, 677, "the appended [PRED] tokens get rows");
    cr_expect(strstr(note, "appended 16 special tokens (rows 661..676"), "%s", note);
    float *E = malloc(677 * 32 * sizeof(float));
    model_tensor_get(&m, m.tid_embed, E);
    double mean = 0;
    for (int v = 0; v < 661; v++) mean += E[(size_t)v * 32 + 5];
    mean /= 661;
    cr_expect(fabs(E[(size_t)670 * 32 + 5] - mean) < 1e-5, "new row = mean of the existing rows");
    free(E);
    model_free(&m);
    tokenizer_free(&t);
    /* a run from it evaluates with the Llama-3 prompt and saves the tokenizer with its [PRED] tokens */
    TrainResult r;
    cr_assert_eq(train_run(&c, out, NULL, &r, g_err, sizeof g_err), 0, "%s", g_err);
    cr_assert_str_eq(r.status, "ok", "%s", r.message);
    snprintf(path, sizeof path, "%s/checkpoint", out);
    cr_assert_eq(checkpoint_tokenizer(path, &t, NULL, 0, g_err, sizeof g_err), 0, "%s", g_err);
    cr_expect(!strcmp(t.chat, "llama3") && t.n_appended == 0 && tok_pred(&t, 1) == 661, "saved with its preds");
    tokenizer_free(&t);
    snprintf(path, sizeof path, "%s/checkpoint/config.json", out);
    char *cfg = slurp(path, NULL);
    cr_assert_not_null(cfg);
    cr_expect(strstr(cfg, "\"chat\":\t\"llama3\"") && strstr(cfg, "\"kind\":\t\"bpe\""), "%s", cfg);
    free(cfg);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, out);
    cr_assert_eq(system(cmd), 0);
}
