/* Wall time of t-SNE (analysis/tsne.h) on synthetic clusters or a raw file.
 *
 *   build/bench_tsne [n=2000] [d=128] [iters=1000] [perplexity=30] [theta=0.5]
 *                    [exact_max=5000] [threads=1] [seed=82] [k=10]
 *                    [in=X.f32] [out=Y.f64]
 *
 * Data: `in=` a raw little-endian float32 (n, d) file, else 10 Gaussian
 * clusters (centres N(0, 4² I), points centre + N(0, I), rng stream
 * "bench_tsne" of seed 1). Prints the wall time of the input affinities
 * alone, the wall and CPU (all threads) time of the whole tsne_run, the final
 * KL and the trustworthiness T(k) of the embedding; `out=` writes Y (n, 2) as raw float64 (for
 * tools/tsne_crosscheck.py). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train.h" /* now_seconds */

/* The bench times the t-SNE's internal stages (standardise, affinities,
 * objective), which are static in analysis/, so it compiles those sources
 * into itself rather than linking the analysis library. */
#include "../analysis/tsne.c"
#include "../analysis/tsne_affinity.c"
#include "../analysis/tsne_bh.c"
#include "../analysis/tsne_exact.c"
#include "../analysis/tsne_knn.c"
#include "../analysis/tsne_trust.c"

typedef struct Args {
    int n, d, threads, k;
    TsneOpts o;
    const char *in, *out;
} Args;

static int parse(int argc, char **argv, Args *a) {
    *a = (Args){.n = 2000, .d = 128, .threads = 1, .k = 10, .o = tsne_defaults()};
    for (int i = 1; i < argc; i++) {
        char *v = strchr(argv[i], '=');
        if (!v) return -1;
        *v++ = 0;
        const char *key = argv[i];
        if (!strcmp(key, "n")) a->n = atoi(v);
        else if (!strcmp(key, "d")) a->d = atoi(v);
        else if (!strcmp(key, "threads")) a->threads = atoi(v);
        else if (!strcmp(key, "k")) a->k = atoi(v);
        else if (!strcmp(key, "iters")) a->o.iters = atoi(v);
        else if (!strcmp(key, "perplexity")) a->o.perplexity = atof(v);
        else if (!strcmp(key, "theta")) a->o.theta = atof(v);
        else if (!strcmp(key, "exact_max")) a->o.exact_max = atoi(v);
        else if (!strcmp(key, "seed")) a->o.seed = strtoull(v, NULL, 10);
        else if (!strcmp(key, "in")) a->in = v;
        else if (!strcmp(key, "out")) a->out = v;
        else return -1;
    }
    return a->n >= 2 && a->d >= 1 ? 0 : -1;
}

static float *load_or_make(const Args *a) {
    size_t m = (size_t)a->n * a->d;
    float *X = malloc(m * sizeof *X);
    if (!X) return NULL;
    if (a->in) {
        FILE *f = fopen(a->in, "rb");
        size_t got = f ? fread(X, sizeof *X, m, f) : 0;
        if (f) fclose(f);
        if (got != m) {
            fprintf(stderr, "bench_tsne: %s: expected %zu floats, read %zu\n", a->in, m, got);
            free(X);
            return NULL;
        }
        return X;
    }
    Rng r = rng_stream(1, "bench_tsne");
    double *c = malloc(10 * (size_t)a->d * sizeof *c);
    if (!c) return free(X), NULL;
    for (int k = 0; k < 10 * a->d; k++) c[k] = 4 * rng_normal(&r);
    for (int i = 0; i < a->n; i++)
        for (int j = 0; j < a->d; j++) X[(size_t)i * a->d + j] = (float)(c[(i % 10) * a->d + j] + rng_normal(&r));
    free(c);
    return X;
}

/* Seconds of the input affinities alone (what tsne_run does before its steps). */
static double time_affinities(const float *X, const Args *a) {
    double t0 = now_seconds(), *Xs = standardise(X, a->n, a->d);
    Objective ob;
    int rc = Xs ? objective_init(&ob, Xs, a->n, a->d, &a->o) : -1;
    double t = now_seconds() - t0;
    if (Xs) objective_free(&ob);
    free(Xs);
    return rc == 0 ? t : -1;
}

int main(int argc, char **argv) {
    Args a;
    if (parse(argc, argv, &a) < 0) {
        fprintf(stderr, "usage: bench_tsne [n=] [d=] [iters=] [perplexity=] [theta=] [exact_max=] [threads=] [seed=] "
                        "[k=] [in=X.f32] [out=Y.f64]\n");
        return 2;
    }
    omp_set_num_threads(a.threads);
    float *X = load_or_make(&a);
    double *Y = malloc(2 * (size_t)a.n * sizeof *Y), kl = NAN;
    if (!X || !Y) return 1;
    char err[256];
    double tp = time_affinities(X, &a), t0 = now_seconds();
    clock_t c0 = clock();
    if (tsne_run(X, a.n, a.d, &a.o, Y, &kl, err, sizeof err) < 0) {
        fprintf(stderr, "bench_tsne: %s\n", err);
        return 1;
    }
    double t = now_seconds() - t0, cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    double tr = tsne_trustworthiness(X, a.n, a.d, Y, 2, a.k);
    printf("n=%d d=%d iters=%d %s threads=%d: affinities %.2f s, tsne_run %.2f s (cpu %.2f s), KL %.6f, T(%d) %.6f\n",
           a.n, a.d, a.o.iters, a.n <= a.o.exact_max ? "exact" : "barnes-hut", a.threads, tp, t, cpu, kl, a.k, tr);
    FILE *f = a.out ? fopen(a.out, "wb") : NULL;
    if (a.out && (!f || fwrite(Y, sizeof *Y, 2 * (size_t)a.n, f) != 2 * (size_t)a.n))
        fprintf(stderr, "bench_tsne: cannot write %s\n", a.out);
    if (f) fclose(f);
    free(X);
    free(Y);
    return 0;
}
