/* Enc(Text), Pred(Enc(Text)) and Enc(Code) of a set of examples. */
#include "encode.h"

#include <stdlib.h>
#include <string.h>

#include "errmsg.h"

EncodeOpts encode_opts(const Config *c) {
    EncodeOpts o;
    memset(&o, 0, sizeof o);
    o.vo = view_opts(c);
    o.pooling_mean = strcmp(c->pooling, "mean") == 0;
    o.predictor_linear = strcmp(c->predictor, "linear") == 0;
    return o;
}

enum { VIEW_TEXT, VIEW_CODE };

/* Inclusive token range [*first, *last] read for view `view` of example i of
 * batch b: the last-token index, or the content span under pooling=mean,
 * less `drop` trailing tokens (the [PRED] tokens of a view read as Enc). An
 * empty span gives *last = *first − 1 (a zero row, as in the loss). */
static int view_range(const Batch *b, int view, int i, int mean, int drop, int *first, int *last, char *err,
                      size_t errn) {
    const int *enc = view == VIEW_TEXT ? b->enc_text : b->enc_code;
    const int *span = view == VIEW_TEXT ? b->text_span : b->code_span;
    if (!mean) {
        *first = *last = enc[i] - drop;
        return 0;
    }
    if (!span) return errf(err, errn, "pooling=mean: the batch carries no view spans");
    *first = span[2 * i];
    *last = span[2 * i + 1] - drop;
    return 0;
}

/* Host out (m, C) = per example i of b, the mean of h device (b->n, C) over
 * the range of view_range, through the backend's row_combine. */
static int readout(Model *md, const Batch *b, const float *h, int view, int mean, int drop, float *out, char *err,
                   size_t errn) {
    Backend *be = md->be;
    int m = b->nex, C = md->cfg.dim, len = 0, rc = -1;
    int *ptr = malloc((size_t)(m + 1) * sizeof(int)), *idx = malloc((size_t)(b->n ? b->n : 1) * sizeof(int));
    float *w = malloc((size_t)(b->n ? b->n : 1) * sizeof(float));
    int *dptr = be->alloc(be, (size_t)(m + 1) * sizeof(int)), *didx = be->alloc(be, (size_t)b->n * sizeof(int) + 4);
    float *dw = be->alloc(be, (size_t)b->n * sizeof(float) + 4), *dout = be->alloc(be, (size_t)m * C * sizeof(float));
    if (!ptr || !idx || !w || !dptr || !didx || !dw || !dout) { errf(err, errn, "out of memory (readout)"); goto done; }
    for (int i = 0; i < m; i++) {
        int first = 0, last = -1;
        if (view_range(b, view, i, mean, drop, &first, &last, err, errn)) goto done;
        ptr[i] = len;
        for (int t = first; t <= last; t++) idx[len] = t, w[len++] = 1.0f / (float)(last - first + 1);
    }
    ptr[m] = len;
    be->upload(be, dptr, ptr, (size_t)(m + 1) * sizeof(int));
    be->upload(be, didx, idx, (size_t)len * sizeof(int));
    be->upload(be, dw, w, (size_t)len * sizeof(float));
    be->row_combine(be, dout, h, dptr, didx, dw, m, C);
    be->download(be, out, dout, (size_t)m * C * sizeof(float));
    rc = 0;
done:
    free(ptr); free(idx); free(w);
    be->free(be, dptr); be->free(be, didx); be->free(be, dw); be->free(be, dout);
    return rc;
}

/* Removes the NTP rows from a packed batch of m examples (batch_build puts
 * them first: rows 0..m−1, every token SEG_NTP), so the forward pass runs the
 * views alone; the views' indices shift with them (ntp_user/ntp_asst become
 * −1). Left as is (returns 1) when the layout is not that. */
static int drop_ntp_rows(Batch *b, int m) {
    int off = b->row_start[m];
    for (int t = 0; t < b->n; t++)
        if ((b->seg[t] == SEG_NTP) != (t < off)) return 1;
    int n = b->n - off;
    memmove(b->ids, b->ids + off, (size_t)n * sizeof(int));
    memmove(b->pos, b->pos + off, (size_t)n * sizeof(int));
    memmove(b->seg, b->seg + off, (size_t)n * sizeof(int));
    memmove(b->tgt, b->tgt + off, (size_t)n * sizeof(int));
    for (int r = 0; r <= b->nrows - m; r++) b->row_start[r] = b->row_start[r + m] - off;
    for (int i = 0; i < m; i++) {
        b->enc_text[i] -= off, b->enc_code[i] -= off;
        for (int j = 0; j < 2 && b->text_span; j++) b->text_span[2 * i + j] -= off, b->code_span[2 * i + j] -= off;
        for (int j = 0; j < 2 && b->ntp_user; j++) b->ntp_user[2 * i + j] = b->ntp_asst[2 * i + j] = -1; /* gone */
    }
    b->n = n, b->nrows -= m, b->ntargets = 0;
    return 0;
}

