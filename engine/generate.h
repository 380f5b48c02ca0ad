/* Greedy decoding with a KV cache, and accuracy (ALGORITHM.md §7). */
#ifndef ENGINE_GENERATE_H
#define ENGINE_GENERATE_H

#include <stdio.h>

#include "data.h"
#include "model.h"

/* Greedy-decode m prompts at once. prompts[i] (plen[i] tokens) → out[i]
 * (capacity max_new, without ⟨eos⟩), olen[i] tokens. Stops a sequence at
 * ⟨eos⟩ or after max_new tokens. Returns 0 or -1 (out of memory, or a prompt
 * longer than the model's max_pos). */
int generate_greedy(Model *model, const int *const *prompts, const int *plen, int m, int max_new, int eos,
                    int **out, int *olen);

typedef struct EvalResult {
    int n, exact, startswith;   /* counts over the evaluated examples */
    double acc_exact, acc_startswith; /* percent */
} EvalResult;

/* Progress callback: done of total examples. */
typedef void (*EvalProgress)(int done, int total, void *ctx);

/* Evaluate on the first n examples of d: prompt of §2, greedy decoding,
 * output and target stripped of surrounding white space; exact: equal,
 * startswith: output begins with target. If pred is non-NULL, one JSON line
 * per example {prompt, target, generated, exact, startswith}. 0 or -1. */
int evaluate(Model *model, const Dataset *d, int n, int include_system, int max_new, FILE *pred,
             EvalResult *res, EvalProgress progress, void *ctx);

#endif
