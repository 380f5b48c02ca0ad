/* Run identity (engine/config.c, engine/hash.c): golden run_ids that must
 * never drift, neutral values of the keys added since, init identified by
 * the content of its checkpoint, and SHA-256 against known vectors. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "hash.h"

/* A config from the defaults and "key=value" settings (NULL-terminated). */
static Config cfg(const char *const *kv) {
    Config c;
    config_defaults(&c);
    char err[256];
    for (; kv && *kv; kv++) {
        char key[64];
        const char *eq = strchr(*kv, '=');
        cr_assert_not_null(eq, "%s", *kv);
        snprintf(key, sizeof key, "%.*s", (int)(eq - *kv), *kv);
        cr_assert_eq(config_set(&c, key, eq + 1, err, sizeof err), 0, "%s", err);
    }
    return c;
}

static void run_id(const Config *c, char id[17]) {
    char err[512] = "";
    cr_assert_eq(config_run_id(c, id, err, sizeof err), 0, "%s", err);
}

static void id_of(const char *const *kv, char id[17]) {
    Config c = cfg(kv);
    run_id(&c, id);
}

/* run_ids computed by the code before the keys of commit 38992e5 (init,
 * model shape overrides, LoRA) existed: runs recorded then keep their ids. */
Test(identity, golden_run_ids) {
    static const char *const ntp[] = {"model=pico", "epochs=2", "lr=1e-3", "batch_size=16", "train_limit=96",
                                      "test_limit=8", "system_prompt=omit", "seed=23", "lambda=5", "k=3", NULL};
    static const char *const jepa[] = {"loss=jepa", "lambda=0.01", "k=2", "ld=0.5", "jepa_metric=l2",
                                       "jepa_pass=separate", "seed=4", "epochs=2", "dataset=turk", NULL};
    static const char *const demo[] = {"system_prompt=omit", "epochs=2", "loss=jepa", "lambda=0.01", "k=1", "ld=0",
                                       "jepa_metric=cosine", "jepa_pass=packed", "seed=82", NULL};
    char id[17];
    id_of(NULL, id);
    cr_expect_str_eq(id, "59fb6064810a052d", "defaults");
    id_of(ntp, id);
    cr_expect_str_eq(id, "02af5e5b1767b651", "an NTP run");
    id_of(jepa, id);
    cr_expect_str_eq(id, "dc38b5c852a25947", "a JEPA run");
    id_of(demo, id);
    cr_expect_str_eq(id, "6a7bb670d057529c", "the demo's jepa arm, seed 82");
}

/* The keys older than neutral values: the only ones allowed neutral = NULL. A
 * key added to the schema must declare its neutral value (config.h). */
Test(identity, every_new_key_declares_a_neutral_value) {
    static const char *const legacy[] = {
        "model", "dataset", "train_limit", "test_limit", "system_prompt", "ntp_targets", "loss", "lambda", "gamma",
        "k", "ld", "jepa_metric", "jepa_pass", "lr", "epochs", "batch_size", "weight_decay", "grad_clip",
        "adam_beta1", "adam_beta2", "adam_eps", "init_std", "max_new_tokens", "epoch_eval_limit", "seed", "threads",
        "device", "checkpoint", "log_every"};
    int n;
    const CfgKey *s = config_schema(&n);
    for (int i = 0; i < n; i++) {
        int old = 0;
        for (size_t j = 0; j < sizeof legacy / sizeof legacy[0]; j++) old |= !strcmp(s[i].name, legacy[j]);
        if (old) {
            cr_expect_null(s[i].neutral, "key %s existed before neutral values: it stays always in the identity",
                           s[i].name);
            continue;
        }
        cr_expect_not_null(s[i].neutral, "key %s must declare its neutral value", s[i].name);
        if (!s[i].neutral) continue;
        /* every neutral value so far is the key's default: the defaults keep the old run_ids */
        cr_expect(config_is_neutral(&s[i], s[i].def), "key %s: default %s is not neutral", s[i].name, s[i].def);
        Config c;
        config_defaults(&c);
        char err[256];
        cr_expect_eq(config_set(&c, s[i].name, s[i].neutral, err, sizeof err), 0, "%s: %s", s[i].name, err);
    }
}

Test(identity, neutral_values_compare_numerically) {
    const CfgKey *rt = config_key("rope_theta"), *hs = config_key("hidden_size"), *tw = config_key("tie_word_embeddings");
    const CfgKey *ld = config_key("lora_dropout"), *lr = config_key("lr");
    cr_expect(config_is_neutral(rt, "0"));
    cr_expect(config_is_neutral(rt, "0.0"));
    cr_expect(config_is_neutral(rt, "0e5"));
    cr_expect_not(config_is_neutral(rt, "10000"));
    cr_expect(config_is_neutral(hs, "0"));
    cr_expect(config_is_neutral(hs, "00"));
    cr_expect_not(config_is_neutral(hs, "64"));
    cr_expect(config_is_neutral(ld, "0.10000000000000001"));
    cr_expect(config_is_neutral(ld, "0.1"));
    cr_expect(config_is_neutral(tw, "auto"));
    cr_expect_not(config_is_neutral(tw, "true"));
    cr_expect_not(config_is_neutral(lr, "3e-3"), "a key without a neutral value is never neutral");
    char t[64];
    cr_expect_eq(config_neutral_text(ld, t, sizeof t), 0);
    cr_expect_str_eq(t, "0.10000000000000001");
    cr_expect_eq(config_neutral_text(lr, t, sizeof t), -1);
}

