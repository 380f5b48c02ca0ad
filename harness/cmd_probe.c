/* harness probe: the paper's probes of one model (analysis/probe.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "probe_run.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: harness probe RUN_DIR|CHECKPOINT_DIR [options] [key=value...]\n"
            "       harness probe --untrained --out DIR [options] [key=value...]\n"
            "  Encodes N examples with the model and writes to DIR (default RUN_DIR/probe, or\n"
            "  CHECKPOINT_DIR/probe): enc_text.npy, enc_code.npy, pred_text.npy ((N, hidden_size) float32),\n"
            "  sv.csv (top-100 singular values of Enc(Text) - Enc(Code) and of Pred(Enc(Text)) - Enc(Code)),\n"
            "  tsne.csv (2-D t-SNE of the 2N points), probe.json (least-squares residual min_W |Enc(Text) W -\n"
            "  Enc(Code)|_F and its rank, the same for Pred(Enc(Text)), the singular values and their mean),\n"
            "  tokens.csv (token counts of each example's user and assistant contents under the model's\n"
            "  tokenizer, and their bytes), and tsne.png/svg, sv.png/svg when gnuplot is installed. The\n"
            "  examples are read through the model's tokenizer (a checkpoint's tokenizer.json, else bytes;\n"
            "  --untrained: tokenizer=PATH or init='s). Paper Table 10, Figures 6 and 7.\n"
            "  --data FILE        jsonl examples (default: the test split of the run's dataset)\n"
            "  -n N               first N examples (default 1000; 0 = all)\n"
            "  --out DIR          where the files go\n"
            "  --perplexity P     t-SNE perplexity (default 30; lowered when 2N points cannot carry it)\n"
            "  --iters I          t-SNE steps (default 1000)\n"
            "  --tsne-seed S      t-SNE initial positions (default: the run's seed)\n"
            "  --no-tsne          skip the t-SNE;  --no-draw: no pictures\n"
            "  --record           RUN_DIR is results/GRID/runs/RUN_ID: append the run's row to\n"
            "                     results/GRID/runs.csv again with the probe columns filled\n"
            "  --untrained        probe the model key=value describes, freshly initialised from its seed\n"
            "                     (or its init= checkpoint): the 'base' row of Table 10\n"
            "  key=value          run config overrides (e.g. threads=2, k=1; not tokenizer= on a checkpoint)\n"
            "Exit 0 ok, 1 error, 2 usage.\n");
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

typedef struct Args {
    const char *target, *data, *out;
    int n, untrained, record, seed_set;
    ProbeOpts po;
    char **set;
    int nset;
} Args;

/* A numeric option's value; -1 when missing or not a number. */
static int num_arg(int argc, char **argv, int *i, double *v) {
    if (*i + 1 >= argc) return -1;
    char *end;
    *v = strtod(argv[++*i], &end);
    return *end || end == argv[*i] ? -1 : 0;
}

static int parse(int argc, char **argv, Args *a) {
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        double v;
        if (!strcmp(s, "--data") || !strcmp(s, "--out")) {
            if (i + 1 >= argc) { fprintf(stderr, "harness probe: %s needs a value\n", s); return 2; }
            *(!strcmp(s, "--data") ? &a->data : &a->out) = argv[++i];
        } else if (!strcmp(s, "-n") || !strcmp(s, "--perplexity") || !strcmp(s, "--iters") || !strcmp(s, "--tsne-seed")) {
            if (num_arg(argc, argv, &i, &v) || v < 0) {
                fprintf(stderr, "harness probe: %s needs a non-negative number\n", s);
                return 2;
            }
            if (!strcmp(s, "-n")) a->n = (int)v;
            else if (!strcmp(s, "--perplexity")) a->po.tsne_o.perplexity = v;
            else if (!strcmp(s, "--iters")) a->po.tsne_o.iters = (int)v;
            else { a->po.tsne_o.seed = (unsigned long long)v; a->seed_set = 1; }
        } else if (!strcmp(s, "--no-tsne")) a->po.tsne = 0;
        else if (!strcmp(s, "--no-draw")) a->po.draw = 0;
        else if (!strcmp(s, "--record")) a->record = 1;
        else if (!strcmp(s, "--untrained")) a->untrained = 1;
        else if (strchr(s, '=') && s[0] != '-') a->set[a->nset++] = argv[i];
        else if (s[0] != '-' && !a->target) a->target = s;
        else { fprintf(stderr, "harness probe: unexpected argument '%s'\n", s); return 2; }
    }
    if (!a->untrained == !a->target) {
        fprintf(stderr, "harness probe: give a RUN_DIR or CHECKPOINT_DIR, or --untrained (see --help)\n");
        return 2;
    }
    if (a->untrained && (!a->out || a->record)) {
        fprintf(stderr, "harness probe: --untrained needs --out DIR and cannot --record\n");
        return 2;
    }
    return 0;
}

