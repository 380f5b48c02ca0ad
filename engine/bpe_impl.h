/* Internals of the byte-level BPE tokenizer (bpe.h) shared by bpe.c,
 * bpe_load.c, bpe_encode.c, bpe_train.c and bpe_save.c. Not part of the
 * engine's interface. */
#ifndef ENGINE_BPE_IMPL_H
#define ENGINE_BPE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "bpe.h"

/* ------------------------------------------------------------ hash tables */

/* Strings (any bytes, owned copies) to long values, by insertion index. */
typedef struct StrTab {
    char **key;     /* [n] NUL-terminated copies */
    int *klen;      /* [n] */
    long *val;      /* [n] */
    int n, cap;
    int *slot;      /* [nslot] entry index + 1; 0 = empty */
    size_t nslot;   /* power of two, > 2 n */
} StrTab;

/* Index of s[0..n) in t, or -1. */
int strtab_find(const StrTab *t, const char *s, size_t n);
/* Index of s[0..n) in t, added with value v when absent (*added = 1 then).
 * Returns the index, or -1 when out of memory. */
int strtab_add(StrTab *t, const char *s, size_t n, long v, int *added);
void strtab_free(StrTab *t);

/* Pairs of ids (a, b), both in [0, 2^31), to int values. */
typedef struct PairTab {
    uint64_t *key;  /* [nslot] (a << 32 | b), PAIR_EMPTY when free */
    int *val;       /* [nslot] */
    size_t nslot, n;
} PairTab;
#define PAIR_EMPTY UINT64_MAX

/* Value of (a, b) or -1. */
int pairtab_get(const PairTab *t, int a, int b);
/* Pointer to the value of (a, b), inserted as v when absent; NULL when out
 * of memory. */
int *pairtab_put(PairTab *t, int a, int b, int v);
void pairtab_free(PairTab *t);

/* ------------------------------------------------------------- the model */

typedef struct BpeAdded {   /* one entry of tokenizer.json "added_tokens" */
    char *content;
    int len, id;
    int special, normalized;
} BpeAdded;

enum { BPE_STEP_SPLIT, BPE_STEP_BYTELEVEL };
#define BPE_MAX_STEPS 8

typedef struct BpeStep {    /* one pre-tokenizer */
    int kind;
    char *pattern;          /* SPLIT: the regex (or literal string); BYTELEVEL: NULL */
    int literal;            /* SPLIT: pattern was {"String": ...} */
    int add_prefix_space, use_regex, trim_offsets; /* BYTELEVEL */
    pcre2_code *re;         /* SPLIT: pattern; BYTELEVEL with use_regex: GPT-2's */
} BpeStep;

struct Bpe {
    /* model */
    StrTab vocab;           /* token string (byte symbols) -> id */
    int n_merges;
    int *merge;             /* [3 n_merges]: a, b, new id, by rank */
    PairTab rank;           /* (a, b) -> rank (a repeated pair: the last) */
    int ignore_merges, fuse_unk;
    int unk_id;             /* -1: none */
    /* added tokens, in file order */
    BpeAdded *added;
    int n_added;
    /* pre-tokenizer: steps[0..n_steps), BYTELEVEL last */
    BpeStep step[BPE_MAX_STEPS];
    int n_steps, pre_sequence;
    /* post-processor */
    int *prefix, *suffix;   /* ids added around a sequence by BPE_ADD_SPECIAL */
    int n_prefix, n_suffix;
    char *post_json;        /* the post_processor as read (NULL: null) */
    /* derived by bpe_finish */
    int n_ids;              /* 1 + the largest id */
    int *vocab_of;          /* [n_ids] vocab entry of the id, -1 */
    int *added_of;          /* [n_ids] added token of the id, -1 */
    size_t *dec_off;        /* [n_ids + 1] the ByteLevel decoding of id i is */
    char *dec;              /*   dec[dec_off[i] .. dec_off[i + 1]) */
    int byte_sym[256];      /* id of the symbol of each byte, -1 */
    int *by_first;          /* [n_added] added tokens by (normalized, first */
    int first_off[2][257];  /*   byte, longest first): pass p, byte c at
                                 by_first[first_off[p][c] .. first_off[p][c + 1]) */
};

/* GPT-2's bytes_to_unicode: the code point (< 324) of byte v. */
int bpe_byte_cp(int v);
/* The byte whose code point is cp, or -1. */
int bpe_cp_byte(unsigned cp);
/* The UTF-8 of the symbol of byte v into out (2 bytes at most); its length. */
int bpe_byte_utf8(int v, char *out);

/* Length of the valid UTF-8 sequence at s[0..n) (n > 0), or 0 when s does not
 * start with one; its code point into *cp. */
int bpe_utf8_next(const unsigned char *s, size_t n, unsigned *cp);

/* Compile a pre-tokenizer pattern (PCRE2, UTF + UCP + invalid UTF allowed,
 * JIT when available). NULL with a message (naming what, the PCRE2 error
 * and offset) in err on failure. */
pcre2_code *bpe_regex(const char *pattern, int literal, const char *what, char *err, size_t errn);

/* Everything derived from the model, added tokens and steps: n_ids, the id
 * tables, the decodings and the byte symbols; checks that ids are unique and
 * that the template ids exist. Returns 0 or -1 with err (prefixed by name). */
int bpe_finish(Bpe *b, const char *name, char *err, size_t errn);

/* Call fn(ctx, piece, length) on each pre-token of text[0..len) under b's
 * pre-tokenizer steps (raw bytes; no added-token splitting). Returns 0, the
 * first non-zero return of fn, or -1 with err (a PCRE2 error, out of memory). */
int bpe_pretokenize(const Bpe *b, const char *text, size_t len, int (*fn)(void *, const char *, size_t), void *ctx,
                    char *err, size_t errn);

/* A zeroed Bpe (unk_id -1); NULL when out of memory. */
Bpe *bpe_alloc(void);

/* The id tokenizers gives added token `content` next: the vocab id of its
 * content, or the next id after the vocabulary and the added tokens
 * added[0..n_added) (AddedVocabulary::add_tokens). */
int bpe_next_added_id(const Bpe *b, const char *content, size_t len);

#endif
