/* Byte-level tokenizer (ALGORITHM.md §2). */
#include "tokenizer.h"

#include <string.h>

Tokenizer tokenizer_byte(void) {
    Tokenizer t = {"byte", TOK_VOCAB, TOK_BOS, TOK_EOS, TOK_PAD, TOK_SYSTEM,
                   TOK_USER, TOK_ASSISTANT, TOK_PRED1, TOK_NPRED};
    return t;
}

int tok_encode(const char *s, int *out) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) out[n++] = *p;
    return n;
}

void tok_decode(const int *ids, int n, char *out) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < 256) out[m++] = (char)ids[i];
    out[m] = 0;
}
