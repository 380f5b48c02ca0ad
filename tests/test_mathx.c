/* expf_fast against libm's double exp. */
#include <criterion/criterion.h>
#include <math.h>

#include "mathx.h"

Test(mathx, expf_fast_relative_error) {
    double worst = 0, wx = 0;
    for (int i = 0; i <= 2000000; i++) {
        float x = -87.0f + 175.3f * (float)i / 2000000.0f;
        double ref = exp((double)x), got = expf_fast(x);
        double rel = fabs(got - ref) / ref;
        if (rel > worst) { worst = rel; wx = x; }
    }
    cr_expect_lt(worst, 3e-7, "worst relative error %.3g at x = %.9g", worst, wx);
    cr_expect_eq(expf_fast(0.0f), 1.0f);
    cr_expect(expf_fast(-1000.0f) >= 0.0f && expf_fast(-1000.0f) < 1e-37f, "underflow clamps to ~0");
    cr_expect(isfinite(expf_fast(1000.0f)), "overflow clamps to a finite value");
}