/* A new key at its neutral value leaves run_id unchanged; at another value
 * it changes it. */
Test(identity, new_keys_at_neutral_values_keep_run_id) {
    char base[17], id[17];
    id_of(NULL, base);
    static const char *const neutral[][3] = {
        {"hidden_size=0", NULL}, {"rope_theta=0.0", NULL}, {"tie_word_embeddings=auto", NULL},
        {"lora_rank=0", "lora_dropout=0.5", NULL}, /* LoRA settings without LoRA have no effect */
        {"init=", NULL}, {"lora_targets=q,k,v,o,gate,up,down", NULL}, {"dtype=fp32", NULL}};
    for (size_t i = 0; i < sizeof neutral / sizeof neutral[0]; i++) {
        id_of(neutral[i], id);
        cr_expect_str_eq(id, base, "%s changed the run_id", neutral[i][0]);
    }
    static const char *const changed[][3] = {
        {"hidden_size=64", NULL}, {"rope_theta=500000", NULL}, {"tie_word_embeddings=false", NULL},
        {"lora_rank=4", NULL}, {"max_position_embeddings=256", NULL}, {"dtype=bf16", NULL}};
    for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++) {
        id_of(changed[i], id);
        cr_expect_str_neq(id, base, "%s left the run_id unchanged", changed[i][0]);
    }
    /* with LoRA on, its settings count, except at their neutral values */
    char r4[17];
    static const char *const lora[] = {"lora_rank=4", NULL}, *const lora_n[] = {"lora_rank=4", "lora_dropout=0.1", NULL},
                             *const lora_d[] = {"lora_rank=4", "lora_dropout=0.2", NULL},
                             *const lora_t[] = {"lora_rank=4", "lora_targets=q,v", NULL};
    id_of(lora, r4);
    id_of(lora_n, id);
    cr_expect_str_eq(id, r4);
    id_of(lora_d, id);
    cr_expect_str_neq(id, r4);
    id_of(lora_t, id);
    cr_expect_str_neq(id, r4);
    /* the identity text says which keys count */
    Config c = cfg(lora_t);
    char *text, err[256];
    cr_assert_eq(config_canonical(&c, 1, NULL, &text, err, sizeof err), 0, "%s", err);
    cr_expect(strstr(text, "lora_rank=4\n") && strstr(text, "lora_targets=q,v\n"), "%s", text);
    cr_expect(!strstr(text, "lora_dropout") && !strstr(text, "hidden_size") && !strstr(text, "init="), "%s", text);
    free(text);
    cr_assert_eq(config_canonical(&c, 0, NULL, &text, err, sizeof err), 0, "%s", err);
    cr_expect(strstr(text, "hidden_size=0\n") && strstr(text, "init=\n") && strstr(text, "threads="), "%s", text);
    free(text);
}

/* ---- content hashes ---- */

static char tmpdir[64];

