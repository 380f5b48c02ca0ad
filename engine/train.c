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
#include "diagnostics.h"
#include "errmsg.h"
#include "evaluate.h"
#include "loss.h"
#include "model.h"
#include "optim.h"
#include "rng.h"
#include "task.h"
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

/* Everything one run holds, so each stage of train_run is a short function. */
typedef struct Trainer {
    const Config *c;
    const Task *task;
    TaskEnv env;
    FILE *log, *curve;
    TrainResult *res;
    Backend *be;
    Dataset train, test;
    Model m;
    AdamW opt;
    Batch b;
    LossWork w;
    Tokenizer tok;
    TokenCache train_ids, test_ids; /* content ids of the splits under tok (BPE) */
    ViewOpts vo;
    LossOpts lo;
    int jepa, B, *order;
    long steps_per_epoch, T, step, nan_step;
    Rng r_order, r_ld, r_drop, r_stp, r_reg;
    double t_start, t_eval, tokens;
    double win_ntp, win_jepa, win_gn, ep_ntp, ep_jepa; /* sums over the log window and the epoch */
    double win_reg, ep_reg;                            /* the regulariser's R, over the same batches as jepa */
    int win_n, win_jn, ep_n, ep_jn;
} Trainer;

/* The task of c->dataset and its splits: the train split only when the run
 * trains (epochs > 0; a task without one then is an error saying what to do
 * instead), each example checked for the task's scorer. 0 or -1 with err. */
static int load_data(Trainer *t, char *err, size_t errn) {
    const Config *c = t->c;
    char path[1024];
    if (!(t->task = task_find(c->dataset))) return errf(err, errn, "dataset=%s: no such task", c->dataset);
    t->env = task_env_default();
    t->env.spider_db = c->spider_db;
    if (c->epochs > 0) {
        if (!t->task->train) return errf(err, errn, "dataset=%s has no train split: %s", c->dataset, t->task->no_train);
        dataset_path(c->dataset, "train", path, sizeof path);
        if (dataset_load(path, c->train_limit, &t->train, err, errn) ||
            task_check_dataset(t->task, &t->train, err, errn))
            return -1;
    }
    dataset_path(c->dataset, "test", path, sizeof path);
    if (dataset_load(path, c->test_limit, &t->test, err, errn)) return -1;
    return task_check_dataset(t->task, &t->test, err, errn);
}

/* "name1 A%  name2 B% ..." of r's metrics into buf. */
static void fmt_metrics(const EvalResult *r, char *buf, size_t n) {
    size_t k = 0;
    buf[0] = 0;
    for (int j = 0; j < r->nmetric && k < n; j++)
        k += r->unscored[j] ? (size_t)snprintf(buf + k, n - k, "%s%s not scored", j ? "  " : "", r->task->metrics[j])
                            : (size_t)snprintf(buf + k, n - k, "%s%s %.2f%%", j ? "  " : "", r->task->metrics[j], r->acc[j]);
    if (r->undecided && k < n) snprintf(buf + k, n - k, " (dfa: %d undecided)", r->undecided);
}

/* ",A,B,..." of r's accuracies (%.2f) into buf. */
static void csv_metrics(const EvalResult *r, char *buf, size_t n) {
    size_t k = 0;
    buf[0] = 0;
    for (int j = 0; j < r->nmetric && k < n; j++)
        k += r->unscored[j] ? (size_t)snprintf(buf + k, n - k, ",") : (size_t)snprintf(buf + k, n - k, ",%.2f", r->acc[j]);
}

/* tokenizer=bpe:N: N merges trained on the contents the run encodes (U and A
 * of every train example, and S under system_prompt=include). */
static int train_tokenizer(Trainer *t, int merges, char *err, size_t errn) {
    const Dataset *d = &t->train;
    int sys = strcmp(t->c->system_prompt, "include") == 0;
    if (d->n == 0) return errf(err, errn, "tokenizer=%s trains on the train split: it needs epochs > 0", t->c->tokenizer);
    const char **texts = malloc((size_t)d->n * 3 * sizeof *texts);
    if (!texts) return errf(err, errn, "out of memory");
    size_t n = 0;
    for (int i = 0; i < d->n; i++) {
        if (sys) texts[n++] = d->ex[i].system;
        texts[n++] = d->ex[i].user;
        texts[n++] = d->ex[i].assistant;
    }
    int rc = tokenizer_train(texts, n, merges, &t->tok, err, errn);
    free(texts);
    return rc;
}

