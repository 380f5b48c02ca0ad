/* harness verify's comparison of runs against a reference (verify.h). */
#include "verify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"

/* Tolerances. Measured (README "Nightly reproducibility check"): grids/nightly.grid rerun with
 * other arithmetic (a build without -march=native; OpenBLAS forced to its Sandybridge kernels)
 * changed 54-86% of the final weights' bits (max |dw| 4.5e-5) and none of these columns: every
 * accuracy and every loss came out the same text. The tolerances leave room for rounding to
 * flip a few of the 200 greedy decodings on other CPUs, and are far below what a real change
 * of behaviour moves. */
static const VerifyColumn COLS[] = {
    {"status", VK_TEXT, 0, "a run that fails or diverges is never a rounding difference"},
    {"steps", VK_TEXT, 0, "the schedule does not depend on arithmetic"},
    {"params", VK_TEXT, 0, "the model's shape does not depend on arithmetic"},
    {"trainable_params", VK_TEXT, 0, "the model's shape does not depend on arithmetic"},
    {"train_sha256", VK_TEXT, 0, "the data must be the reference's"},
    {"test_sha256", VK_TEXT, 0, "the data must be the reference's"},
    {"init_sha256", VK_TEXT, 0, "the init checkpoint must be the reference's"},
    {"acc_exact", VK_ABS, 2.0, "percentage points, 4 of nightly's 200 test examples: rounding can flip a greedy decoding"},
    {"acc_startswith", VK_ABS, 2.0, "as acc_exact"},
    {"ntp_loss", VK_REL, 1e-3, "rounding moved it by less than 1e-6 relative (measured)"},
    {"jepa_dist", VK_REL, 1e-2, "a small distance (1 - cos) moves more, relatively, than the loss"},
    {"probe_examples", VK_TEXT, 0, "a count"},
    {"probe_sv_mean", VK_REL, 1e-2, "as jepa_dist"},
    {"probe_lsq_resid", VK_REL, 1e-2, "as jepa_dist"},
    {"probe_lsq_rank", VK_TEXT, 0, "a rank"},
    {"probe_pred_sv_mean", VK_REL, 1e-2, "as jepa_dist"},
    {"probe_pred_lsq_resid", VK_REL, 1e-2, "as jepa_dist"},
    {"probe_pred_lsq_rank", VK_TEXT, 0, "a rank"},
    {"probe_sv", VK_EXACT_ONLY, 0, "100 numbers: their mean (probe_sv_mean) stands for them"},
};
#define NCOLS ((int)(sizeof COLS / sizeof COLS[0]))

int verify_columns(const VerifyColumn **cols) {
    if (cols) *cols = COLS;
    return NCOLS;
}

/* Whether column name decides the arithmetic (see "Contracts"). */
static int is_contract_col(const char *name) {
    return !strcmp(name, "build_type") || !strcmp(name, "threads_used") || !strncmp(name, "blas", 4) ||
           !strncmp(name, "cpu", 3) || !strncmp(name, "compiler", 8) || !strncmp(name, "cflags", 6);
}

static const char *val(const Table *t, int r, const char *col) {
    const char *v = r >= 0 ? table_get(t, r, col) : NULL;
    return v ? v : "";
}

VerifyContract verify_contract(const Table *a, int ra, const Table *b, int rb, char *why, size_t whyn) {
    static const char *const need[] = {"build_type", "threads_used"};
    for (int i = 0; i < 2; i++)
        if (!*val(a, ra, need[i]) || !*val(b, rb, need[i])) {
            snprintf(why, whyn, "%s unknown", need[i]);
            return CONTRACT_TOLERANCE;
        }
    int blas = 0;
    for (int pass = 0; pass < 2; pass++) { /* every contract column of a, then of b */
        const Table *t = pass ? b : a;
        for (int c = 0; c < t->ncols; c++) {
            const char *name = t->cols[c];
            if (!is_contract_col(name)) continue;
            int ia = table_col(a, name), ib = table_col(b, name);
            if (ia < 0 || ib < 0) {
                snprintf(why, whyn, "%s unknown (not in the %s)", name, ia < 0 ? "reference" : "new rows");
                return CONTRACT_TOLERANCE;
            }
            const char *va = val(a, ra, name), *vb = val(b, rb, name);
            if (strcmp(va, vb)) {
                snprintf(why, whyn, "%s differs: %.80s vs %.80s", name, va, vb);
                return CONTRACT_TOLERANCE;
            }
            if (!strncmp(name, "blas", 4) && *va) blas = 1;
        }
    }
    if (!blas) {
        snprintf(why, whyn, "BLAS unknown (no blas column recorded)");
        return CONTRACT_TOLERANCE;
    }
    snprintf(why, whyn, "same build_type %.32s, threads_used %.8s and BLAS", val(a, ra, "build_type"),
             val(a, ra, "threads_used"));
    return CONTRACT_EXACT;
}

