/* Tests of engine/config.c's config_set: integers, floats and seeds are parsed strictly and
 * range-checked, the schema's ranges are sane, and an unknown key gets a "did you mean". */
#include <criterion/criterion.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

/* config_set(key, value) must fail with an error naming the key and containing want. */
static void expect_refused(const char *key, const char *value, const char *want) {
    Config c;
    config_defaults(&c);
    Config before = c;
    char err[512] = "";
    cr_expect_neq(config_set(&c, key, value, err, sizeof err), 0, "%s='%s' accepted", key, value);
    char named[80];
    snprintf(named, sizeof named, "'%s'", key);
    cr_expect(strstr(err, named) && strstr(err, want), "%s='%s': error '%s' should name the key and say '%s'", key,
              value, err, want);
    cr_expect_eq(memcmp(&c, &before, sizeof c), 0, "%s='%s': a refused value changed the config", key, value);
}

static void expect_set(const char *key, const char *value, const char *canonical) {
    Config c;
    config_defaults(&c);
    char err[512] = "", out[CFG_PATH_MAX];
    cr_assert_eq(config_set(&c, key, value, err, sizeof err), 0, "%s='%s': %s", key, value, err);
    config_get(&c, config_key(key), out, sizeof out);
    cr_expect_str_eq(out, canonical, "%s='%s'", key, value);
}

Test(config, integers_are_decimal_digits) {
    expect_set("epochs", "2", "2");
    expect_set("epochs", "0002", "2");
    expect_set("train_limit", "1000000000", "1000000000");
    const char *bad[] = {"2.5", "2.0", "1e3", "0x10", "+3", " 3", "3 ", "", "-", "two", "3a", "1_000"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) expect_refused("epochs", bad[i], "expected an integer");
    expect_refused("epochs", "1001", "out of range [0, 1000]");
    expect_refused("epochs", "-1", "out of range");
    expect_refused("k", "17", "out of range [0, 16]");
    expect_refused("train_limit", "1000000001", "out of range");
    expect_refused("train_limit", "99999999999999999999999", "out of range"); /* beyond 64 bits: no wrap */
    expect_refused("hidden_size", "4294967424", "out of range");               /* 2^32 + 128: no int wrap */
}

Test(config, seed_is_an_unsigned_64_bit_integer) {
    expect_set("seed", "18446744073709551615", "18446744073709551615");
    expect_set("seed", "082", "82");
    expect_refused("seed", "18446744073709551616", "out of range");
    expect_refused("seed", "-1", "non-negative integer");
    expect_refused("seed", " -1", "non-negative integer"); /* strtoull would wrap it to 2^64 - 1 */
    expect_refused("seed", "+1", "non-negative integer");
    expect_refused("seed", "1.0", "non-negative integer");
    expect_refused("seed", "1e3", "non-negative integer");
}

Test(config, floats_are_finite_decimal_numbers_in_range) {
    expect_set("lr", "1e-3", "0.001");
    expect_set("lr", ".5", "0.5");
    expect_set("lambda", "+2", "2");
    const char *bad[] = {"nan", "NaN", "inf", "-inf", "infinity", "0x1p-3", "1e-3x", "", "1,5", " 1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) expect_refused("lr", bad[i], "expected a number");
    expect_refused("lr", "1e400", "out of range");  /* overflows a double */
    expect_refused("lr", "1e-400", "out of range"); /* underflows */
    expect_refused("lr", "11", "out of range");
    expect_refused("lambda", "-0.5", "out of range");
    expect_refused("ld", "1.5", "out of range");
    expect_refused("adam_eps", "0", "out of range"); /* 0 would divide 0 by 0 for a gradient that stays 0 */
}

Test(config, strings_and_enums) {
    expect_refused("init", "/ckpt\nx", "control character");
    expect_refused("loss", "ntpx", "is not one of");
    char longv[CFG_PATH_MAX + 8];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    expect_refused("init", longv, "longer than");
    expect_refused("loss", longv, "is not one of");
}

/* Every numeric key has a finite range that holds its default and its neutral value, fits the
 * field (int keys within int; float keys within float, as several are converted to float), and
 * every default passes config_set. */
Test(config, schema_ranges_are_sane) {
    int n;
    const CfgKey *s = config_schema(&n);
    for (int i = 0; i < n; i++) {
        const CfgKey *k = &s[i];
        char err[512] = "";
        Config c;
        config_defaults(&c);
        cr_expect_eq(config_set(&c, k->name, k->def, err, sizeof err), 0, "%s default: %s", k->name, err);
        if (k->neutral) cr_expect_eq(config_set(&c, k->name, k->neutral, err, sizeof err), 0, "%s neutral: %s", k->name, err);
        if (k->type != CFG_INT && k->type != CFG_FLOAT) continue;
        cr_expect(isfinite(k->min) && isfinite(k->max) && k->min <= k->max, "%s: range [%g, %g]", k->name, k->min,
                  k->max);
        cr_expect(k->min >= 0, "%s: negative minimum %g", k->name, k->min);
        if (k->type == CFG_INT) cr_expect(k->max <= INT_MAX && k->min == floor(k->min) && k->max == floor(k->max), "%s", k->name);
        else cr_expect(k->max <= FLT_MAX, "%s: %g", k->name, k->max);
        const char *ub = k->type == CFG_INT ? "2147483648" : "1e308";
        cr_expect_neq(config_set(&c, k->name, ub, err, sizeof err), 0, "%s=%s accepted", k->name, ub);
    }
}

Test(config, unknown_key_suggests_the_nearest) {
    struct { const char *typo, *want; } cases[] = {
        {"lamda", "lambda"}, {"LR", "lr"}, {"epoch", "epochs"}, {"sede", "seed"}, {"seeds", "seed"},
        {"batchsize", "batch_size"}, {"lora_rnk", "lora_rank"}, {"jepa_metrc", "jepa_metric"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char want[128];
        snprintf(want, sizeof want, "did you mean '%s'?", cases[i].want);
        expect_refused(cases[i].typo, "1", "unknown key");
        Config c;
        char err[512] = "";
        config_defaults(&c);
        config_set(&c, cases[i].typo, "1", err, sizeof err);
        cr_expect(strstr(err, want) != NULL, "%s: %s", cases[i].typo, err);
    }
    const char *far[] = {"xyzzy", "q", "learning_rate_schedule", ""};
    for (size_t i = 0; i < sizeof far / sizeof *far; i++) {
        cr_expect_null(config_suggest(far[i]), "%s -> %s", far[i], config_suggest(far[i]));
        Config c;
        char err[512] = "";
        config_defaults(&c);
        cr_expect_neq(config_set(&c, far[i], "1", err, sizeof err), 0);
        cr_expect(strstr(err, "unknown key") && !strstr(err, "did you mean"), "%s", err);
    }
}