/* The run's tokenizer (tokenizer=, or the init checkpoint's), the token ids
 * of both splits cached (vo reads the train split's), and a log line;
 * tokenizer.json into run_dir for a BPE tokenizer. 0 or -1 with err. */
static int setup_tokenizer(Trainer *t, const char *run_dir, char *err, size_t errn) {
    char note[1024] = "", path[1024];
    int merges = 0;
    if (tokenizer_spec(t->c->tokenizer, &merges, err, errn) == TOKSPEC_TRAIN && !t->c->init[0]) {
        if (train_tokenizer(t, merges, err, errn)) return -1;
    } else if (run_tokenizer(t->c, &t->tok, note, sizeof note, err, errn)) {
        return -1;
    }
    if (t->log && note[0]) fprintf(t->log, "%s\n", note);
    if (token_cache_build(&t->train_ids, &t->train, &t->tok, err, errn) ||
        token_cache_build(&t->test_ids, &t->test, &t->tok, err, errn))
        return -1;
    t->vo.cache = &t->train_ids;
    if (t->tok.kind == TOKENIZER_BYTE) return 0;
    if (run_dir) {
        snprintf(path, sizeof path, "%s/tokenizer.json", run_dir);
        if (tokenizer_save(&t->tok, path, err, errn)) return -1;
    }
    if (t->log) {
        double tok = 0;
        for (int i = 0; i < t->train.n; i++) tok += view_ntp_length(&t->train.ex[i], &t->vo);
        fprintf(t->log, "tokenizer: %s (%s%s), chat template %s, %d ids; %.1f tokens per NTP sequence (train)\n",
                tokenizer_kind_name(&t->tok), t->c->init[0] ? "the init checkpoint's tokenizer.json" : "tokenizer=",
                t->c->init[0] ? "" : t->c->tokenizer, t->tok.chat, t->tok.vocab_size,
                t->train.n ? tok / t->train.n : 0.0);
    }
    return 0;
}

