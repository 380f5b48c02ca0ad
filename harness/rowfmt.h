/* How config values are spelled in runs.csv (ARCHITECTURE.md "results/<grid>/runs.csv").
 *
 * One spelling per value, so that readers that compare cells as text (harness report's
 * cells and baselines, harness paper) never see two spellings of one config:
 * - a key without effect in the run (config_key_applies, followed through the key it
 *   requires: infonce_tau needs jepa_metric=infonce, which itself needs loss=jepa) is
 *   written empty: lambda, k, ld, ... under loss=ntp; lora_alpha, lora_dropout and
 *   lora_targets when lora_rank = 0; probe_n when probe = 0;
 * - a float is written shortest-round-trip: the shortest %.{1..17}g that strtod reads
 *   back as the same double ("0.003", not config_get's "0.0030000000000000001").
 * Only the CSV text changes: the run identity (config_get, config_canonical) does not.
 * store_read applies the same rules to every row it reads (rowfmt_plan / rowfmt_row), so
 * rows written before these rules compare equal to rows written after them. */
#ifndef HARNESS_ROWFMT_H
#define HARNESS_ROWFMT_H

#include <stddef.h>

#include "config.h"

/* x as the shortest %.{1..17}g text that parses back to x exactly (nan, inf as printf
 * prints them) into out (size n). */
void rowfmt_double(double x, char *out, size_t n);

/* Text v of key k in runs.csv spelling into out (size n): for a CFG_FLOAT key, a value
 * that parses whole as a finite double is rewritten by rowfmt_double; anything else
 * (ints, strings, "", text that is not a number) is copied unchanged. out must not
 * overlap v. */
void rowfmt_value(const CfgKey *k, const char *v, char *out, size_t n);

/* Whether key k has an effect in the run whose values come from get(name, ctx):
 * config_key_applies_by for k, and for the key its requirement names, and so on (a key
 * that requires a key without effect has none either). */
int rowfmt_applies_by(const CfgKey *k, const char *(*get)(const char *name, void *ctx), void *ctx);

/* The runs.csv text of key k of c into out (size n): "" when k has no effect in c
 * (rowfmt_applies_by), else rowfmt_value of config_get. */
void rowfmt_config_value(const Config *c, const CfgKey *k, char *out, size_t n);

/* Which columns of a runs.csv header are config keys (built once per table). */
typedef struct RowFmtPlan {
    int ncols;
    const CfgKey **key; /* per column: its schema key, or NULL (run_id, results, extras) */
    const char *const *cols;
} RowFmtPlan;

/* Plan the normalisation of rows whose columns are cols (ncols names; the plan points
 * at them, so they must outlive it). Returns 0, or -1 when out of memory. */
int rowfmt_plan(RowFmtPlan *p, const char *const *cols, int ncols);
void rowfmt_plan_free(RowFmtPlan *p);

/* Rewrite row (p->ncols malloc'd strings) in runs.csv spelling: every config column
 * without effect in the row becomes "", every float column rowfmt_value. Idempotent.
 * Returns 0, or -1 when out of memory (the row is then unchanged where not yet done, and
 * still p->ncols valid strings). */
int rowfmt_row(const RowFmtPlan *p, char **row);

#endif
