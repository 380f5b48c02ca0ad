/* AdamW (PyTorch semantics), the linear schedule, clipping, and the seeded
 * random streams: golden values computed by hand. */
#include <criterion/criterion.h>
#include <math.h>

#include "backend.h"
#include "optim.h"
#include "rng.h"

/* Device copy of host x (n floats) on be. */
static float *dev(Backend *be, const float *x, size_t n) {
    float *d = be->alloc(be, n * sizeof(float));
    be->upload(be, d, x, n * sizeof(float));
    return d;
}

static float get1(Backend *be, const float *d, size_t i) {
    float v;
    be->download(be, &v, d + i, sizeof v);
    return v;
}

/* Golden values on every built backend (the optimizer's arithmetic is backend ops). */
Test(optim, adamw_two_steps_golden) {
    int nb;
    Backend **all = backend_all(&nb);
    for (int k = 0; k < nb; k++) {
        Backend *be = all[k];
        AdamW o;
        cr_assert_eq(adamw_init(&o, be, 2, 0.9, 0.999, 1e-8, 0.01), 0);
        float hp[2] = {1.0f, -2.0f}, hg[2] = {0.5f, 0.0f};
        float *p = dev(be, hp, 2), *g = dev(be, hg, 2);
        adamw_step(&o, p, g, 0.1);
        /* m = 0.05, v = 0.00025; m^ = 0.5, v^ = 0.25; p = 1*(1 - 0.1*0.01) - 0.1*0.5/(0.5+1e-8) */
        cr_expect_float_eq(get1(be, p, 0), 0.899f, 1e-6f, "%s: p0 = %.9g", be->name, get1(be, p, 0));
        cr_expect_float_eq(get1(be, p, 1), -2.0f * 0.999f, 1e-6f, "%s: zero gradient: decay only", be->name);
        hg[0] = -0.25f;
        be->upload(be, g, hg, sizeof hg);
        adamw_step(&o, p, g, 0.05);
        /* m = 0.9*0.05 - 0.025 = 0.02, v = 0.999*0.00025 + 0.001*0.0625 = 0.00031225
           m^ = 0.02/0.19 ; v^ = 0.00031225/0.001999 ; p = 0.899*(1-0.0005) - 0.05*m^/(sqrt(v^)+eps) */
        double mh = 0.02 / 0.19, vh = 0.00031225 / (1 - 0.999 * 0.999);
        double want = 0.899 * (1 - 0.05 * 0.01) - 0.05 * mh / (sqrt(vh) + 1e-8);
        cr_expect_float_eq(get1(be, p, 0), (float)want, 2e-6f, "%s: p0 = %.9g, want %.9g", be->name, get1(be, p, 0),
                           want);
        adamw_free(&o);
        be->free(be, p);
        be->free(be, g);
    }
}

Test(optim, linear_decay_and_clipping) {
    cr_expect_float_eq(lr_linear_decay(1e-3, 0, 100), 1e-3, 1e-15);
    cr_expect_float_eq(lr_linear_decay(1e-3, 50, 100), 5e-4, 1e-15);
    cr_expect_float_eq(lr_linear_decay(1e-3, 99, 100), 1e-5, 1e-15);
    int nb;
    Backend **all = backend_all(&nb);
    for (int k = 0; k < nb; k++) {
        Backend *be = all[k];
        float hg[3] = {3.0f, 4.0f, 0.0f}, hh[2] = {0.3f, 0.4f};
        float *g = dev(be, hg, 3), *h = dev(be, hh, 2);
        double n = clip_grad_norm(be, g, 3, 1.0);
        cr_expect_float_eq(n, 5.0, 1e-9, "%s: returns the norm before clipping", be->name);
        cr_expect_float_eq(grad_norm(be, g, 3), 1.0, 1e-5);
        cr_expect_float_eq(get1(be, g, 0), 0.6f, 1e-5f);
        clip_grad_norm(be, h, 2, 1.0);
        cr_expect_eq(get1(be, h, 0), 0.3f, "%s: below the limit nothing changes", be->name);
        clip_grad_norm(be, g, 3, 0.0);
        cr_expect_float_eq(grad_norm(be, g, 3), 1.0, 1e-5, "0 = off");
        be->free(be, g);
        be->free(be, h);
    }
}

Test(rng, streams_are_seeded_and_independent) {
    Rng a = rng_stream(82, "init"), b = rng_stream(82, "init"), c = rng_stream(82, "data_order"),
        d = rng_stream(23, "init");
    uint64_t x = rng_u64(&a);
    cr_expect_eq(x, rng_u64(&b), "same (seed, name), same stream");
    cr_expect_neq(x, rng_u64(&c), "another name, another stream");
    cr_expect_neq(x, rng_u64(&d), "another seed, another stream");
    /* uniform in [0,1), normal roughly standard, shuffle is a permutation */
    Rng r = rng_stream(1, "t");
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) {
        double u = rng_uniform(&r);
        cr_assert(u >= 0.0 && u < 1.0);
        double z = rng_normal(&r);
        s += z;
        s2 += z * z;
    }
    cr_expect(fabs(s / 100000) < 0.02 && fabs(s2 / 100000 - 1) < 0.03, "normal mean %g var %g", s / 1e5, s2 / 1e5);
    int idx[50], seen[50] = {0};
    for (int i = 0; i < 50; i++) idx[i] = i;
    rng_shuffle(&r, idx, 50);
    int moved = 0;
    for (int i = 0; i < 50; i++) { seen[idx[i]]++; moved += idx[i] != i; }
    for (int i = 0; i < 50; i++) cr_expect_eq(seen[i], 1);
    cr_expect(moved > 25);
}
