/* `harness probe`: the paper's probes of a trained model (ALGORITHM.md §8;
 * paper Table 10, Figures 6 and 7) on N examples, written to a directory:
 *
 *   enc_text.npy   Enc(Text)         (N, hidden_size) float32  (npy.h)
 *   enc_code.npy   Enc(Code)         (N, hidden_size)
 *   pred_text.npy  Pred(Enc(Text))   (N, hidden_size)  (encode.h: Enc(Text) when k = 0)
 *   sv.csv         i,sv,pred_sv: the top-100 singular values of
 *                  Enc(Text) − Enc(Code) and of Pred(Enc(Text)) − Enc(Code)
 *   tsne.csv       i,view,x,y: the 2-D t-SNE of the 2N points, rows 0..N-1 the
 *                  Text views (view "text"), N..2N-1 the Code views ("code")
 *   tsne.{dat,gp,png,svg}, sv.{dat,gp,png,svg}: the pictures (figure.h),
 *                  when gnuplot is present
 *   probe.json     every number below, the options, n, hidden_size
 */
#ifndef ANALYSIS_PROBE_H
#define ANALYSIS_PROBE_H

#include <stddef.h>

#include "data.h"
#include "encode.h"
#include "linprobe.h"
#include "model.h"
#include "tsne.h"

typedef struct ProbeOpts {
    int tsne;          /* 1: run the t-SNE (default 1) */
    TsneOpts tsne_o;   /* its options (tsne_defaults) */
    int draw;          /* 1: draw tsne and sv pictures when gnuplot is present (default 1) */
    int quiet;         /* 1: no progress lines on stderr */
} ProbeOpts;

/* The defaults above. */
ProbeOpts probe_defaults(void);

/* Table 10 and Figure 7 numbers of one model. */
typedef struct ProbeResult {
    int n, d;                            /* examples, hidden size */
    int nsv;                             /* min(PROBE_TOP_SV, n, d) */
    double sv[PROBE_TOP_SV];             /* singular values of Enc(Text) − Enc(Code), decreasing */
    double sv_mean;                      /* their mean (Table 10) */
    double lsq_resid;                    /* min_W ‖Enc(Text)·W − Enc(Code)‖_F (Table 10) */
    int lsq_rank;                        /* rank of Enc(Text) found by dgelsd */
    double pred_sv[PROBE_TOP_SV];        /* the same with Pred(Enc(Text)) in place of Enc(Text) */
    double pred_sv_mean, pred_lsq_resid;
    int pred_lsq_rank;
    double tsne_kl;                      /* final KL of the t-SNE (NaN when not run) */
} ProbeResult;

/* Encode ex[0..n) with m and eo (encode.h), compute the probes and write
 * the files above into dir (created if missing). Returns 0, or -1 with err
 * (encode's errors, LAPACK failures, a file that cannot be written, t-SNE
 * options that do not fit n). A missing gnuplot is not an error: the
 * pictures are skipped and *warn (may be NULL, size warnn) says why. */
int probe_model(Model *m, const Example *ex, int n, const EncodeOpts *eo, const ProbeOpts *po, const char *dir,
                ProbeResult *r, char *warn, size_t warnn, char *err, size_t errn);

/* The runs.csv result columns of a probe, in order (PROBE_CSV_COLUMNS of
 * them): probe_examples, probe_sv_mean, probe_lsq_resid, probe_lsq_rank,
 * probe_pred_sv_mean, probe_pred_lsq_resid, probe_pred_lsq_rank, probe_sv
 * (the top singular values of Enc(Text) − Enc(Code), space-separated, %.6g,
 * Figure 7's curve). */
#define PROBE_CSV_COLUMNS 8
extern const char *const probe_csv_columns[PROBE_CSV_COLUMNS];

/* The value of column probe_csv_columns[i] for r into v (size vn); "" when
 * r is NULL. */
void probe_csv_value(const ProbeResult *r, int i, char *v, size_t vn);

#endif
