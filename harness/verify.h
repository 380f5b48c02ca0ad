/* harness verify's comparison: the runs of a grid against a reference
 * (results/<grid>/reference.csv, runs.csv's format), run by run (same run_id)
 * and column by column, under the contract the two rows' provenance allows.
 *
 * Contracts
 * ---------
 * - EXACT (the determinism contract: same config, seed, build type, thread
 *   count and BLAS give the same bits): every compared column must have the
 *   same text. It applies when both rows hold the same non-empty build_type
 *   and threads_used, both hold at least one non-empty BLAS column (a column
 *   whose name starts with "blas"), and every provenance column that decides
 *   the arithmetic (build_type, threads_used, blas*, cpu*, compiler*, cflags*)
 *   present in either row is present in both with the same text.
 * - TOLERANCE otherwise (a missing column is unknown, which falls back
 *   here): each compared column within its tolerance (verify_columns).
 *
 * Compared columns (verify_columns): the outcome columns of a run; timings,
 * host, times, git state and the config columns (the run_id already fixes
 * the config) are not compared. */
#ifndef HARNESS_VERIFY_H
#define HARNESS_VERIFY_H

#include <stdio.h>

#include "store.h"

typedef enum {
    VK_TEXT,       /* same text under either contract (status, counts, hashes) */
    VK_ABS,        /* |a - b| <= tol */
    VK_REL,        /* |a - b| <= tol * max(|a|, |b|) */
    VK_EXACT_ONLY, /* compared under EXACT only (a list of numbers) */
} VerifyKind;

typedef struct {
    const char *name;
    VerifyKind kind;
    double tol;
    const char *why; /* one line: why this tolerance */
} VerifyColumn;

/* The compared columns, in output order, into *cols. Returns their count. */
int verify_columns(const VerifyColumn **cols);

typedef enum { CONTRACT_EXACT, CONTRACT_TOLERANCE } VerifyContract;

/* The contract for comparing row ra of a with row rb of b (see "Contracts"),
 * with a one-line reason in why (size whyn): the provenance that matched, or
 * the first column that differs or is unknown. Never fails. */
VerifyContract verify_contract(const Table *a, int ra, const Table *b, int rb, char *why, size_t whyn);

typedef enum { VO_MATCH, VO_WITHIN, VO_DIFFERS } VerifyOutcome;

/* The outcome of one column's values ref and now (NULL counts as "") under
 * contract k: VO_MATCH when the texts are equal, VO_WITHIN when they differ
 * but k is TOLERANCE and c's tolerance holds (both values numbers; a
 * VK_EXACT_ONLY column always passes as VO_WITHIN under TOLERANCE), else
 * VO_DIFFERS. */
VerifyOutcome verify_value(const VerifyColumn *c, VerifyContract k, const char *ref, const char *now);

typedef enum {
    VR_COMPARED,    /* both rows exist; cells say how they compare */
    VR_NOT_IN_REF,  /* this run made a row the reference lacks */
    VR_NOT_RUN,     /* the reference has a row no run made */
    VR_NOT_RECORDED /* a run of the grid recorded no row */
} VerifyState;

typedef struct {
    const VerifyColumn *col;
    const char *ref, *now; /* point into the tables ("" when the column is absent) */
    VerifyOutcome outcome;
} VerifyCell;

typedef struct {
    char run_id[17];
    const char *arm, *seed; /* from whichever row exists ("" when absent) */
    VerifyState state;
    VerifyContract contract;
    char why[256];
    int ncells;
    VerifyCell *cells; /* one per compared column non-empty in either row */
    int pass;
} VerifyRun;

typedef struct {
    int nruns, npass, nexact, nwithin; /* nexact / nwithin: passing runs compared under EXACT / TOLERANCE */
    VerifyRun *runs;
} VerifyReport;

/* Compare now with ref. ids[0..nids): the run_ids expected (a grid's, in its
 * order), or ids = NULL for every run_id of now (in the order of their last rows).
 * Each run's row is its LAST row in each table. Runs follow ids, then the
 * reference's run_ids that are not among them (VR_NOT_RUN). The report
 * points into ref and now: keep them until verify_report_free. Returns 0, or
 * -1 with err when out of memory. */
int verify_compare(const Table *ref, const Table *now, const char *const *ids, int nids, VerifyReport *rep,
                   char *err, size_t errn);

void verify_report_free(VerifyReport *rep);

/* The Markdown verdict of rep to f: a summary line (PASS or FAIL with
 * counts), the tolerances, a table of runs (contract and verdict) and a table
 * of every compared value (reference, now, matches / within tolerance /
 * differs). title names the grid, ref_path and now_path the files compared. */
void verify_print(FILE *f, const VerifyReport *rep, const char *title, const char *ref_path, const char *now_path);

/* What --update changes, as Markdown to f: per run and column whose text
 * differs between the old reference and the new rows, "old → new"; runs
 * added and removed. rep is verify_compare(old, new, ...). Returns the number
 * of changed values plus added and removed runs (0: nothing moved). */
int verify_print_moved(FILE *f, const VerifyReport *rep);

#endif
