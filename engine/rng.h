/* Seeded, independent random streams (ALGORITHM.md §6).
 *
 * A stream is derived from (run seed, stream name) by hashing, so adding a
 * stream never shifts another. Generator: xoshiro256** seeded by splitmix64. */
#ifndef ENGINE_RNG_H
#define ENGINE_RNG_H

#include <stdint.h>

typedef struct Rng { uint64_t s[4]; } Rng;

/* Stream `name` of run seed `seed` (e.g. "init", "data_order", "ld"). */
Rng rng_stream(uint64_t seed, const char *name);
uint64_t rng_u64(Rng *r);
/* Uniform in [0, 1). */
double rng_uniform(Rng *r);
/* Standard normal (Box-Muller, one value per call). */
double rng_normal(Rng *r);
/* Uniform integer in [0, n). */
uint32_t rng_below(Rng *r, uint32_t n);
/* In-place Fisher-Yates shuffle of idx[0..n). */
void rng_shuffle(Rng *r, int *idx, int n);

#endif
