/* Finite-difference gradient checking shared by the tests. */
#ifndef TESTS_FD_H
#define TESTS_FD_H

#include <math.h>
#include <stddef.h>
#include <stdio.h>

/* Central differences of f over the coordinates idx[0..m) of x (perturbed in
 * place and restored). Returns the worst error ratio
 * |analytic - numeric| / (atol + rtol * max(|analytic|, |numeric|)):
 * <= 1 passes. Prints the worst coordinate. */
static inline double fd_check(double (*f)(void *), void *ctx, float *x, const float *analytic, const size_t *idx,
                              int m, double eps, double rtol, double atol, const char *what) {
    double worst = 0;
    size_t wi = 0;
    double wa = 0, wn = 0;
    for (int k = 0; k < m; k++) {
        size_t i = idx[k];
        float old = x[i];
        x[i] = (float)(old + eps);
        double fp = f(ctx);
        x[i] = (float)(old - eps);
        double fm = f(ctx);
        x[i] = old;
        double num = (fp - fm) / (2 * eps), an = analytic[i];
        double r = fabs(an - num) / (atol + rtol * fmax(fabs(an), fabs(num)));
        if (r > worst) { worst = r; wi = i; wa = an; wn = num; }
    }
    if (worst > 1) fprintf(stderr, "%s: worst at %zu analytic %.6g numeric %.6g (ratio %.3g)\n", what, wi, wa, wn, worst);
    return worst;
}

typedef double (*FdLossFn)(void *);

/* Σ a·b in double. */
static inline double fd_dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Central difference of f at x[i] with step h, using the steps actually
 * representable in float. */
static inline double fd_central(FdLossFn f, void *ctx, float *x, size_t i, double h) {
    float old = x[i], xp = (float)(old + h), xm = (float)(old - h);
    x[i] = xp;
    double fp = f(ctx);
    x[i] = xm;
    double fm = f(ctx);
    x[i] = old;
    return (fp - fm) / ((double)xp - (double)xm);
}

/* Richardson: (4 D(h/2) − D(h)) / 3 cancels the h² term of the error. */
static inline double fd_richardson(FdLossFn f, void *ctx, float *x, size_t i, double h) {
    return (4.0 * fd_central(f, ctx, x, i, h / 2) - fd_central(f, ctx, x, i, h)) / 3.0;
}

#endif
