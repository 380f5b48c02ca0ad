/* Cost of Semantic Tube Prediction on top of an NTP step (docs/STP.md).
 *
 *   build/bench_stp [key=value...]      (run config keys; defaults: model=nano,
 *                                         system_prompt=omit, threads=1)
 *
 * Times STEPS NTP steps (forward, NTP loss, backward) and STEPS STP steps (the
 * same plus stp_loss on the same h, gradient into the same dh), alternating,
 * after a warm-up, on the first batches of the train split; prints both and
 * their ratio (goal <= 1.1). The content ranges are read off the NTP rows'
 * tokens when the batch does not fill them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "batch.h"
#include "config.h"
#include "data.h"
#include "loss.h"
#include "model.h"
#include "model_config.h"
#include "stp.h"
#include "train.h"

#define STEPS 8

/* U between ⟨user⟩ and ⟨assistant⟩, A between ⟨assistant⟩ and ⟨eos⟩, of NTP rows 0..nex−1 */
static void ranges_from_tokens(const Batch *b, int *user, int *asst) {
    for (int i = 0; i < b->nex; i++) {
        int r0 = b->row_start[i], r1 = b->row_start[i + 1], tu = r0, ta = r0;
        for (int t = r0; t < r1; t++) {
            if (b->ids[t] == TOK_USER) tu = t;
            if (b->ids[t] == TOK_ASSISTANT) ta = t;
        }
        user[2 * i] = tu + 1, user[2 * i + 1] = ta, asst[2 * i] = ta + 1, asst[2 * i + 1] = r1 - 1;
    }
}

/* One step; with stp, the STP term (lambda 0.02) joins the NTP gradient. Returns its seconds; *in_stp
 * receives the seconds of stp_loss alone. */
static double step(Model *m, Batch *b, LossWork *lw, StpWork *sw, Rng *r, float *dh, int stp, double *in_stp) {
    double t0 = now_seconds(), ntp, J = 0, t1;
    int C = m->cfg.dim;
    model_zero_grads(m);
    float *h = model_forward(m, b);
    m->be->zero(m->be, dh, (size_t)b->n * C * sizeof(float));
    int fail = !h || ntp_loss(m, b, h, dh, 1.0, lw, &ntp);
    t1 = now_seconds();
    fail = fail || (stp && stp_loss(m->be, b, h, dh, C, 0.02, STP_W_NONE, 0, r, sw, &J));
    *in_stp = now_seconds() - t1;
    if (fail || model_backward(m, b, dh)) {
        fprintf(stderr, "bench_stp: out of memory\n");
        exit(1);
    }
    return now_seconds() - t0;
}

static int setup(int argc, char **argv, Config *c) {
    char err[512];
    config_defaults(c);
    const char *defaults[][2] = {{"model", "nano"}, {"system_prompt", "omit"}, {"threads", "1"}};
    for (int i = 0; i < 3; i++) config_set(c, defaults[i][0], defaults[i][1], err, sizeof err);
    for (int i = 1; i < argc; i++) {
        char key[128];
        const char *eq = strchr(argv[i], '=');
        if (!eq) { fprintf(stderr, "bench_stp: expected key=value, got '%s'\n", argv[i]); return -1; }
        snprintf(key, sizeof key, "%.*s", (int)(eq - argv[i]), argv[i]);
        if (config_set(c, key, eq + 1, err, sizeof err)) { fprintf(stderr, "bench_stp: %s\n", err); return -1; }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (!getenv("OMP_WAIT_POLICY")) { /* as harness/main.c */
        setenv("OMP_WAIT_POLICY", "passive", 1);
        execv("/proc/self/exe", argv);
    }
    Config c;
    char err[512], path[1024];
    if (setup(argc, argv, &c)) return 2;
    Backend *be = backend_by_name(c.device);
    if (!be) { fprintf(stderr, "bench_stp: no backend '%s'\n", c.device); return 2; }
    be->set_threads(be, c.threads);
    dataset_path(c.dataset, "train", path, sizeof path);
    Dataset d;
    ModelConfig mc;
    Model m;
    if (dataset_load(path, c.batch_size * STEPS, &d, err, sizeof err) ||
        model_config_resolve(&c, NULL, TOK_VOCAB, &mc, err, sizeof err) ||
        model_init(&m, &mc, NULL, be, err, sizeof err)) {
        fprintf(stderr, "bench_stp: %s\n", err);
        return 1;
    }
    Rng ri = rng_stream(c.seed, "init"), rs = rng_stream(c.seed, "stp");
    model_init_weights(&m, &ri, (float)c.init_std);
    ViewOpts vo = view_opts(&c);
    Batch b = {0};
    LossWork lw = {0};
    StpWork sw = {0};
    int B = c.batch_size, *idx = malloc((size_t)B * sizeof(int)), *u = malloc(2 * (size_t)B * sizeof(int)),
        *a = malloc(2 * (size_t)B * sizeof(int));
    size_t maxn = 0;
    double sec[2] = {0, 0}, in_stp = 0;
    float *dh = NULL;
    for (int s = -1; s < STEPS; s++) { /* step -1 warms up */
        for (int i = 0; i < B; i++) idx[i] = ((s < 0 ? 0 : s) * B + i) % d.n;
        batch_build(&b, d.ex, idx, B, &vo, 0);
        int own = !b.ntp_user;
        if (own) ranges_from_tokens(&b, u, a), b.ntp_user = u, b.ntp_asst = a;
        if ((size_t)b.n > maxn) be->free(be, dh), dh = be->alloc(be, (size_t)b.n * mc.dim * sizeof(float)), maxn = b.n;
        for (int stp = 0; stp <= 1; stp++) { /* alternating: both see the same machine state */
            double ts, t = step(&m, &b, &lw, &sw, &rs, dh, stp, &ts);
            if (s >= 0) sec[stp] += t, in_stp += stp ? ts : 0;
        }
        if (own) b.ntp_user = b.ntp_asst = NULL;
    }
    printf("model %s (%zu parameters), batch %d, system_prompt %s, threads %d, stp_span=random\n", c.model, m.nparams,
           B, c.system_prompt, c.threads);
    printf("NTP step: %.2f ms\nSTP step: %.2f ms\nSTP / NTP step time: %.3f\n", sec[0] / STEPS * 1e3,
           sec[1] / STEPS * 1e3, sec[1] / sec[0]);
    printf("stp_loss alone: %.3f ms per step (%.2f%% of the NTP step)\n", in_stp / STEPS * 1e3,
           100 * in_stp / sec[0]);
    be->free(be, dh);
    free(idx), free(u), free(a);
    batch_free(&b);
    loss_work_free(&lw);
    stp_work_free(&sw);
    model_free(&m);
    dataset_free(&d);
    return 0;
}
