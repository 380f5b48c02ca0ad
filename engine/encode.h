/* The embeddings of ALGORITHM.md §1 and §8 for a set of examples, on the host.
 *
 * For examples ex[0..n) and a run's view options, encode returns three host
 * (n, C) float matrices (C = hidden size), row i for example i:
 *   enc_text  Enc(Text): the Text view WITHOUT [PRED] tokens (§8's X);
 *   pred      Pred(Enc(Text)), the JEPA readout the loss compares: the Text
 *             view with its k [PRED] tokens, read where the loss reads it
 *             (predictor=tokens: pred_1 under pred_position=back, the last U
 *             byte under front; the mean over U and the [PRED]s under
 *             pooling=mean), Enc(Text) itself when k = 0, or Enc(Text)·Wᵀ with the model's
 *             jepa_predictor.weight W (predictor=linear). Under
 *             direction=code2text the predictor sits on the Code view and this
 *             is Pred(Enc(Code)), compared against Enc(Text);
 *   enc_code  Enc(Code): the Code view without [PRED] tokens (§8's Y).
 * Enc is the final-RMSNorm state h at the view's last content token
 * (pooling=last) or the mean of h over its content tokens (pooling=mean), as
 * in the training loss. The model runs its training forward (model_forward,
 * no backward) in evaluation mode over packed view batches (batch_build, the
 * NTP rows removed) of ENCODE_CHUNK examples; readouts go through the
 * backend's row_combine. */
#ifndef ENGINE_ENCODE_H
#define ENGINE_ENCODE_H

#include <stddef.h>

#include "batch.h"
#include "config.h"
#include "data.h"
#include "model.h"

/* Examples per forward pass. */
#define ENCODE_CHUNK 64

typedef struct EncodeOpts {
    ViewOpts vo;            /* the run's views (view_opts); jepa_pass is ignored (views run packed) */
    int pooling_mean;       /* pooling=mean: mean over the content tokens; else the last token */
    int predictor_linear;   /* predictor=linear: pred = Enc · Wᵀ, W the model's jepa_predictor.weight
                               (the identity when the model has none), as in the loss; vo.k is 0 */
} EncodeOpts;

/* The encode options of run config c (view_opts, pooling, predictor). */
EncodeOpts encode_opts(const Config *c);

/* Embeddings of ex[0..n) (see the top of this file) into host arrays
 * enc_text, pred, enc_code, each (n, m->cfg.dim) floats. enc_text and
 * enc_code are required; pred may be NULL (not computed). With k > 0 and
 * pred_position=back one forward pass serves all three, since the [PRED]
 * tokens come after the content and attention is causal; pred_position=front
 * takes a second pass. Every example must fit in max_pos
 * (dataset_check_positions). Leaves the model in evaluation mode
 * (model_set_training(m, 0, 0)). Returns 0, or -1 with err (out of memory,
 * a batch without view spans under pooling=mean). A view with no content
 * token reads as a zero row under pooling=mean, as in the loss. */
int encode(Model *m, const Example *ex, int n, const EncodeOpts *o, float *enc_text, float *pred, float *enc_code,
           char *err, size_t errn);

#endif