/* Backend, data, model, optimizer, streams, curve.csv. 0 or -1 with err. */
static int trainer_setup(Trainer *t, const char *run_dir, char *err, size_t errn) {
    const Config *c = t->c;
    char path[1024], note[1024];
    if (!(t->be = backend_by_name(c->device)))
        return errf(err, errn, "device '%s': %s", c->device, backend_unavailable(c->device));
    t->be->set_threads(t->be, c->threads);
    t->res->threads_used = c->threads > 0 ? c->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (load_data(t, err, errn)) return -1;
    t->vo = view_opts(c);
    t->vo.tok = &t->tok;
    if (setup_tokenizer(t, run_dir, err, errn)) return -1;
    if (model_build_tok(c, &t->tok, t->be, &t->m, note, sizeof note, err, errn)) return -1;
    if (t->log && note[0]) fprintf(t->log, "%s\n", note);
    const ModelConfig *mc = &t->m.cfg;
    if (dataset_check_positions(&t->train, &t->vo, c->max_new_tokens, mc->max_pos, err, errn) ||
        (t->task->eval == TASK_GENERATE &&
         dataset_check_positions(&t->test, &t->vo, c->max_new_tokens, mc->max_pos, err, errn)))
        return -1;
    if (adamw_init(&t->opt, t->be, t->m.ntrainable, c->adam_beta1, c->adam_beta2, c->adam_eps, c->weight_decay))
        return errf(err, errn, "out of memory (optimizer state)");
    t->res->params = (long)t->m.nparams;
    t->res->trainable_params = (long)t->m.ntrainable;
    if (t->log)
        fprintf(t->log, "model %s: %zu parameters, %zu trainable (hidden %d, layers %d, heads %d/%d, ffn %d%s); %d "
                "train, %d test examples\n", c->init[0] ? c->init : c->model, t->m.nparams, t->m.ntrainable, mc->dim,
                mc->n_layers, mc->n_heads, mc->n_kv_heads, mc->ffn_dim, t->m.lora.rank ? ", LoRA" : "", t->train.n,
                t->test.n);
    if (run_dir) {
        snprintf(path, sizeof path, "%s/curve.csv", run_dir);
        if (!(t->curve = fopen(path, "w"))) return errf(err, errn, "%s: cannot write: %s", path, strerror(errno));
        fprintf(t->curve, "kind,step,epoch,ntp_loss,jepa_dist,lr,grad_norm,tokens,seconds,");
        for (int j = 0; j < task_nmetrics(t->task); j++) fprintf(t->curve, "acc_%s,", t->task->metrics[j]);
        fprintf(t->curve, DIAG_CSV_HEADER ",jepa_reg\n");
    }
    t->jepa = strcmp(c->loss, "jepa") == 0;
    t->lo = loss_opts(c);
    t->r_stp = rng_stream(c->seed, "stp");
    t->lo.stp_rng = &t->r_stp;
    t->r_reg = rng_stream(c->seed, "sigreg"); /* SIGReg's directions (jepa_reg.h) */
    t->lo.reg.rng = &t->r_reg;
    if (t->lo.reg.kind == JEPA_REG_SIGREG && !t->be->epps_pulley)
        return errf(err, errn, "jepa_reg=sigreg: backend '%s' has no epps_pulley op", t->be->name);
    t->B = c->batch_size < t->train.n ? c->batch_size : t->train.n;
    t->steps_per_epoch = t->B > 0 ? (t->train.n + t->B - 1) / t->B : 0;
    t->T = t->steps_per_epoch * c->epochs;
    if (!(t->order = malloc((size_t)(t->train.n + 1) * sizeof(int)))) return errf(err, errn, "out of memory");
    for (int i = 0; i < t->train.n; i++) t->order[i] = i;
    t->r_order = rng_stream(c->seed, "data_order");
    t->r_ld = rng_stream(c->seed, "ld");
    t->r_drop = rng_stream(c->seed, "lora_dropout");
    /* Test hook: HARNESS_INJECT_NAN_AT_STEP=N makes step N's loss NaN, so the
     * diverged path can be exercised end to end. */
    const char *inject = getenv("HARNESS_INJECT_NAN_AT_STEP");
    t->nan_step = inject && *inject ? atol(inject) : -1;
    return 0;
}

/* The jepa_reg field of curve.csv: the mean R over n batches (sum), empty
 * when the run has no regulariser or no batch carried the views. */
static void reg_field(const Trainer *t, double sum, int n, char *buf, size_t bn) {
    if (t->lo.reg.kind == JEPA_REG_NONE || n == 0) snprintf(buf, bn, "%s", "");
    else snprintf(buf, bn, "%.6f", sum / n);
}

/* A curve.csv row and a log line for the window of steps just finished. */
static void log_window(Trainer *t, int ep, double lr) {
    double el = now_seconds() - t->t_start - t->t_eval, jw = t->win_jn ? t->win_jepa / t->win_jn : 0.0;
    char eta[32], reg[64], regl[80] = "";
    fmt_duration(el / (t->step + 1) * (t->T - t->step - 1), eta, sizeof eta);
    reg_field(t, t->win_reg, t->win_jn, reg, sizeof reg);
    if (reg[0]) snprintf(regl, sizeof regl, "  reg %s", reg);
    if (t->curve) { /* the accuracy and diagnostic fields are empty in step rows */
        fprintf(t->curve, "step,%ld,%d,%.6f,%.6f,%.6g,%.4f,%.0f,%.2f", t->step + 1, ep + 1, t->win_ntp / t->win_n, jw,
                lr, t->win_gn / t->win_n, t->tokens, el);
        for (int i = 0; i < task_nmetrics(t->task) + DIAG_CSV_FIELDS; i++) fputc(',', t->curve);
        fprintf(t->curve, ",%s\n", reg);
    }
    if (t->log)
        fprintf(t->log, "step %ld/%ld  epoch %d  ntp %.4f  jepa %.4f%s  lr %.3g  |g| %.3f  %.0f tok/s  ETA %s\n",
                t->step + 1, t->T, ep + 1, t->win_ntp / t->win_n, jw, regl, lr, t->win_gn / t->win_n,
                t->tokens / fmax(el, 1e-9), eta);
    t->win_ntp = t->win_jepa = t->win_gn = t->win_reg = 0;
    t->win_n = t->win_jn = 0;
}