/* s as a finite number into *x: 1, else 0 (empty, text, inf, nan). */
static int number(const char *s, double *x) {
    char *end;
    if (!*s) return 0;
    *x = strtod(s, &end);
    return *end == 0 && isfinite(*x);
}

VerifyOutcome verify_value(const VerifyColumn *c, VerifyContract k, const char *ref, const char *now) {
    ref = ref ? ref : "";
    now = now ? now : "";
    if (!strcmp(ref, now)) return VO_MATCH;
    if (k == CONTRACT_EXACT || c->kind == VK_TEXT) return VO_DIFFERS;
    if (c->kind == VK_EXACT_ONLY) return VO_WITHIN;
    double a, b;
    if (!number(ref, &a) || !number(now, &b)) return VO_DIFFERS;
    double d = fabs(a - b), lim = c->kind == VK_ABS ? c->tol : c->tol * fmax(fabs(a), fabs(b));
    return d <= lim ? VO_WITHIN : VO_DIFFERS;
}

/* Fill run v from rows ra of ref and rn of now (either may be -1). */
static int compare_run(const Table *ref, int ra, const Table *now, int rn, VerifyRun *v) {
    const Table *any = rn >= 0 ? now : ref;
    int ar = rn >= 0 ? rn : ra;
    v->arm = val(any, ar, "arm");
    v->seed = val(any, ar, "seed");
    if (ra < 0 || rn < 0) {
        v->state = rn < 0 ? (ra >= 0 ? VR_NOT_RUN : VR_NOT_RECORDED) : VR_NOT_IN_REF;
        v->pass = 0;
        return 0;
    }
    v->state = VR_COMPARED;
    v->contract = verify_contract(ref, ra, now, rn, v->why, sizeof v->why);
    v->cells = calloc(NCOLS, sizeof *v->cells);
    if (!v->cells) return -1;
    v->pass = 1;
    for (int c = 0; c < NCOLS; c++) {
        const char *a = val(ref, ra, COLS[c].name), *b = val(now, rn, COLS[c].name);
        if (!*a && !*b) continue;
        VerifyCell *cell = &v->cells[v->ncells++];
        *cell = (VerifyCell){&COLS[c], a, b, verify_value(&COLS[c], v->contract, a, b)};
        if (cell->outcome == VO_DIFFERS) v->pass = 0;
    }
    return 0;
}

/* The distinct run_ids of t in order of first appearance into *out (*n of them). */
static int table_ids(const Table *t, const char ***out, int *n) {
    *n = 0;
    *out = calloc((size_t)t->nrows + 1, sizeof **out);
    if (!*out) return -1;
    for (int r = 0; r < t->nrows; r++) {
        const char *id = val(t, r, "run_id");
        if (store_last_row(t, id) != r) continue; /* counted at its last row; order below */
        (*out)[(*n)++] = id;
    }
    return 0;
}

static int listed(const char *const *ids, int n, const char *id) {
    for (int i = 0; i < n; i++)
        if (!strcmp(ids[i], id)) return 1;
    return 0;
}

int verify_compare(const Table *ref, const Table *now, const char *const *ids, int nids, VerifyReport *rep,
                   char *err, size_t errn) {
    *rep = (VerifyReport){0};
    const char **own = NULL, **rids = NULL;
    int nr;
    if (!ids && table_ids(now, &own, &nids)) return errf(err, errn, "out of memory");
    if (!ids) ids = own;
    if (table_ids(ref, &rids, &nr)) { free(own); return errf(err, errn, "out of memory"); }
    rep->runs = calloc((size_t)(nids + nr) + 1, sizeof *rep->runs);
    int rc = rep->runs ? 0 : -1;
    for (int i = 0; i < nids + nr && rc == 0; i++) {
        const char *id = i < nids ? ids[i] : rids[i - nids];
        if (i >= nids && listed(ids, nids, id)) continue;
        VerifyRun *v = &rep->runs[rep->nruns++];
        snprintf(v->run_id, sizeof v->run_id, "%s", id);
        rc = compare_run(ref, store_last_row(ref, id), now, i < nids ? store_last_row(now, id) : -1, v);
        if (v->pass) {
            rep->npass++;
            if (v->contract == CONTRACT_EXACT) rep->nexact++;
            else rep->nwithin++;
        }
    }
    free(own);
    free(rids);
    if (rc) {
        verify_report_free(rep);
        return errf(err, errn, "out of memory");
    }
    return 0;
}

void verify_report_free(VerifyReport *rep) {
    for (int i = 0; rep->runs && i < rep->nruns; i++) free(rep->runs[i].cells);
    free(rep->runs);
    *rep = (VerifyReport){0};
}