/* One forward pass over the views of ex[idx[0..m)] built with v; Enc of both
 * views into et, ec (each may be NULL; the view carrying the predictor drops
 * its k trailing [PRED] tokens under pred_position=back) and the predictor's
 * readout into pr (may be NULL). */
static int view_pass(Model *md, Batch *b, const Example *ex, const int *idx, int m, const ViewOpts *v, int mean,
                     float *et, float *pr, float *ec, char *err, size_t errn) {
    if (batch_build(b, ex, idx, m, v, 1)) return errf(err, errn, "out of memory (batch)");
    drop_ntp_rows(b, m);
    const float *h = model_forward(md, b);
    if (!h) return errf(err, errn, "out of memory (activations for %d tokens)", b->n);
    int carrier = v->code2text ? VIEW_CODE : VIEW_TEXT, drop = v->pred_front ? 0 : v->k;
    if (et && readout(md, b, h, VIEW_TEXT, mean, carrier == VIEW_TEXT ? drop : 0, et, err, errn)) return -1;
    if (ec && readout(md, b, h, VIEW_CODE, mean, carrier == VIEW_CODE ? drop : 0, ec, err, errn)) return -1;
    if (pr && readout(md, b, h, carrier, mean, 0, pr, err, errn)) return -1;
    return 0;
}

/* pred (m, C) = enc (m, C) · Wᵀ, host arrays, W the model's jepa_predictor.weight
 * (a copy of enc when the model has none, as in the loss). */
static int linear_pred(Model *md, const float *enc, float *pred, int m, char *err, size_t errn) {
    int C = md->cfg.dim;
    size_t len = (size_t)m * C;
    if (md->tid_predictor < 0) {
        memcpy(pred, enc, len * sizeof(float));
        return 0;
    }
    Backend *be = md->be;
    float *de = be->alloc(be, len * sizeof(float)), *dp = be->alloc(be, len * sizeof(float));
    if (de && dp) {
        be->upload(be, de, enc, len * sizeof(float));
        be->linear_forward(be, dp, de, model_param(md, md->tid_predictor), m, C, C, md->dtype);
        be->download(be, pred, dp, len * sizeof(float));
    }
    int rc = de && dp ? 0 : errf(err, errn, "out of memory (linear predictor)");
    be->free(be, de);
    be->free(be, dp);
    return rc;
}

/* Examples ex[s .. s+m) into rows s.. of the outputs. */
static int encode_chunk(Model *md, Batch *b, const Example *ex, int s, int m, const EncodeOpts *o, float *et,
                        float *pr, float *ec, char *err, size_t errn) {
    size_t off = (size_t)s * md->cfg.dim;
    int idx[ENCODE_CHUNK];
    for (int i = 0; i < m; i++) idx[i] = s + i;
    ViewOpts v0 = o->vo, vk = o->vo;
    v0.packed = vk.packed = 1;
    v0.fused = vk.fused = 0;
    v0.k = 0;
    int tokens = pr && !o->predictor_linear && vk.k > 0; /* Pred needs the [PRED] tokens in the views */
    int mean = o->pooling_mean, rc;
    if (!tokens) rc = view_pass(md, b, ex, idx, m, &v0, mean, et + off, NULL, ec + off, err, errn);
    else if (vk.pred_front) /* [PRED] tokens first: they change every later state, so Enc takes its own pass */
        rc = view_pass(md, b, ex, idx, m, &vk, mean, NULL, pr + off, NULL, err, errn) ||
             view_pass(md, b, ex, idx, m, &v0, mean, et + off, NULL, ec + off, err, errn);
    else rc = view_pass(md, b, ex, idx, m, &vk, mean, et + off, pr + off, ec + off, err, errn);
    if (rc || !pr || tokens) return rc ? -1 : 0;
    const float *src = (o->vo.code2text ? ec : et) + off;
    if (o->predictor_linear) return linear_pred(md, src, pr + off, m, err, errn);
    memcpy(pr + off, src, (size_t)m * md->cfg.dim * sizeof(float)); /* k = 0: Pred is the identity */
    return 0;
}

int encode(Model *m, const Example *ex, int n, const EncodeOpts *o, float *enc_text, float *pred, float *enc_code,
           char *err, size_t errn) {
    Batch b;
    memset(&b, 0, sizeof b);
    model_set_training(m, 0, 0);
    int rc = 0;
    for (int s = 0; s < n && !rc; s += ENCODE_CHUNK) {
        int cnt = n - s < ENCODE_CHUNK ? n - s : ENCODE_CHUNK;
        rc = encode_chunk(m, &b, ex, s, cnt, o, enc_text, pred, enc_code, err, errn);
    }
    batch_free(&b);
    return rc;
}
