/* harness verify's Markdown: the verdict and, for --update, what moved (verify.h). */
#include <stdio.h>
#include <string.h>

#include "verify.h"

/* v for a Markdown table cell: at most 24 characters ("…" after), '|' as '/'. */
static const char *cell(const char *v, char *buf, size_t n) {
    size_t len = strlen(v), max = n - 4 < 24 ? n - 4 : 24, o = 0;
    if (!*v) return "(empty)";
    for (size_t i = 0; i < len && i < max; i++) buf[o++] = v[i] == '|' ? '/' : v[i];
    buf[o] = 0;
    if (len > max) strcat(buf, "…");
    return buf;
}

static const char *state_text(const VerifyRun *v) {
    switch (v->state) {
    case VR_NOT_IN_REF:
        return "FAIL: not in the reference (a new run? `harness verify --update` after a deliberate change)";
    case VR_NOT_RUN:
        return "FAIL: in the reference, but no run made it (the grid or a run_id changed?)";
    case VR_NOT_RECORDED:
        return "FAIL: the run recorded no row (see its log.txt)";
    default:
        return v->pass ? "pass" : "FAIL: differs";
    }
}

static const char *outcome_text(VerifyOutcome o) {
    return o == VO_MATCH ? "matches" : o == VO_WITHIN ? "within tolerance" : "**differs**";
}

/* Whether column c was compared for some run of rep. */
static int compared(const VerifyReport *rep, const VerifyColumn *c) {
    for (int i = 0; i < rep->nruns; i++)
        for (int k = 0; k < rep->runs[i].ncells; k++)
            if (rep->runs[i].cells[k].col == c) return 1;
    return 0;
}

/* The two contracts, and the tolerance of each column compared. */
static void print_tolerances(FILE *f, const VerifyReport *rep) {
    const VerifyColumn *c;
    int n = verify_columns(&c);
    fprintf(f, "Contracts: **bit-identical** (every compared column the same text) when both rows record the same "
               "build_type, threads_used, BLAS (blas* columns), CPU (cpu*) and compiler (compiler*, cflags*); "
               "otherwise (or when one is unknown) **tolerances**:\n\n");
    for (int i = 0; i < n; i++) {
        if (!compared(rep, &c[i])) continue;
        if (c[i].kind == VK_TEXT) fprintf(f, "- `%s`: the same text; %s\n", c[i].name, c[i].why);
        else if (c[i].kind == VK_ABS) fprintf(f, "- `%s`: within ±%g; %s\n", c[i].name, c[i].tol, c[i].why);
        else if (c[i].kind == VK_REL) fprintf(f, "- `%s`: within %g relative; %s\n", c[i].name, c[i].tol, c[i].why);
        else fprintf(f, "- `%s`: compared under the bit-identical contract only; %s\n", c[i].name, c[i].why);
    }
    fprintf(f, "\n");
}

void verify_print(FILE *f, const VerifyReport *rep, const char *title, const char *ref_path, const char *now_path) {
    int nfail = rep->nruns - rep->npass;
    fprintf(f, "# harness verify: %s\n\n", title);
    fprintf(f, "Reference `%s`; this run `%s`.\n\n", ref_path, now_path);
    if (nfail == 0)
        fprintf(f, "**PASS**: %d runs, %d bit-identical (determinism contract), %d within tolerance.\n\n", rep->nruns,
                rep->nexact, rep->nwithin);
    else
        fprintf(f, "**FAIL**: %d of %d runs fail (%d pass: %d bit-identical, %d within tolerance).\n\n", nfail,
                rep->nruns, rep->npass, rep->nexact, rep->nwithin);
    print_tolerances(f, rep);
    fprintf(f, "| run | arm | seed | contract | verdict |\n|---|---|---|---|---|\n");
    for (int i = 0; i < rep->nruns; i++) {
        const VerifyRun *v = &rep->runs[i];
        char contract[300] = "—";
        if (v->state == VR_COMPARED)
            snprintf(contract, sizeof contract, "%s (%s)",
                     v->contract == CONTRACT_EXACT ? "bit-identical" : "tolerances", v->why);
        fprintf(f, "| %s | %s | %s | %s | %s |\n", v->run_id, v->arm, v->seed, contract, state_text(v));
    }
    fprintf(f, "\n| run | column | reference | now | verdict |\n|---|---|---|---|---|\n");
    for (int i = 0; i < rep->nruns; i++) {
        const VerifyRun *v = &rep->runs[i];
        for (int k = 0; k < v->ncells; k++) {
            const VerifyCell *c = &v->cells[k];
            char a[64], b[64];
            fprintf(f, "| %s | %s | %s | %s | %s |\n", v->run_id, c->col->name, cell(c->ref, a, sizeof a),
                    cell(c->now, b, sizeof b), outcome_text(c->outcome));
        }
    }
    fprintf(f, "\n%s\n", nfail ? "Verdict: **FAIL**" : "Verdict: **PASS**");
}

int verify_print_moved(FILE *f, const VerifyReport *rep) {
    int moved = 0;
    fprintf(f, "## What moved (old reference → new)\n\n");
    for (int i = 0; i < rep->nruns; i++) {
        const VerifyRun *v = &rep->runs[i];
        if (v->state == VR_NOT_IN_REF) {
            fprintf(f, "- %s (%s, seed %s): added\n", v->run_id, v->arm, v->seed);
            moved++;
        } else if (v->state == VR_NOT_RUN) {
            fprintf(f, "- %s (%s, seed %s): removed (no run of the grid made it)\n", v->run_id, v->arm, v->seed);
            moved++;
        }
        for (int k = 0; k < v->ncells; k++) {
            const VerifyCell *c = &v->cells[k];
            if (c->outcome == VO_MATCH) continue;
            char a[64], b[64];
            fprintf(f, "- %s (%s, seed %s) `%s`: %s → %s\n", v->run_id, v->arm, v->seed, c->col->name,
                    cell(c->ref, a, sizeof a), cell(c->now, b, sizeof b));
            moved++;
        }
    }
    if (!moved) fprintf(f, "Nothing moved: every compared value is the same text.\n");
    fprintf(f, "\n");
    return moved;
}
