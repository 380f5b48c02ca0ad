/* Length-normalised log-likelihood choice scoring (choice.h). */
#include "choice.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "task_score.h"

void choice_work_free(ChoiceWork *cw) {
    batch_free(&cw->b);
    if (cw->w) { loss_work_free(cw->w); free(cw->w); }
    memset(cw, 0, sizeof *cw);
}

/* Sum and count of the target NLLs that predict example e's ending tokens
 * (token t predicts t+1; the ending is ntp_asst[e] = [start, end)). */
static void ending_nll(const Batch *b, const LossWork *w, int e, double *sum, int *cnt) {
    int start = b->ntp_asst[2 * e], end = b->ntp_asst[2 * e + 1];
    *sum = 0, *cnt = 0;
    for (int r = 0; r < b->ntargets; r++) {
        int t = w->host_rows[r];
        if (t + 1 >= start && t + 1 < end) *sum += w->host_loss[r], (*cnt)++;
    }
}

int choice_pick(Model *m, const Tokenizer *tok, const char *system, const char *context, const char *const *endings,
                int nend, int include_system, ChoiceWork *cw, int *best, double *nll, char *err, size_t errn) {
    if (nend < 1 || nend > TASK_MAX_CHOICES) return errf(err, errn, "%d endings (expected 1 to %d)", nend, TASK_MAX_CHOICES);
    Example ex[TASK_MAX_CHOICES];
    int idx[TASK_MAX_CHOICES];
    ViewOpts vo = {.include_system = include_system, .targets_all = 0, .tok = tok};
    for (int i = 0; i < nend; i++) {
        ex[i] = (Example){(char *)system, (char *)context, (char *)endings[i], 0};
        idx[i] = i;
        int need = view_ntp_length(&ex[i], &vo);
        if (need < 0) return errf(err, errn, "context or ending %c cannot be tokenized", 'A' + i);
        if (need > m->cfg.max_pos)
            return errf(err, errn, "context and ending %c need %d positions, more than max_position_embeddings %d "
                        "(choice scoring never truncates: raise max_position_embeddings)", 'A' + i, need, m->cfg.max_pos);
    }
    if (!cw->w && !(cw->w = calloc(1, sizeof *cw->w))) return errf(err, errn, "out of memory");
    if (batch_build(&cw->b, ex, idx, nend, &vo, 0)) return errf(err, errn, "out of memory (choice batch)");
    model_set_training(m, 0, 0);
    const float *h = model_forward(m, &cw->b);
    double mean_loss;
    if (!h || ntp_loss(m, &cw->b, h, NULL, 1.0, cw->w, &mean_loss))
        return errf(err, errn, "out of memory (choice scoring of %d tokens)", cw->b.n);
    double bestv = INFINITY;
    *best = 0;
    for (int i = 0; i < nend; i++) {
        double s;
        int c;
        ending_nll(&cw->b, cw->w, i, &s, &c);
        double v = c > 0 ? s / c : INFINITY;
        if (nll) nll[i] = v;
        if (v < bestv) bestv = v, *best = i;
    }
    return 0;
}