/* The checkpoint and default output of the target: a run directory has
 * checkpoint/ inside it. */
static int resolve(const Args *a, char *ckpt, size_t cn, char *out, size_t on) {
    char p[1100];
    snprintf(p, sizeof p, "%s/checkpoint", a->target);
    int run_dir = is_dir(p);
    if (!run_dir && !is_dir(a->target)) {
        fprintf(stderr, "harness probe: %s: not a directory\n", a->target);
        return -1;
    }
    if (a->record && !run_dir) {
        fprintf(stderr, "harness probe: --record needs a run directory (RESULTS/GRID/runs/RUN_ID with checkpoint/)\n");
        return -1;
    }
    snprintf(ckpt, cn, "%s", run_dir ? p : a->target);
    if (a->out) snprintf(out, on, "%s", a->out);
    else snprintf(out, on, "%s/probe", a->target);
    return 0;
}

static void print_result(const ProbeResult *r, const char *out) {
    printf("probe: %d examples, hidden size %d -> %s\n", r->n, r->d, out);
    printf("  Enc(Text) - Enc(Code): mean top-%d singular value %.6g; least squares residual %.6g (rank %d)\n",
           r->nsv, r->sv_mean, r->lsq_resid, r->lsq_rank);
    printf("  Pred(Enc(Text)) - Enc(Code): mean top-%d singular value %.6g; least squares residual %.6g (rank %d)\n",
           r->nsv, r->pred_sv_mean, r->pred_lsq_resid, r->pred_lsq_rank);
}

int cmd_probe(int argc, char **argv) {
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) { usage(stdout); return 0; }
    Args a = {0};
    a.n = 1000;
    a.po = probe_defaults();
    a.set = calloc((size_t)argc + 1, sizeof *a.set);
    int rc = a.set ? parse(argc, argv, &a) : 1;
    char ckpt[1200], out[1200], err[1024], warn[512];
    if (rc == 0 && !a.untrained && resolve(&a, ckpt, sizeof ckpt, out, sizeof out)) rc = 1;
    if (rc == 0 && a.untrained) snprintf(out, sizeof out, "%s", a.out);
    Config c;
    config_defaults(&c);
    if (rc == 0) {
        for (int i = 0; i < a.nset && rc == 0; i++)
            if (config_set_kv(&c, a.set[i], err, sizeof err)) { fprintf(stderr, "harness probe: %s\n", err); rc = 2; }
    }
    ProbeResult r;
    if (rc == 0) {
        ProbeTarget t = {a.untrained ? NULL : ckpt, a.data, a.n, out, !a.seed_set};
        rc = probe_target(&t, &c, a.set, a.nset, &a.po, stderr, &r, warn, sizeof warn, err, sizeof err) ? 1 : 0;
        if (rc) fprintf(stderr, "harness probe: %s\n", err);
    }
    if (rc == 0) {
        if (warn[0]) fprintf(stderr, "harness probe: note: %s\n", warn);
        print_result(&r, out);
        if (a.record && probe_record(a.target, &r, err, sizeof err)) {
            fprintf(stderr, "harness probe: %s\n", err);
            rc = 1;
        } else if (a.record) {
            printf("  recorded in the run's runs.csv row\n");
        }
    }
    free(a.set);
    return rc;
}
