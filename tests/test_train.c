/* Whole runs: determinism, checkpoints, recorded files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "checkpoint.h"
#include "config.h"
#include "loss.h"
#include "model.h"
#include "train.h"

static void small_config(Config *c, const char *loss) {
    char err[256];
    config_defaults(c);
    const char *kv[][2] = {{"model", "pico"}, {"train_limit", "48"}, {"test_limit", "6"}, {"epochs", "2"},
                           {"batch_size", "8"}, {"max_new_tokens", "24"}, {"epoch_eval_limit", "3"},
                           {"threads", "1"}, {"lr", "3e-3"}, {"log_every", "1"}};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) cr_assert_eq(config_set(c, kv[i][0], kv[i][1], err, sizeof err), 0);
    cr_assert_eq(config_set(c, "loss", loss, err, sizeof err), 0);
    if (!strcmp(loss, "jepa")) {
        cr_assert_eq(config_set(c, "k", "2", err, sizeof err), 0);
        cr_assert_eq(config_set(c, "ld", "0.3", err, sizeof err), 0);
    }
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

/* curve.csv without the wall-clock column, so two runs can be compared bit for bit. */
static char *curve_losses(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/curve.csv", dir);
    char *s = slurp(path);
    cr_assert_not_null(s, "%s missing", path);
    /* drop the 'seconds' field (9th) of each line */
    char *out = calloc(strlen(s) + 1, 1), *o = out;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        int field = 0;
        for (char *p = line; *p; p++) {
            if (*p == ',') field++;
            if (field != 8) *o++ = *p;
        }
        *o++ = '\n';
    }
    free(s);
    return out;
}

static void run_twice(const char *loss) {
    char t1[] = "/tmp/jepa_det1_XXXXXX", t2[] = "/tmp/jepa_det2_XXXXXX";
    cr_assert_not_null(mkdtemp(t1));
    cr_assert_not_null(mkdtemp(t2));
    Config c;
    small_config(&c, loss);
    TrainResult a, b;
    char err[512];
    cr_assert_eq(train_run(&c, t1, NULL, &a, err, sizeof err), 0, "%s", err);
    cr_assert_eq(train_run(&c, t2, NULL, &b, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(a.status, "ok");
    cr_expect_eq(memcmp(&a.ntp_loss, &b.ntp_loss, sizeof(double)), 0, "ntp loss %.17g vs %.17g", a.ntp_loss, b.ntp_loss);
    cr_expect_eq(memcmp(&a.jepa_dist, &b.jepa_dist, sizeof(double)), 0);
    cr_expect_eq(memcmp(a.eval.acc, b.eval.acc, sizeof a.eval.acc), 0, "accuracies differ");
    char *c1 = curve_losses(t1), *c2 = curve_losses(t2);
    cr_expect_str_eq(c1, c2, "curve.csv differs between identical runs");
    /* a different seed must give different losses (the check can fail) */
    char t3[] = "/tmp/jepa_det3_XXXXXX";
    cr_assert_not_null(mkdtemp(t3));
    c.seed = 4;
    TrainResult d;
    cr_assert_eq(train_run(&c, t3, NULL, &d, err, sizeof err), 0, "%s", err);
    cr_expect_neq(a.ntp_loss, d.ntp_loss, "seed does not change the run");
    free(c1);
    free(c2);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s %s", t1, t2, t3);
    cr_assert_eq(system(cmd), 0);
}

Test(determinism, ntp_bit_identical) { run_twice("ntp"); }
Test(determinism, jepa_bit_identical) { run_twice("jepa"); }

/* A checkpoint written by a run reloads to the same losses (harness loss path). */
Test(checkpoint, roundtrip_same_loss) {
    char dir[] = "/tmp/jepa_ckpt_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    Config c;
    small_config(&c, "jepa");
    TrainResult r;
    char err[512], ck[600];
    cr_assert_eq(train_run(&c, dir, NULL, &r, err, sizeof err), 0, "%s", err);
    snprintf(ck, sizeof ck, "%s/checkpoint", dir);
    Model m;
    Config rc;
    int has_run = 0;
    cr_assert_eq(checkpoint_load(&m, backend_cpu(), ck, &rc, &has_run, err, sizeof err), 0, "%s", err);
    cr_assert_eq(has_run, 1);
    char id1[17], id2[17];
    config_run_id(&c, id1, NULL, 0);
    config_run_id(&rc, id2, NULL, 0);
    cr_expect_str_eq(id1, id2, "the run config does not round-trip through config.json");
    cr_expect_eq(m.cfg.dim, 32);
    cr_expect_eq(m.cfg.n_kv_heads, 2);
    cr_expect_not_null(model_tensor(&m, "model.layers.1.self_attn.k_proj.weight"));
    cr_expect_not_null(model_tensor(&m, "lm_head.weight"));
    /* save again and compare bytes: the format is stable */
    char ck2[700];
    snprintf(ck2, sizeof ck2, "%s/again", dir);
    Tokenizer tok = tokenizer_byte();
    cr_assert_eq(checkpoint_save(&m, &tok, &rc, ck2, err, sizeof err), 0, "%s", err);
    char p1[800], p2[800];
    snprintf(p1, sizeof p1, "%s/model.safetensors", ck);
    snprintf(p2, sizeof p2, "%s/model.safetensors", ck2);
    char *a = slurp(p1), *b = slurp(p2);
    cr_assert(a && b);
    FILE *f = fopen(p1, "rb");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    cr_expect_eq(memcmp(a, b, (size_t)n), 0, "re-saved safetensors differ");
    /* header starts with its little-endian length and the JSON header names HF tensors */
    cr_expect(strstr(a + 8, "\"model.embed_tokens.weight\"") != NULL);
    free(a);
    free(b);
    model_free(&m);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Malformed checkpoints give errors naming the file. */
Test(checkpoint, malformed) {
    char dir[] = "/tmp/jepa_bad_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[600], err[512];
    Model m;
    cr_expect_neq(checkpoint_load(&m, backend_cpu(), dir, NULL, NULL, err, sizeof err), 0);
    cr_expect(strstr(err, "config.json") != NULL, "%s", err);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"hidden_size\": 32, \"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"intermediate_size\": 64, "
          "\"vocab_size\": 278}", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    f = fopen(path, "w");
    static const char st[] = "\x10\0\0\0\0\0\0\0{\"a\":1}         ";
    fwrite(st, 1, sizeof st - 1, f);
    fclose(f);
    cr_expect_neq(checkpoint_load(&m, backend_cpu(), dir, NULL, NULL, err, sizeof err), 0);
    cr_expect(strstr(err, "model.safetensors") && strstr(err, "tensor a"), "a malformed entry is named: %s", err);
    f = fopen(path, "w");
    static const char empty[] = "\x08\0\0\0\0\0\0\0{}      ";
    fwrite(empty, 1, sizeof empty - 1, f);
    fclose(f);
    cr_expect_neq(checkpoint_load(&m, backend_cpu(), dir, NULL, NULL, err, sizeof err), 0);
    cr_expect(strstr(err, "model.embed_tokens.weight") != NULL, "a missing tensor is named: %s", err);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
