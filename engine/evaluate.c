/* Evaluation under a task: greedy decoding + scorer, or choice scoring. */
#include "evaluate.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "choice.h"
#include "errmsg.h"
#include "generate.h"
#include "tokenizer.h"

#define EVAL_CHUNK 64   /* prompts per generate_greedy call */
#define EVAL_BLOCK 4096 /* examples tokenized and sorted at once */

double eval_acc(const EvalResult *r, const char *name) {
    for (int j = 0; j < r->nmetric; j++)
        if (r->task && !strcmp(r->task->metrics[j], name)) return r->acc[j];
    return NAN;
}

/* Copy of s without leading/trailing white space (NULL: out of memory). */
static char *strip(const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) n--;
    char *r = malloc(n + 1);
    if (r) { memcpy(r, s, n); r[n] = 0; }
    return r;
}

/* One predictions.jsonl line. */
static void write_prediction(FILE *pred, const Task *t, const Example *e, const char *tgt, const char *gen,
                             const int *correct, const char *note) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "prompt", e->user);
    cJSON_AddStringToObject(o, "target", tgt);
    cJSON_AddStringToObject(o, "generated", gen);
    for (int j = 0; j < task_nmetrics(t); j++) {
        if (correct[j] < 0) cJSON_AddNullToObject(o, t->metrics[j]); /* not scored */
        else cJSON_AddBoolToObject(o, t->metrics[j], correct[j]);
    }
    if (note && *note) cJSON_AddStringToObject(o, "note", note);
    char *js = cJSON_PrintUnformatted(o);
    if (js) fprintf(pred, "%s\n", js);
    free(js);
    cJSON_Delete(o);
}

/* Score generated text gen_raw of example e into res (and pred). 0 or -1 with err. */
static int score_one(const Task *t, const TaskEnv *env, const Example *e, const char *gen_raw, FILE *pred,
                     EvalResult *res, char *err, size_t errn) {
    char *gen = strip(gen_raw), *tgt = strip(e->assistant), note[256];
    int correct[TASK_MAX_METRICS] = {0}, und = 0, rc = -1;
    if (!gen || !tgt) { errf(err, errn, "out of memory"); goto done; }
    if (task_score(t, env, e, gen, correct, &und, note, sizeof note, err, errn)) goto done;
    for (int j = 0; j < res->nmetric; j++) {
        if (correct[j] < 0) res->unscored[j] = 1;
        else res->correct[j] += correct[j];
    }
    res->undecided += und;
    if (pred) write_prediction(pred, t, e, tgt, gen, correct, note);
    rc = 0;
done:
    free(gen); free(tgt);
    return rc;
}

/* The text of ids (n of them) under tok into *raw (reallocated). 0 or -1 (out of memory). */
static int decode(const Tokenizer *tok, const int *ids, int n, char **raw) {
    size_t len = tokenizer_decode(tok, ids, (size_t)n, NULL, 0);
    free(*raw);
    if (!(*raw = malloc(len + 1))) return -1;
    tokenizer_decode(tok, ids, (size_t)n, *raw, len + 1);
    return 0;
}

/* One tokenized prompt of a block: ids (len), index in the block. */
typedef struct EvalPrompt {
    int *ids;
    int len, i;
} EvalPrompt;