/* One update on examples order[lo_i .. lo_i+m_ex). Returns 0, 1 when the run
 * diverged (res->message says where), or -1 with err. */
static int train_step(Trainer *t, int ep, int lo_i, int m_ex, char *err, size_t errn) {
    int with_jepa = t->jepa ? rng_uniform(&t->r_ld) >= t->c->ld : 0; /* loss dropout, §4 */
    if (batch_build(&t->b, t->train.ex, t->order + lo_i, m_ex, &t->vo, with_jepa))
        return errf(err, errn, "out of memory (batch)");
    model_zero_grads(&t->m);
    model_set_training(&t->m, 1, rng_u64(&t->r_drop));
    LossOut out;
    if (loss_step(&t->m, &t->b, &t->lo, &t->w, &out, 1))
        return errf(err, errn, "out of memory (activations for %d tokens)", t->b.n);
    if (t->step + 1 == t->nan_step) out.total = NAN;
    double gn = clip_grad_norm(t->be, t->m.grads, t->m.ntrainable, t->c->grad_clip);
    if (!isfinite(out.total) || !isfinite(gn)) {
        snprintf(t->res->message, sizeof t->res->message, "non-finite loss or gradient at step %ld (ntp %g, jepa %g)",
                 t->step, out.ntp, out.jepa);
        if (t->log) fprintf(t->log, "diverged: %s\n", t->res->message);
        return 1;
    }
    double lr = lr_linear_decay(t->c->lr, t->step, t->T);
    adamw_step(&t->opt, model_trainable(&t->m), t->m.grads, lr);
    t->tokens += t->b.n;
    t->win_ntp += out.ntp, t->win_gn += gn, t->win_n++;
    t->ep_ntp += out.ntp, t->ep_n++;
    if (t->b.jepa || t->lo.stp) t->win_jepa += out.jepa, t->win_jn++, t->ep_jepa += out.jepa, t->ep_jn++;
    t->win_reg += out.reg, t->ep_reg += out.reg;
    if ((t->step + 1) % t->c->log_every == 0 || t->step + 1 == t->T) log_window(t, ep, lr);
    return 0;
}

/* The log lines of an evaluated epoch: accuracy, spread (cos/erank) and
 * alignment (matched-minus-mismatched cosine, retrieval against chance). */
static void log_collapse(FILE *log, const Collapse *cl, int ep, const char *accl, int nacc, int ndiag) {
    int p = cl->has_pred;
    fprintf(log, "epoch %d: %s on the first %d test examples; on the first %d, cos/erank: "
            "Enc(Text) %.3f/%.2f  Enc(Code) %.3f/%.2f  Pred %.3f/%.2f\n", ep, accl, nacc, ndiag, cl->enc_text.mean_cos,
            cl->enc_text.erank, cl->enc_code.mean_cos, cl->enc_code.erank, p ? cl->pred.mean_cos : NAN,
            p ? cl->pred.erank : NAN);
    fprintf(log, "epoch %d: matched-mismatched cos: Pred %.5f  Enc(Text) %.5f; Code retrieval top-1/top-5 %%: Pred "
            "%.1f/%.1f  Enc(Text) %.1f/%.1f (chance %.1f/%.1f); cos(mean Pred, <eos> state) %.3f\n", ep,
            p ? cl->pred_gap : NAN, cl->text_gap, p ? cl->pred_top1 : NAN, p ? cl->pred_top5 : NAN, cl->text_top1,
            cl->text_top5, cl->chance_top1, cl->chance_top5, p ? cl->pred_eos_cos : NAN);
}

