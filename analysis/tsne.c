/* t-SNE driver: checks, standardisation, initial positions, and the
 * gradient descent of van der Maaten's reference implementation (bhtsne,
 * tsne.cpp run(): momentum 0.5 then 0.8 at step 250, early exaggeration for
 * the first 250 steps, per-coordinate gains +0.2 / ×0.8 with floor 0.01, the
 * embedding re-centred after every step). Affinities in tsne_affinity.c,
 * gradients in tsne_exact.c and tsne_bh.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "rng.h"
#include "tsne.h"
#include "tsne_impl.h"

#define TSNE_STOP_LYING 250   /* steps with early exaggeration and momentum 0.5 */
#define TSNE_REPORT_EVERY 50  /* progress callback period, steps */

TsneOpts tsne_defaults(void) {
    TsneOpts o = {.perplexity = 30,
                  .iters = 1000,
                  .seed = 82,
                  .learning_rate = 200,
                  .early_exaggeration = 12,
                  .exact_max = 5000,
                  .theta = 0.5,
                  .progress = NULL,
                  .progress_ctx = NULL};
    return o;
}

static int check_args(const float *X, int n, int d, const TsneOpts *o, const double *Y, char *err, size_t errn) {
    if (!X || !o || !Y) return errf(err, errn, "tsne: NULL argument");
    if (n < 2) return errf(err, errn, "tsne: need at least 2 points, got %d", n);
    if (d < 1) return errf(err, errn, "tsne: need at least 1 dimension, got %d", d);
    if (!(o->perplexity >= 1) || !(3 * o->perplexity < n))
        return errf(err, errn, "tsne: perplexity %g out of range for %d points (need 1 <= perplexity and 3*perplexity < n)",
                    o->perplexity, n);
    if (o->iters < 0) return errf(err, errn, "tsne: iters %d < 0", o->iters);
    if (!(o->learning_rate > 0) || !isfinite(o->learning_rate))
        return errf(err, errn, "tsne: learning_rate %g must be > 0", o->learning_rate);
    if (!(o->early_exaggeration > 0) || !isfinite(o->early_exaggeration))
        return errf(err, errn, "tsne: early_exaggeration %g must be > 0", o->early_exaggeration);
    if (!(o->theta >= 0) || !isfinite(o->theta)) return errf(err, errn, "tsne: theta %g must be >= 0", o->theta);
    for (size_t k = 0; k < (size_t)n * d; k++)
        if (!isfinite(X[k]))
            return errf(err, errn, "tsne: X[%zu, %zu] = %g is not finite", k / (size_t)d, k % (size_t)d, X[k]);
    return 0;
}

/* X (n, d) float → centred and divided by max |x| (bhtsne's zeroMean and
 * max-scaling), in double; NULL on out of memory. */
static double *standardise(const float *X, int n, int d) {
    size_t nd = (size_t)n * d;
    double *Xs = malloc(nd * sizeof *Xs), *mean = calloc((size_t)d, sizeof *mean);
    if (!Xs || !mean) {
        free(Xs);
        free(mean);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < d; k++) mean[k] += X[(size_t)i * d + k];
    double mx = 0;
    for (size_t k = 0; k < nd; k++) {
        Xs[k] = X[k] - mean[k % (size_t)d] / n;
        mx = fmax(mx, fabs(Xs[k]));
    }
    if (mx > 0)
        for (size_t k = 0; k < nd; k++) Xs[k] /= mx;
    free(mean);
    return Xs;
}

/* The objective: dense P (exact) or sparse P with the Barnes-Hut workspace. */
typedef struct Objective {
    int n;
    double theta;
    double *P;      /* (n, n) exact path, else NULL */
    double *work;   /* (5n) exact path scratch */
    TsneSparseP sp; /* Barnes-Hut path */
    TsneBh *bh;
} Objective;

static void objective_free(Objective *ob) {
    free(ob->P);
    free(ob->work);
    tsne_sparse_free(&ob->sp);
    tsne_bh_free(ob->bh);
}

static int objective_init(Objective *ob, const double *Xs, int n, int d, const TsneOpts *o) {
    memset(ob, 0, sizeof *ob);
    ob->n = n;
    ob->theta = o->theta;
    if (n <= o->exact_max) {
        ob->P = malloc((size_t)n * n * sizeof *ob->P);
        ob->work = malloc(5 * (size_t)n * sizeof *ob->work);
        return ob->P && ob->work ? tsne_dense_p(Xs, n, d, o->perplexity, ob->P) : -1;
    }
    ob->bh = tsne_bh_new(n);
    return ob->bh ? tsne_sparse_p(Xs, n, d, o->perplexity, &ob->sp) : -1;
}

