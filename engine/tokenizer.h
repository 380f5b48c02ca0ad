/* Byte-level tokenizer with the special tokens of ALGORITHM.md §2.
 *
 * Ids 0..255 are the bytes; then bos, eos, pad, system, user, assistant and
 * TOK_NPRED distinct [PRED] tokens pred_1 .. pred_TOK_NPRED. */
#ifndef ENGINE_TOKENIZER_H
#define ENGINE_TOKENIZER_H

#define TOK_NPRED 16

enum {
    TOK_BOS = 256,
    TOK_EOS,
    TOK_PAD,
    TOK_SYSTEM,
    TOK_USER,
    TOK_ASSISTANT,
    TOK_PRED1, /* pred_i = TOK_PRED1 + i - 1 */
    TOK_VOCAB = TOK_PRED1 + TOK_NPRED
};

typedef struct Tokenizer {
    const char *kind; /* "byte" */
    int vocab_size;
    int bos, eos, pad, system, user, assistant, pred1, npred;
} Tokenizer;

/* The byte-level tokenizer. */
Tokenizer tokenizer_byte(void);

/* Append the bytes of s as token ids to out; returns the count. */
int tok_encode(const char *s, int *out);

/* Id of pred_i, i in 1..npred. */
static inline int tok_pred(const Tokenizer *t, int i) { return t->pred1 + i - 1; }

/* Decode ids to bytes (special tokens are skipped); out must hold n+1 bytes. */
void tok_decode(const int *ids, int n, char *out);

#endif