/* Accuracy on the first epoch_eval_limit test examples after epoch ep, into curve.csv. */
static int epoch_eval(Trainer *t, int ep, char *err, size_t errn) {
    double t0 = now_seconds();
    model_set_training(&t->m, 0, 0);
    EvalResult er;
    int nev = t->c->epoch_eval_limit < t->test.n ? t->c->epoch_eval_limit : t->test.n;
    if (evaluate(&t->m, &t->tok, t->task, &t->env, &t->test, nev, t->vo.include_system, t->c->max_new_tokens, NULL,
                 &er, NULL, NULL, err, errn))
        return -1;
    /* collapse diagnostics on the same examples: Enc for every run, Pred for loss=jepa */
    EncodeOpts eo = encode_opts(t->c);
    eo.vo.tok = &t->tok;
    eo.vo.cache = &t->test_ids;
    Collapse cl;
    char diag[512], reg[64];
    if (diag_collapse(&t->m, t->test.ex, nev, &eo, t->jepa, &cl, err, errn)) return -1;
    diag_collapse_csv(&cl, diag, sizeof diag);
    reg_field(t, t->ep_reg, t->ep_jn, reg, sizeof reg);
    t->t_eval += now_seconds() - t0;
    char accs[256], accl[256];
    csv_metrics(&er, accs, sizeof accs);
    fmt_metrics(&er, accl, sizeof accl);
    if (t->curve)
        fprintf(t->curve, "epoch,%ld,%d,%.6f,%.6f,,,%.0f,%.2f%s,%s,%s\n", t->step, ep + 1,
                t->ep_ntp / fmax(t->ep_n, 1), t->ep_jn ? t->ep_jepa / t->ep_jn : 0.0, t->tokens,
                now_seconds() - t->t_start, accs, diag, reg);
    if (t->log) log_collapse(t->log, &cl, ep + 1, accl, nev, nev);
    return 0;
}

/* Every epoch. Returns 0, 1 (diverged) or -1 with err. */
static int train_epochs(Trainer *t, char *err, size_t errn) {
    const Config *c = t->c;
    t->t_start = now_seconds();
    for (int ep = 0; ep < c->epochs; ep++) {
        rng_shuffle(&t->r_order, t->order, t->train.n);
        t->ep_ntp = t->ep_jepa = t->ep_reg = 0;
        t->ep_n = t->ep_jn = 0;
        for (long s = 0; s < t->steps_per_epoch; s++, t->step++) {
            int lo_i = (int)(s * t->B), m_ex = t->train.n - lo_i < t->B ? t->train.n - lo_i : t->B;
            int rc = train_step(t, ep, lo_i, m_ex, err, errn);
            if (rc) return rc;
        }
        if (c->epoch_eval_limit > 0 && ep + 1 < c->epochs && epoch_eval(t, ep, err, errn)) return -1;
    }
    return 0;
}

/* Step timing at the end of the run: the same examples as an NTP step and as a JEPA step. */
/* Under loss=stp the second timing is the STP step (the NTP batch plus the
 * tube term, fixed spans so the run's "stp" stream is not advanced). */
static int time_steps(Trainer *t) {
    LossOpts to = t->lo;
    if (!to.metric) { to.metric = jepa_metric(t->c->jepa_metric); to.lambda = t->c->lambda; }
    to.stp = 0, to.stp_rng = NULL;
    to.reg.rng = NULL; /* fixed SIGReg directions: the run's "sigreg" stream is not advanced */
    TrainResult *r = t->res;
    if (batch_build(&t->b, t->train.ex, t->order, t->B, &t->vo, 0)) return -1;
    r->ntp_step_ms = time_step(&t->m, &t->b, &to, &t->w);
    to.stp = t->lo.stp;
    if (batch_build(&t->b, t->train.ex, t->order, t->B, &t->vo, !t->lo.stp)) return -1;
    r->jepa_step_ms = time_step(&t->m, &t->b, &to, &t->w);
    r->jepa_ntp_ratio = r->jepa_step_ms / fmax(r->ntp_step_ms, 1e-9);
    return 0;
}

