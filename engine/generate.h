/* Greedy decoding with a KV cache (ALGORITHM.md §7); evaluation is evaluate.h. */
#ifndef ENGINE_GENERATE_H
#define ENGINE_GENERATE_H

#include "model.h"

/* Greedy-decode m prompts at once. prompts[i] (plen[i] tokens) → out[i]
 * (capacity max_new, without ⟨eos⟩), olen[i] tokens. Stops a sequence at
 * ⟨eos⟩ or after max_new tokens. A prefix that several prompts share is
 * computed once and its keys and values copied (the prompts in token order,
 * each sharing with the one before it; one flat forward per level of
 * nesting), then one decoding step per token for every live sequence. Each
 * prompt's tokens are those of decoding it alone (the CPU backend's rows do
 * not depend on the batch). Returns 0 or -1 (out of memory, max_new < 0, a
 * prompt of length <= 0, or a prompt plus max_new longer than the model's
 * max_pos). */
int generate_greedy(Model *model, const int *const *prompts, const int *plen, int m, int max_new, int eos,
                    int **out, int *olen);

#endif