/* Lexicographic order of token sequences (a prefix first), ties by index. */
static int by_prompt(const void *pa, const void *pb) {
    const EvalPrompt *a = pa, *b = pb;
    int n = a->len < b->len ? a->len : b->len;
    for (int t = 0; t < n; t++)
        if (a->ids[t] != b->ids[t]) return a->ids[t] < b->ids[t] ? -1 : 1;
    if (a->len != b->len) return a->len < b->len ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* Buffers of one block of EVAL_BLOCK examples. */
typedef struct EvalBlock {
    EvalPrompt *p;  /* tokenized prompts, then sorted */
    int **out, *olen; /* by block index: generated ids (max_new + 1), count */
} EvalBlock;

/* Tokenize the prompts of examples [s, s + m) into bl->p (by block index). 0 or -1 with err. */
static int tokenize_block(const Dataset *d, int s, int m, const ViewOpts *vo, EvalBlock *bl, char *err, size_t errn) {
    for (int i = 0; i < m; i++) {
        const Example *e = &d->ex[s + i];
        int cap = view_prompt_length(e, vo);
        free(bl->p[i].ids);
        bl->p[i] = (EvalPrompt){NULL, 0, i};
        if (cap < 0) return errf(err, errn, "%s:%d: the prompt cannot be tokenized", d->path, e->line);
        if (!(bl->p[i].ids = malloc((size_t)(cap + 1) * sizeof(int)))) return errf(err, errn, "out of memory");
        if ((bl->p[i].len = view_prompt(e, vo, bl->p[i].ids, cap + 1)) < 0)
            return errf(err, errn, "%s:%d: the prompt cannot be tokenized", d->path, e->line);
    }
    return 0;
}

/* Greedy decoding of the m prompts of bl in lexicographic order, EVAL_CHUNK
 * at a time, so that each chunk holds prompts with long common prefixes
 * (generate_greedy computes a shared prefix once); outputs by block index.
 * done0: examples already done before this block, for progress. 0 or -1. */
static int generate_block(Model *model, const Tokenizer *tok, EvalBlock *bl, int m, int max_new, int done0, int n,
                          EvalProgress progress, void *ctx, char *err, size_t errn) {
    const int *pr[EVAL_CHUNK];
    int pl[EVAL_CHUNK], *ob[EVAL_CHUNK], ol[EVAL_CHUNK];
    qsort(bl->p, (size_t)m, sizeof *bl->p, by_prompt);
    for (int s = 0; s < m; s += EVAL_CHUNK) {
        int c = m - s < EVAL_CHUNK ? m - s : EVAL_CHUNK;
        for (int k = 0; k < c; k++) {
            const EvalPrompt *p = &bl->p[s + k];
            pr[k] = p->ids, pl[k] = p->len, ob[k] = bl->out[p->i];
        }
        if (generate_greedy(model, pr, pl, c, max_new, tok->eos, ob, ol))
            return errf(err, errn, "greedy decoding failed (out of memory, or a prompt plus max_new_tokens longer "
                        "than max_position_embeddings %d)", model->cfg.max_pos);
        for (int k = 0; k < c; k++) bl->olen[bl->p[s + k].i] = ol[k];
        if (progress) progress(done0 + s + c, n, ctx);
    }
    return 0;
}

/* TASK_GENERATE over examples [0, n), in blocks of EVAL_BLOCK: decoded,
 * then scored in example order. */
static int eval_generate(Model *model, const Tokenizer *tok, const Task *t, const TaskEnv *env, const Dataset *d,
                         int n, int include_system, int max_new, FILE *pred, EvalResult *res, EvalProgress progress,
                         void *ctx, char *err, size_t errn) {
    if (n <= 0) return 0;
    int nb = n < EVAL_BLOCK ? n : EVAL_BLOCK, rc = 0;
    EvalBlock bl = {calloc((size_t)nb, sizeof *bl.p), calloc((size_t)nb, sizeof *bl.out),
                    calloc((size_t)nb, sizeof(int))};
    char *raw = NULL;
    ViewOpts vo = {.include_system = include_system, .tok = tok};
    if (!bl.p || !bl.out || !bl.olen) rc = errf(err, errn, "out of memory");
    for (int i = 0; i < nb && !rc; i++)
        if (!(bl.out[i] = malloc((size_t)(max_new + 1) * sizeof(int)))) rc = errf(err, errn, "out of memory");
    for (int s = 0; s < n && rc == 0; s += EVAL_BLOCK) {
        int m = n - s < EVAL_BLOCK ? n - s : EVAL_BLOCK;
        if (tokenize_block(d, s, m, &vo, &bl, err, errn) ||
            generate_block(model, tok, &bl, m, max_new, s, n, progress, ctx, err, errn)) {
            rc = -1;
            break;
        }
        for (int i = 0; i < m && !rc; i++) {
            if (decode(tok, bl.out[i], bl.olen[i], &raw)) {
                rc = errf(err, errn, "out of memory");
                break;
            }
            rc = score_one(t, env, &d->ex[s + i], raw, pred, res, err, errn);
            if (!rc) res->n++;
        }
    }
    free(raw);
    for (int i = 0; i < nb; i++) {
        if (bl.p) free(bl.p[i].ids);
        if (bl.out) free(bl.out[i]);
    }
    free(bl.p); free(bl.out); free(bl.olen);
    return rc;
}

/* TASK_CHOICE over examples [0, n). */
static int eval_choice(Model *model, const Tokenizer *tok, const Task *t, const Dataset *d, int n, int include_system,
                       FILE *pred, EvalResult *res, EvalProgress progress, void *ctx, char *err, size_t errn) {
    ChoiceWork cw = {0};
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        const Example *e = &d->ex[i];
        char *context = NULL, *endings[TASK_MAX_CHOICES];
        int nend = 0, gold = 0, best = 0;
        if (task_choices(t, e, &context, endings, &nend, &gold, err, errn)) { rc = -1; break; }
        rc = choice_pick(model, tok, e->system, context, (const char *const *)endings, nend, include_system, &cw,
                         &best, NULL, err, errn);
        if (!rc) {
            int correct[TASK_MAX_METRICS] = {best == gold};
            res->correct[0] += correct[0];
            char gen[2] = {(char)('A' + best), 0}, tgt[2] = {(char)('A' + gold), 0};
            if (pred) write_prediction(pred, t, e, tgt, gen, correct, NULL);
        }
        task_choices_free(context, endings, nend);
        res->n++;
        if (progress && (res->n % EVAL_CHUNK == 0 || res->n == n)) progress(res->n, n, ctx);
    }
    choice_work_free(&cw);
    return rc;
}

int evaluate(Model *model, const Tokenizer *tok, const Task *t, const TaskEnv *env, const Dataset *d, int n,
             int include_system, int max_new, FILE *pred, EvalResult *res, EvalProgress progress, void *ctx, char *err,
             size_t errn) {
    memset(res, 0, sizeof *res);
    if (!tok) tok = tokenizer_byte_shared();
    res->task = t;
    res->nmetric = task_nmetrics(t);
    if (n <= 0 || n > d->n) n = d->n;
    int rc = t->eval == TASK_CHOICE
                 ? eval_choice(model, tok, t, d, n, include_system, pred, res, progress, ctx, err, errn)
                 : eval_generate(model, tok, t, env, d, n, include_system, max_new, pred, res, progress, ctx, err, errn);
    for (int j = 0; j < res->nmetric && res->n > 0; j++)
        res->acc[j] = res->unscored[j] ? NAN : 100.0 * res->correct[j] / res->n;
    return rc;
}