/* Final evaluation over the test split (predictions.jsonl), step timing, checkpoint. */
static int finish(Trainer *t, const char *run_dir, char *err, size_t errn) {
    const Config *c = t->c;
    TrainResult *res = t->res;
    char path[1024];
    FILE *pred = NULL;
    double t0 = now_seconds();
    model_set_training(&t->m, 0, 0);
    if (run_dir) {
        snprintf(path, sizeof path, "%s/predictions.jsonl", run_dir);
        if (!(pred = fopen(path, "w"))) return errf(err, errn, "%s: cannot write: %s", path, strerror(errno));
    }
    EvalResult *er = &res->eval;
    EvalCtx ectx = {t->log, t0};
    int rc = evaluate(&t->m, &t->tok, t->task, &t->env, &t->test, t->test.n, t->vo.include_system, c->max_new_tokens,
                      pred, er, eval_progress, &ectx, err, errn);
    if (pred) fclose(pred);
    if (rc) return -1;
    /* Collapse diagnostics on the examples of the per-epoch rows (the first epoch_eval_limit;
     * all when it is 0), so that every row of curve.csv is measured on the same examples;
     * over the whole split they cost more than the decoding (13 s of a JEPA demo run's eval).
     * harness probe computes them over probe_n examples. */
    int ndiag = c->epoch_eval_limit > 0 && c->epoch_eval_limit < t->test.n ? c->epoch_eval_limit : t->test.n;
    EncodeOpts eo = encode_opts(c);
    eo.vo.tok = &t->tok;
    eo.vo.cache = &t->test_ids;
    Collapse cl;
    char diag[512], reg[64];
    if (diag_collapse(&t->m, t->test.ex, ndiag, &eo, t->jepa, &cl, err, errn)) return -1;
    diag_collapse_csv(&cl, diag, sizeof diag);
    reg_field(t, t->ep_reg, t->ep_jn, reg, sizeof reg);
    res->eval_s = now_seconds() - t0;
    char accs[256], accl[256];
    csv_metrics(er, accs, sizeof accs);
    fmt_metrics(er, accl, sizeof accl);
    if (t->curve)
        fprintf(t->curve, "epoch,%ld,%d,%.6f,%.6f,,,%.0f,%.2f%s,%s,%s\n", t->step, c->epochs, res->ntp_loss,
                res->jepa_dist, t->tokens, now_seconds() - t->t_start, accs, diag, reg);
    if (t->log) log_collapse(t->log, &cl, c->epochs, accl, t->test.n, ndiag);
    if (t->train.n > 0 && time_steps(t)) return errf(err, errn, "out of memory (step timing)");
    if (t->log)
        fprintf(t->log, "done: %s  (%d test examples)  train %.1fs  eval %.1fs  %.0f "
                "tok/s  step ms: ntp %.1f jepa %.1f (x%.2f)\n", accl, er->n, res->train_s,
                res->eval_s, res->train_tok_s, res->ntp_step_ms, res->jepa_step_ms, res->jepa_ntp_ratio);
    res->peak_rss_mb = peak_rss_mb();
    if (run_dir && strcmp(c->checkpoint, "final") == 0) {
        snprintf(path, sizeof path, "%s/checkpoint", run_dir);
        if (checkpoint_save(&t->m, &t->tok, c, path, err, errn)) return -1;
    }
    return 0;
}

int train_run(const Config *c, const char *run_dir, FILE *log, TrainResult *res, char *err, size_t errn) {
    memset(res, 0, sizeof *res);
    snprintf(res->status, sizeof res->status, "failed");
    Trainer t;
    memset(&t, 0, sizeof t);
    t.c = c, t.log = log, t.res = res;
    t.tok = tokenizer_byte();
    int rc = trainer_setup(&t, run_dir, err, errn);
    int diverged = rc ? 0 : train_epochs(&t, err, errn);
    if (diverged < 0) rc = -1;
    if (!rc) {
        res->steps = t.step;
        res->train_s = now_seconds() - t.t_start - t.t_eval;
        res->train_tok_s = t.tokens / fmax(res->train_s, 1e-9);
        res->ntp_loss = t.ep_n ? t.ep_ntp / t.ep_n : 0.0;
        res->jepa_dist = t.ep_jn ? t.ep_jepa / t.ep_jn : 0.0;
        if (diverged) snprintf(res->status, sizeof res->status, "diverged");
        else if (!(rc = finish(&t, run_dir, err, errn))) snprintf(res->status, sizeof res->status, "ok");
    }
    if (t.curve) fclose(t.curve);
    free(t.order);
    batch_free(&t.b);
    loss_work_free(&t.w);
    adamw_free(&t.opt);
    model_free(&t.m);
    dataset_free(&t.train);
    dataset_free(&t.test);
    token_cache_free(&t.train_ids);
    token_cache_free(&t.test_ids);
    tokenizer_free(&t.tok);
    return rc;
}
