/* Choice scoring (HellaSwag, ALGORITHM.md §7): pick the ending a model finds
 * most likely after a context, by length-normalised log-probability. */
#ifndef ENGINE_CHOICE_H
#define ENGINE_CHOICE_H

#include <stddef.h>

#include "batch.h"
#include "loss.h"
#include "model.h"

/* Reusable buffers of choice_pick. Zero-initialise; free with choice_work_free. */
typedef struct ChoiceWork {
    Batch b;
    LossWork *w;
} ChoiceWork;

/* For each ending i of nend (1..8), the mean over the ending's tokens of
 * −log p(token | everything before it) in the NTP sequence of ALGORITHM.md §2
 * under tokenizer tok (NULL: the byte tokenizer; batch.h for the layout)
 * with S = system (only with include_system), U = context and A = ending_i
 * (⟨eos⟩ not counted: the ending is scored, not where the model would stop);
 * *best = the ending with the smallest mean (the first on ties; an empty
 * ending scores +inf). nll (may be NULL) gets the nend means (nats/token).
 * The whole sequence is scored, never truncated: one longer than the
 * model's max_position_embeddings is an error. All endings run as one
 * batch of the model's training forward in evaluation mode (the model is
 * left in evaluation mode). Returns 0, or -1 with err (too long, a
 * tokenizer error, out of memory). Source: length-normalised log-likelihood choice scoring as in
 * the HellaSwag paper's LM baselines (Zellers et al. 2019); the paper's
 * reference truncated prompts to 128 tokens, which we do not copy. */
int choice_pick(Model *m, const Tokenizer *tok, const char *system, const char *context, const char *const *endings,
                int nend, int include_system, ChoiceWork *cw, int *best, double *nll, char *err, size_t errn);

void choice_work_free(ChoiceWork *cw);

#endif
