/* The cost of the anti-collapse regularisers (engine/jepa_reg.h) in a JEPA step.
 *
 *   build/bench_reg [key=value...]      (run config keys; defaults: model=nano, loss=jepa,
 *                                         system_prompt=omit, threads=1, k=1)
 *
 * Times one JEPA training step (forward + backward, no update) on the first
 * batch of the train split with jepa_reg=none, sigreg and vicreg, in
 * alternating rounds (ROUNDS of them, after one warm-up step each), and the
 * regulariser alone (jepa_reg_apply on the batch's two (B, hidden) sets, with
 * its gradient). Prints the median step time of each, and the overhead
 * against none in ms and %. sigreg_slices, vicreg_* and the shape keys apply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "bench_util.h"
#include "batch.h"
#include "config.h"
#include "data.h"
#include "jepa_reg.h"
#include "loss.h"
#include "model.h"
#include "model_config.h"
#include "train.h"

#define ROUNDS 9
#define ALONE_REPS 20

/* Milliseconds of one forward + backward of b under o. */
static double step_ms(Model *m, const Batch *b, const LossOpts *o, LossWork *w) {
    LossOut out;
    model_zero_grads(m);
    double t0 = now_seconds();
    if (loss_step(m, b, o, w, &out, 1)) { fprintf(stderr, "bench_reg: step failed\n"); exit(1); }
    return (now_seconds() - t0) * 1e3;
}

/* Milliseconds of the regulariser alone on random (B, D) sets, with its gradient. */
static double alone_ms(Backend *be, const JepaReg *r, int B, int D) {
    size_t bytes = (size_t)B * D * sizeof(float);
    float *h = malloc(bytes), *P = be->alloc(be, bytes), *T = be->alloc(be, bytes);
    float *dP = be->alloc(be, bytes), *dT = be->alloc(be, bytes);
    Rng g = rng_stream(1, "bench");
    for (size_t i = 0; i < (size_t)B * D; i++) h[i] = (float)rng_normal(&g);
    be->upload(be, P, h, bytes), be->upload(be, T, h, bytes);
    JepaRegWork w = {0};
    JepaRegOut out;
    double t[ALONE_REPS];
    for (int k = -1; k < ALONE_REPS; k++) {
        double t0 = now_seconds();
        if (jepa_reg_apply(be, r, P, T, dP, dT, B, D, 1.0, &w, &out)) { fprintf(stderr, "bench_reg: failed\n"); exit(1); }
        if (k >= 0) t[k] = (now_seconds() - t0) * 1e3;
    }
    jepa_reg_work_free(&w);
    be->free(be, P), be->free(be, T), be->free(be, dP), be->free(be, dT), free(h);
    return bench_median(t, ALONE_REPS);
}

/* The run config from the defaults above and argv's key=value. */
static int read_config(Config *c, int argc, char **argv) {
    char err[512];
    config_defaults(c);
    const char *defaults[] = {"model=nano", "loss=jepa", "system_prompt=omit", "threads=1", "k=1"};
    for (int i = 0; i < 5; i++) config_set_kv(c, defaults[i], err, sizeof err);
    for (int i = 1; i < argc; i++)
        if (config_set_kv(c, argv[i], err, sizeof err)) { fprintf(stderr, "bench_reg: %s\n", err); return -1; }
    return 0;
}

int main(int argc, char **argv) {
    if (!getenv("OMP_WAIT_POLICY")) { /* as harness/main.c: passive OpenMP threads leave the cores to OpenBLAS */
        setenv("OMP_WAIT_POLICY", "passive", 1);
        execv("/proc/self/exe", argv);
    }
    Config c;
    char err[512], path[1024];
    if (read_config(&c, argc, argv)) return 2;
    Backend *be = backend_by_name(c.device);
    if (!be) { fprintf(stderr, "bench_reg: no backend '%s'\n", c.device); return 2; }
    be->set_threads(be, c.threads);
    dataset_path(c.dataset, "train", path, sizeof path);
    Dataset d;
    ModelConfig mc;
    Model m;
    LoraConfig lc = lora_config(&c);
    if (dataset_load(path, c.batch_size, &d, err, sizeof err) ||
        model_config_resolve(&c, NULL, TOK_VOCAB, &mc, err, sizeof err) || model_init(&m, &mc, &lc, be, err, sizeof err)) {
        fprintf(stderr, "bench_reg: %s\n", err);
        return 1;
    }
    Rng r = rng_stream(c.seed, "init"), rs = rng_stream(c.seed, "sigreg");
    model_init_weights(&m, &r, (float)c.init_std);
    model_set_training(&m, 1, 1);
    ViewOpts vo = view_opts(&c);
    Batch b = {0};
    int *idx = malloc((size_t)d.n * sizeof(int));
    for (int i = 0; i < d.n; i++) idx[i] = i;
    if (batch_build(&b, d.ex, idx, d.n, &vo, 1)) { fprintf(stderr, "bench_reg: batch\n"); return 1; }
    static const char *names[3] = {"none", "sigreg", "vicreg"};
    LossOpts lo[3];
    LossWork w[3] = {{0}};
    double t[3][ROUNDS], med[3], alone[3] = {0};
    for (int v = 0; v < 3; v++) {
        lo[v] = loss_opts(&c);
        lo[v].reg.kind = (JepaRegKind)v;
        lo[v].reg.rng = &rs;
        step_ms(&m, &b, &lo[v], &w[v]); /* warm-up: buffers allocated */
    }
    for (int k = 0; k < ROUNDS; k++)
        for (int v = 0; v < 3; v++) t[v][k] = step_ms(&m, &b, &lo[v], &w[v]);
    for (int v = 0; v < 3; v++) med[v] = bench_median(t[v], ROUNDS);
    for (int v = 1; v < 3; v++) alone[v] = alone_ms(be, &lo[v].reg, b.nex, m.cfg.dim);
    printf("model %s (hidden %d), batch %d (%d tokens), k %d, jepa_pass %s, threads %d, sigreg_slices %d; median of %d "
           "alternating rounds\n\n", c.model, m.cfg.dim, b.nex, b.n, c.k, c.jepa_pass, c.threads, c.sigreg_slices,
           ROUNDS);
    printf("| jepa_reg | JEPA step (ms) | overhead (ms) | overhead (%%) | regulariser alone (ms) |\n|---|---:|---:|---:|---:|\n");
    for (int v = 0; v < 3; v++)
        printf("| %s | %.1f | %+.2f | %+.1f%% | %.2f |\n", names[v], med[v], med[v] - med[0],
               100.0 * (med[v] - med[0]) / med[0], alone[v]);
    for (int v = 0; v < 3; v++) loss_work_free(&w[v]);
    batch_free(&b);
    free(idx);
    model_free(&m);
    dataset_free(&d);
    return 0;
}