/* Gradient at Y into dY with P × alpha; *kl (may be NULL) gets KL(P‖Q) at Y
 * (Barnes-Hut: its estimate). Returns -1 on out of memory. */
static int objective_grad(Objective *ob, double alpha, const double *Y, double *dY, double *kl) {
    if (!ob->P) return tsne_bh_grad(ob->bh, &ob->sp, alpha, ob->theta, Y, dY, kl);
    tsne_exact_grad(ob->P, ob->n, alpha, Y, dY, ob->work);
    if (kl) *kl = tsne_exact_kl(ob->P, ob->n, Y, ob->work);
    return 0;
}

static int sign(double x) { return (x > 0) - (x < 0); }

/* One step of gradient descent with momentum and gains (bhtsne: a gain grows
 * by 0.2 while the step keeps its direction against the gradient, else
 * shrinks ×0.8), then the embedding re-centred. Y, dY, uY, gains (n, 2). */
static void descend(double *Y, const double *dY, double *uY, double *gains, int n, double momentum, double lr) {
    for (int k = 0; k < 2 * n; k++) {
        gains[k] = sign(dY[k]) != sign(uY[k]) ? gains[k] + 0.2 : gains[k] * 0.8;
        if (gains[k] < 0.01) gains[k] = 0.01;
        uY[k] = momentum * uY[k] - lr * gains[k] * dY[k];
        Y[k] += uY[k];
    }
    double mx = 0, my = 0;
    for (int i = 0; i < n; i++) mx += Y[2 * i], my += Y[2 * i + 1];
    mx /= n, my /= n;
    for (int i = 0; i < n; i++) Y[2 * i] -= mx, Y[2 * i + 1] -= my;
}

/* Steps of gradient descent on Y (n, 2); *kl (may be NULL) gets the final
 * KL. The KL reported (progress, *kl) is KL(P‖Q) after the step, with P
 * not exaggerated. buf (6n) scratch. */
static int optimise(Objective *ob, const TsneOpts *o, double *Y, double *buf, double *kl) {
    int n = ob->n;
    double *dY = buf, *uY = buf + 2 * n, *gains = buf + 4 * n, cur = NAN;
    for (int k = 0; k < 2 * n; k++) uY[k] = 0, gains[k] = 1;
    for (int it = 0; it < o->iters; it++) {
        int lying = it < TSNE_STOP_LYING;
        if (objective_grad(ob, lying ? o->early_exaggeration : 1, Y, dY, NULL) < 0) return -1;
        descend(Y, dY, uY, gains, n, lying ? 0.5 : 0.8, o->learning_rate);
        int last = it + 1 == o->iters;
        if (!(o->progress && ((it + 1) % TSNE_REPORT_EVERY == 0 || last)) && !(kl && last)) continue;
        if (objective_grad(ob, 1, Y, dY, &cur) < 0) return -1;
        if (o->progress) o->progress(it + 1, o->iters, cur, o->progress_ctx);
    }
    if (o->iters == 0 && (kl || o->progress)) {
        if (objective_grad(ob, 1, Y, dY, &cur) < 0) return -1;
        if (o->progress) o->progress(0, 0, cur, o->progress_ctx);
    }
    if (kl) *kl = cur;
    return 0;
}

int tsne_run(const float *X, int n, int d, const TsneOpts *o, double *Y, double *kl, char *err, size_t errn) {
    if (check_args(X, n, d, o, Y, err, errn) < 0) return -1;
    Rng r = rng_stream(o->seed, "tsne_init");
    for (int k = 0; k < 2 * n; k++) Y[k] = 1e-4 * rng_normal(&r);
    Objective ob;
    double *Xs = standardise(X, n, d), *buf = malloc(6 * (size_t)n * sizeof *buf);
    int rc = Xs && buf ? objective_init(&ob, Xs, n, d, o) : (memset(&ob, 0, sizeof ob), -1);
    free(Xs);
    if (rc == 0) rc = optimise(&ob, o, Y, buf, kl);
    objective_free(&ob);
    free(buf);
    if (rc < 0) return errf(err, errn, "tsne: out of memory (%d points, %s)", n, n <= o->exact_max ? "exact" : "Barnes-Hut");
    return 0;
}
