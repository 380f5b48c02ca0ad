/* Greedy decoding with a KV cache (ALGORITHM.md §7); evaluation is evaluate.h. */
#ifndef ENGINE_GENERATE_H
#define ENGINE_GENERATE_H

#include "model.h"

/* Greedy-decode m prompts at once. prompts[i] (plen[i] tokens) → out[i]
 * (capacity max_new, without ⟨eos⟩), olen[i] tokens. Stops a sequence at
 * ⟨eos⟩ or after max_new tokens. Returns 0 or -1 (out of memory, or a prompt
 * longer than the model's max_pos). */
int generate_greedy(Model *model, const int *const *prompts, const int *plen, int m, int max_new, int eos,
                    int **out, int *olen);

#endif
