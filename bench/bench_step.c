/* Training-step throughput and the share of time per op.
 *
 *   build/bench_step [key=value...]      (the run config keys; defaults: model=nano,
 *                                          system_prompt=omit, threads=1, k=1)
 *
 * Times 8 NTP steps and 8 JEPA steps (forward + backward, no update) on the
 * first batches of the train split, through the profiling backend. Shape
 * keys, lora_rank (with its dropout) and device (cpu, ref, cuda) apply. On
 * an asynchronous device (cuda) the step times wait for the device's queue;
 * the per-op table then shows host-side time, each op charged with the queued
 * work it waited for (backend_prof.h). */
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_prof.h"
#include "batch.h"
#include "config.h"
#include "data.h"
#include "loss.h"
#include "model.h"
#include "model_config.h"
#include "train.h"

#define STEPS 8

/* Waits until the device has run every queued op (a download synchronises; backend.h). */
static void device_wait(Model *m) {
    float g;
    m->be->download(m->be, &g, m->grads, sizeof g);
}

int main(int argc, char **argv) {
    if (!getenv("OMP_WAIT_POLICY")) { /* as harness/main.c: passive OpenMP threads leave the cores to OpenBLAS */
        setenv("OMP_WAIT_POLICY", "passive", 1);
        execv("/proc/self/exe", argv);
    }
    Config c;
    config_defaults(&c);
    char err[512];
    const char *defaults[][2] = {{"model", "nano"}, {"system_prompt", "omit"}, {"threads", "1"}};
    for (int i = 0; i < 3; i++) config_set(&c, defaults[i][0], defaults[i][1], err, sizeof err);
    for (int i = 1; i < argc; i++) {
        char key[128];
        const char *eq = strchr(argv[i], '=');
        if (!eq) { fprintf(stderr, "bench_step: expected key=value, got '%s'\n", argv[i]); return 2; }
        snprintf(key, sizeof key, "%.*s", (int)(eq - argv[i]), argv[i]);
        if (config_set(&c, key, eq + 1, err, sizeof err)) { fprintf(stderr, "bench_step: %s\n", err); return 2; }
    }
    Backend *be = backend_by_name(c.device);
    if (!be) { fprintf(stderr, "bench_step: device '%s': %s\n", c.device, backend_unavailable(c.device)); return 2; }
    be->set_threads(be, c.threads);
    char path[1024];
    dataset_path(c.dataset, "train", path, sizeof path);
    Dataset d;
    if (dataset_load(path, c.batch_size * STEPS, &d, err, sizeof err)) { fprintf(stderr, "bench_step: %s\n", err); return 1; }
    ModelConfig mc;
    Model m;
    LoraConfig lc = lora_config(&c);
    if (model_config_resolve(&c, NULL, TOK_VOCAB, &mc, err, sizeof err) ||
        model_init(&m, &mc, &lc, backend_profiled(be), err, sizeof err)) {
        fprintf(stderr, "bench_step: %s\n", err);
        return 1;
    }
    Rng r = rng_stream(c.seed, "init"), rl = rng_stream(c.seed, "lora_init");
    model_init_weights(&m, &r, (float)c.init_std);
    model_init_lora(&m, &rl);
    model_set_training(&m, 1, 1); /* LoRA dropout masks are part of a training step */
    m.dtype = strcmp(c.dtype, "bf16") ? DTYPE_FP32 : DTYPE_BF16;
    ViewOpts vo = view_opts(&c);
    LossOpts lo = loss_opts(&c);
    if (!lo.metric) lo.metric = jepa_metric(c.jepa_metric), lo.lambda = c.lambda; /* the JEPA step of an NTP config */
    Batch b = {0};
    LossWork w = {0};
    printf("model %s (%zu parameters), batch %d, k %d, jepa_pass %s, system_prompt %s, device %s, dtype %s, "
           "threads %d\n\n", c.model, m.nparams, c.batch_size, c.k, c.jepa_pass, c.system_prompt, c.device, c.dtype,
           c.threads);
    double ms[2];
    for (int jepa = 0; jepa <= 1; jepa++) {
        int *idx = malloc((size_t)c.batch_size * sizeof(int));
        double tokens = 0, t0 = 0;
        backend_prof_reset();
        for (int s = -1; s < STEPS; s++) { /* step -1 warms up */
            int lo_i = (s < 0 ? 0 : s) * c.batch_size;
            for (int i = 0; i < c.batch_size; i++) idx[i] = (lo_i + i) % d.n;
            batch_build(&b, d.ex, idx, c.batch_size, &vo, jepa);
            if (s == 0) { device_wait(&m); backend_prof_reset(); t0 = now_seconds(); }
            LossOut out;
            model_zero_grads(&m);
            if (loss_step(&m, &b, &lo, &w, &out, 1)) { fprintf(stderr, "bench_step: out of memory\n"); return 1; }
            if (s >= 0) tokens += b.n;
        }
        device_wait(&m);
        double sec = now_seconds() - t0;
        ms[jepa] = sec / STEPS * 1e3;
        printf("## %s step: %.1f ms, %.0f tokens/s (%.0f tokens per step)\n\n", jepa ? "JEPA" : "NTP", ms[jepa],
               tokens / sec, tokens / STEPS);
        backend_prof_print(stdout);
        printf("| (outside ops: loss, batch glue) | | %.3f | |\n\n", sec - backend_prof_total());
        free(idx);
    }
    printf("JEPA / NTP step time: %.2f\n", ms[1] / ms[0]);
    batch_free(&b);
    loss_work_free(&w);
    model_free(&m);
    dataset_free(&d);
    return 0;
}
