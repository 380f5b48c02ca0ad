/* Helpers the benchmarks share. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdlib.h>

static int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of x (n >= 1; x is sorted in place). */
static inline double bench_median(double *x, int n) {
    qsort(x, (size_t)n, sizeof *x, bench_cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

#endif