static void mk_tmp(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_identity_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmp(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

/* A fake checkpoint under tmpdir/name: only the names matter to the hash. */
static void make_checkpoint(const char *name, const char *weights, char *dir, size_t n) {
    snprintf(dir, n, "%s/%s", tmpdir, name);
    cr_assert_eq(mkdir(dir, 0755), 0, "%s", dir);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/adapter", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    write_file(dir, "config.json", "{\"hidden_size\": 32}\n");
    write_file(dir, "model.safetensors", weights);
    write_file(sub, "adapter_model.safetensors", "lora bytes");
}

Test(identity, sha256_known_vectors, .init = mk_tmp, .fini = rm_tmp) {
    char hex[65], err[512] = "";
    write_file(tmpdir, "abc", "abc");
    write_file(tmpdir, "empty", "");
    char path[256];
    snprintf(path, sizeof path, "%s/abc", tmpdir);
    cr_assert_eq(sha256_file(path, hex, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    snprintf(path, sizeof path, "%s/empty", tmpdir);
    cr_assert_eq(sha256_file(path, hex, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    /* a file larger than the streaming block */
    snprintf(path, sizeof path, "%s/big", tmpdir);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 1000000; i++) fputc('a', f);
    fclose(f);
    cr_assert_eq(sha256_file(path, hex, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    snprintf(path, sizeof path, "%s/missing", tmpdir);
    cr_expect_eq(sha256_file(path, hex, err, sizeof err), -1);
    cr_expect(strstr(err, path) != NULL, "the error names the file: %s", err);
}

/* The documented format: SHA-256 of "name<TAB>sha256\n" lines sorted by name. */
Test(identity, checkpoint_hash_format, .init = mk_tmp, .fini = rm_tmp) {
    char dir[512], hex[65], err[512] = "";
    make_checkpoint("a", "weights", dir, sizeof dir);
    write_file(dir, "log.txt", "not part of the checkpoint");
    cr_assert_eq(checkpoint_content_hash(dir, hex, err, sizeof err), 0, "%s", err);
    char text[1024], h1[65], h2[65], h3[65];
    sha256_bytes("lora bytes", 10, h1);
    sha256_bytes("{\"hidden_size\": 32}\n", 20, h2);
    sha256_bytes("weights", 7, h3);
    snprintf(text, sizeof text, "adapter/adapter_model.safetensors\t%s\nconfig.json\t%s\nmodel.safetensors\t%s\n", h1,
             h2, h3);
    char want[65];
    sha256_bytes(text, strlen(text), want);
    cr_expect_str_eq(hex, want);
}

Test(identity, init_is_identified_by_content, .init = mk_tmp, .fini = rm_tmp) {
    char a[256], b[256], c[256], d[256];
    make_checkpoint("a", "weights v1", a, sizeof a);
    make_checkpoint("b-elsewhere", "weights v1", b, sizeof b);
    make_checkpoint("c", "weights v2", c, sizeof c); /* one byte differs */
    make_checkpoint("d", "weights v1", d, sizeof d);
    write_file(d, "extra.json", "{}"); /* one more checkpoint file */
    write_file(b, "README.md", "other files do not count");
    char ia[17], ib[17], ic[17], id[17], none[17];
    Config ca = cfg(NULL), cb = ca, cc = ca, cd = ca;
    snprintf(ca.init, sizeof ca.init, "%s", a);
    snprintf(cb.init, sizeof cb.init, "%s/", b); /* another spelling of another path */
    snprintf(cc.init, sizeof cc.init, "%s", c);
    snprintf(cd.init, sizeof cd.init, "%s", d);
    run_id(&ca, ia);
    run_id(&cb, ib);
    run_id(&cc, ic);
    run_id(&cd, id);
    id_of(NULL, none);
    cr_expect_str_eq(ia, ib, "same files under another path: same run");
    cr_expect_str_neq(ia, ic, "one byte changed: another run");
    cr_expect_str_neq(ia, id, "one more .json: another run");
    cr_expect_str_neq(ia, none, "from a checkpoint is not from scratch");
    char *text, err[512];
    cr_assert_eq(config_canonical(&ca, 1, NULL, &text, err, sizeof err), 0, "%s", err);
    cr_expect(strstr(text, "init=sha256:") && !strstr(text, a), "the identity holds the hash, not the path: %s", text);
    free(text);
    /* through a cache: the same ids; a hash given to the cache is used as is */
    HashCache hc = {0};
    char x[17];
    cr_assert_eq(config_run_id_cached(&ca, &hc, x, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(x, ia);
    cr_expect_eq(hc.n, 1);
    cr_assert_eq(config_run_id_cached(&cb, &hc, x, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(x, ia);
    Config cz = ca;
    snprintf(cz.init, sizeof cz.init, "%s/not-there", tmpdir);
    char hex[65];
    cr_assert_eq(checkpoint_content_hash(a, hex, err, sizeof err), 0);
    cr_assert_eq(hash_cache_put_checkpoint(&hc, cz.init, hex), 0);
    cr_assert_eq(config_run_id_cached(&cz, &hc, x, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(x, ia);
    cr_expect_eq(hash_cache_put_checkpoint(&hc, "/x", "not hex"), -1);
    hash_cache_free(&hc);
}

Test(identity, init_that_cannot_be_hashed_is_an_error, .init = mk_tmp, .fini = rm_tmp) {
    Config c = cfg(NULL);
    char id[17] = "x", err[512] = "";
    snprintf(c.init, sizeof c.init, "%s/missing", tmpdir);
    cr_expect_eq(config_run_id(&c, id, err, sizeof err), -1);
    cr_expect_str_eq(id, "");
    cr_expect(!strncmp(err, "init: ", 6) && strstr(err, c.init), "the error names the directory: %s", err);
    char empty[512];
    snprintf(empty, sizeof empty, "%s/empty", tmpdir);
    cr_assert_eq(mkdir(empty, 0755), 0);
    write_file(empty, "notes.txt", "no checkpoint here");
    snprintf(c.init, sizeof c.init, "%s", empty);
    cr_expect_eq(config_run_id(&c, id, err, sizeof err), -1);
    cr_expect(strstr(err, empty) && strstr(err, ".safetensors"), "%s", err);
}

/* `harness train --help` says which keys are part of the identity, and when. */
Test(identity, help_marks_identity_keys) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    config_print_help(f);
    fclose(f);
    static const char *const want[][2] = {
        {"\n  lr ", " yes "}, {"\n  threads ", " no "}, {"\n  hidden_size ", " unless 0 "}, {"\n  init ", " unless \"\" "}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *line = strstr(text, want[i][0]);
        cr_assert_not_null(line, "no line for %s", want[i][0]);
        const char *eol = strchr(line + 1, '\n');
        const char *hit = strstr(line, want[i][1]);
        cr_expect(hit && (!eol || hit < eol), "%s should say '%s'", want[i][0] + 3, want[i][1]);
    }
    free(text);
}
