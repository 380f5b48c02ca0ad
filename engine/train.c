/* The training loop of one run (ALGORITHM.md §1–§7). */
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "batch.h"
#include "checkpoint.h"
#include "data.h"
#include "generate.h"
#include "loss.h"
#include "model.h"
#include "optim.h"
#include "rng.h"
#include "tokenizer.h"

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void fmt_duration(double s, char *out, size_t n) {
    if (s < 0 || !isfinite(s)) { snprintf(out, n, "--"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(out, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(out, n, "%ldm%02lds", t / 60, t % 60);
}

/* Median of forward+backward time (ms) of 3 repetitions of one batch. */
static double time_step(Model *m, const Batch *b, const LossOpts *o, LossWork *w) {
    double t[3];
    LossOut out;
    for (int r = 0; r < 3; r++) {
        double t0 = now_seconds();
        loss_step(m, b, o, w, &out, 1);
        t[r] = (now_seconds() - t0) * 1e3;
    }
    double a = fmin(t[0], t[1]), bb = fmax(t[0], t[1]);
    return t[2] < a ? a : t[2] > bb ? bb : t[2];
}

typedef struct EvalCtx { FILE *log; double t0; } EvalCtx;

/* Peak resident memory of this process in MiB. */
static double peak_rss_mb(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss / 1024.0 : 0.0;
}

LoraConfig lora_config(const Config *c) {
    LoraConfig l = {c->lora_rank, (float)(c->lora_alpha > 0 ? c->lora_alpha : 2.0 * c->lora_rank),
                    (float)c->lora_dropout, 0};
    static const char *names[LT_COUNT] = {"q", "k", "v", "o", "gate", "up", "down"};
    const char *p = c->lora_targets;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        for (int t = 0; t < LT_COUNT; t++)
            if (strlen(names[t]) == len && !strncmp(names[t], p, len)) l.targets |= 1u << t;
        if (!e) break;
        p = e + 1;
    }
    return l;
}



static void eval_progress(int done, int total, void *p) {
    EvalCtx *e = p;
    if (!e->log) return;
    double el = now_seconds() - e->t0;
    char eta[32];
    fmt_duration(done ? el / done * (total - done) : 0, eta, sizeof eta);
    if (done == total || done % 512 == 0)
        fprintf(e->log, "eval %d/%d  %.0f ex/s  ETA %s\n", done, total, done / fmax(el, 1e-9), eta);
}

int train_run(const Config *c, const char *run_dir, FILE *log, TrainResult *res, char *err, size_t errn) {
    memset(res, 0, sizeof *res);
    snprintf(res->status, sizeof res->status, "failed");
    char path[1024];
    Dataset train = {0}, test = {0};
    Model m = {0};
    AdamW opt = {0};
    Batch b = {0};
    LossWork w = {0};
    FILE *curve = NULL, *pred = NULL;
    int *order = NULL, rc = -1;

    Backend *be = backend_by_name(c->device);
    if (!be) { snprintf(err, errn, "device '%s' is not built into this binary", c->device); goto done; }
    be->set_threads(be, c->threads);
    res->threads_used = c->threads > 0 ? c->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);

    dataset_path(c->dataset, "train", path, sizeof path);
    if (dataset_load(path, c->train_limit, &train, err, errn)) goto done;
    dataset_path(c->dataset, "test", path, sizeof path);
    if (dataset_load(path, c->test_limit, &test, err, errn)) goto done;

    Tokenizer tok = tokenizer_byte();
    char note[1024];
    if (model_build(c, be, &m, note, sizeof note, err, errn)) goto done;
    if (log && note[0]) fprintf(log, "%s\n", note);
    const ModelConfig mc = m.cfg;
    ViewOpts vo = view_opts(c);
    if (dataset_check_positions(&train, &vo, c->max_new_tokens, mc.max_pos, err, errn) ||
        dataset_check_positions(&test, &vo, c->max_new_tokens, mc.max_pos, err, errn))
        goto done;
    if (adamw_init(&opt, be, m.ntrainable, c->adam_beta1, c->adam_beta2, c->adam_eps, c->weight_decay)) {
        snprintf(err, errn, "out of memory (optimizer state)");
        goto done;
    }
    res->params = (long)m.nparams;
    res->trainable_params = (long)m.ntrainable;
    if (log)
        fprintf(log, "model %s: %zu parameters, %zu trainable (hidden %d, layers %d, heads %d/%d, ffn %d%s); %d train, "
                "%d test examples\n", c->init[0] ? c->init : c->model, m.nparams, m.ntrainable, mc.dim, mc.n_layers, mc.n_heads, mc.n_kv_heads,
                mc.ffn_dim, m.lora.rank ? ", LoRA" : "", train.n, test.n);

    if (run_dir) {
        snprintf(path, sizeof path, "%s/curve.csv", run_dir);
        if (!(curve = fopen(path, "w"))) {
            snprintf(err, errn, "%s: cannot write: %s", path, strerror(errno));
            goto done;
        }
        fprintf(curve, "kind,step,epoch,ntp_loss,jepa_dist,lr,grad_norm,tokens,seconds,acc_exact,acc_startswith\n");
    }

    int jepa = strcmp(c->loss, "jepa") == 0;
    LossOpts lo = {c->gamma, jepa ? c->lambda : 0.0, jepa ? jepa_metric(c->jepa_metric) : NULL};
    int B = c->batch_size < train.n ? c->batch_size : train.n;
    long steps_per_epoch = (train.n + B - 1) / B, T = steps_per_epoch * c->epochs;
    order = malloc((size_t)train.n * sizeof(int));
    if (!order) { snprintf(err, errn, "out of memory"); goto done; }
    for (int i = 0; i < train.n; i++) order[i] = i;
    Rng r_order = rng_stream(c->seed, "data_order"), r_ld = rng_stream(c->seed, "ld"),
        r_drop = rng_stream(c->seed, "lora_dropout");

    /* Test hook: HARNESS_INJECT_NAN_AT_STEP=N makes step N's loss NaN, so the
     * diverged path can be exercised end to end. */
    const char *inject = getenv("HARNESS_INJECT_NAN_AT_STEP");
    long nan_step = inject && *inject ? atol(inject) : -1;
    double t_start = now_seconds(), t_eval_epochs = 0, tokens = 0;
    double win_ntp = 0, win_jepa = 0, win_gn = 0, ep_ntp = 0, ep_jepa = 0;
    int win_n = 0, win_jn = 0, ep_n = 0, ep_jn = 0;
    long step = 0;
    int diverged = 0;
    for (int ep = 0; ep < c->epochs && !diverged; ep++) {
        rng_shuffle(&r_order, order, train.n);
        ep_ntp = ep_jepa = 0;
        ep_n = ep_jn = 0;
        for (long s = 0; s < steps_per_epoch; s++, step++) {
            int lo_i = (int)(s * B), m_ex = train.n - lo_i < B ? train.n - lo_i : B;
            int with_jepa = 0;
            if (jepa) with_jepa = rng_uniform(&r_ld) >= c->ld; /* loss dropout, §4 */
            if (batch_build(&b, train.ex, order + lo_i, m_ex, &vo, with_jepa)) {
                snprintf(err, errn, "out of memory (batch)");
                goto done;
            }
            model_zero_grads(&m);
            model_set_training(&m, 1, rng_u64(&r_drop));
            LossOut out;
            if (loss_step(&m, &b, &lo, &w, &out, 1)) {
                snprintf(err, errn, "out of memory (activations for %d tokens)", b.n);
                goto done;
            }
            if (step + 1 == nan_step) out.total = NAN;
            double gn = clip_grad_norm(be, m.grads, m.ntrainable, c->grad_clip);
            if (!isfinite(out.total) || !isfinite(gn)) {
                diverged = 1;
                snprintf(res->message, sizeof res->message, "non-finite loss or gradient at step %ld (ntp %g, jepa %g)",
                         step, out.ntp, out.jepa);
                if (log) fprintf(log, "diverged: %s\n", res->message);
                break;
            }
            double lr = lr_linear_decay(c->lr, step, T);
            adamw_step(&opt, model_trainable(&m), m.grads, lr);
            tokens += b.n;
            win_ntp += out.ntp; win_gn += gn; win_n++;
            ep_ntp += out.ntp; ep_n++;
            if (b.jepa) { win_jepa += out.jepa; win_jn++; ep_jepa += out.jepa; ep_jn++; }
            if ((step + 1) % c->log_every == 0 || step + 1 == T) {
                double el = now_seconds() - t_start - t_eval_epochs;
                char eta[32];
                fmt_duration(el / (step + 1) * (T - step - 1), eta, sizeof eta);
                if (curve)
                    fprintf(curve, "step,%ld,%d,%.6f,%.6f,%.6g,%.4f,%.0f,%.2f,,\n", step + 1, ep + 1, win_ntp / win_n,
                            win_jn ? win_jepa / win_jn : 0.0, lr, win_gn / win_n, tokens, el);
                if (log)
                    fprintf(log, "step %ld/%ld  epoch %d  ntp %.4f  jepa %.4f  lr %.3g  |g| %.3f  %.0f tok/s  ETA %s\n",
                            step + 1, T, ep + 1, win_ntp / win_n, win_jn ? win_jepa / win_jn : 0.0, lr,
                            win_gn / win_n, tokens / fmax(el, 1e-9), eta);
                win_ntp = win_jepa = win_gn = 0;
                win_n = win_jn = 0;
            }
        }
        if (!diverged && c->epoch_eval_limit > 0 && ep + 1 < c->epochs) {
            double t0 = now_seconds();
            model_set_training(&m, 0, 0);
            EvalResult er;
            int nev = c->epoch_eval_limit < test.n ? c->epoch_eval_limit : test.n;
            if (evaluate(&m, &test, nev, vo.include_system, c->max_new_tokens, NULL, &er, NULL, NULL)) {
                snprintf(err, errn, "evaluation failed (out of memory or prompt longer than max_pos)");
                goto done;
            }
            t_eval_epochs += now_seconds() - t0;
            if (curve)
                fprintf(curve, "epoch,%ld,%d,%.6f,%.6f,,,%.0f,%.2f,%.2f,%.2f\n", step, ep + 1, ep_ntp / fmax(ep_n, 1),
                        ep_jn ? ep_jepa / ep_jn : 0.0, tokens, now_seconds() - t_start, er.acc_exact,
                        er.acc_startswith);
            if (log)
                fprintf(log, "epoch %d: exact %.2f%%  startswith %.2f%% on the first %d test examples\n", ep + 1,
                        er.acc_exact, er.acc_startswith, nev);
        }
    }
    res->steps = step;
    res->train_s = now_seconds() - t_start - t_eval_epochs;
    res->train_tok_s = tokens / fmax(res->train_s, 1e-9);
    res->ntp_loss = ep_n ? ep_ntp / ep_n : 0.0;
    res->jepa_dist = ep_jn ? ep_jepa / ep_jn : 0.0;
    if (diverged) {
        snprintf(res->status, sizeof res->status, "diverged");
        rc = 0;
        goto done;
    }

    /* Final evaluation over the test split. */
    double t0 = now_seconds();
    model_set_training(&m, 0, 0);
    if (run_dir) {
        snprintf(path, sizeof path, "%s/predictions.jsonl", run_dir);
        if (!(pred = fopen(path, "w"))) {
            snprintf(err, errn, "%s: cannot write: %s", path, strerror(errno));
            goto done;
        }
    }
    EvalResult er;
    EvalCtx ectx = {log, t0};
    if (evaluate(&m, &test, test.n, vo.include_system, c->max_new_tokens, pred, &er, eval_progress, &ectx)) {
        snprintf(err, errn, "evaluation failed (out of memory or prompt longer than max_pos)");
        goto done;
    }
    res->eval_s = now_seconds() - t0;
    res->acc_exact = er.acc_exact;
    res->acc_startswith = er.acc_startswith;
    if (curve)
        fprintf(curve, "epoch,%ld,%d,%.6f,%.6f,,,%.0f,%.2f,%.2f,%.2f\n", step, c->epochs, res->ntp_loss, res->jepa_dist,
                tokens, now_seconds() - t_start, er.acc_exact, er.acc_startswith);

    /* Step timing: the same examples as an NTP step and as a JEPA step. */
    {
        ViewOpts tv = vo;
        LossOpts to = lo;
        if (!to.metric) { to.metric = jepa_metric(c->jepa_metric); to.lambda = c->lambda; }
        if (batch_build(&b, train.ex, order, B, &tv, 0)) goto done;
        res->ntp_step_ms = time_step(&m, &b, &to, &w);
        if (batch_build(&b, train.ex, order, B, &tv, 1)) goto done;
        res->jepa_step_ms = time_step(&m, &b, &to, &w);
        res->jepa_ntp_ratio = res->jepa_step_ms / fmax(res->ntp_step_ms, 1e-9);
    }
    if (log)
        fprintf(log, "done: exact %.2f%%  startswith %.2f%%  (%d test examples)  train %.1fs  eval %.1fs  %.0f tok/s  "
                "step ms: ntp %.1f jepa %.1f (x%.2f)\n", er.acc_exact, er.acc_startswith, er.n, res->train_s,
                res->eval_s, res->train_tok_s, res->ntp_step_ms, res->jepa_step_ms, res->jepa_ntp_ratio);

    res->peak_rss_mb = peak_rss_mb();
    if (run_dir && strcmp(c->checkpoint, "final") == 0) {
        snprintf(path, sizeof path, "%s/checkpoint", run_dir);
        if (checkpoint_save(&m, &tok, c, path, err, errn)) goto done;
    }
    snprintf(res->status, sizeof res->status, "ok");
    rc = 0;
done:
    if (curve) fclose(curve);
    if (pred) fclose(pred);
    free(order);
    batch_free(&b);
    loss_work_free(&w);
    adamw_free(&opt);
    model_free(&m);
    dataset_free(&train);
    dataset_free(&test);
    return rc;
}
