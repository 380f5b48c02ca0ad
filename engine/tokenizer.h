/* The tokenizer of a run (ALGORITHM.md §2): one interface over the
 * byte-level tokenizer and byte-level BPE tokenizers (engine/bpe.h, Hugging
 * Face tokenizer.json), with the special tokens and the chat template the
 * views are laid out with (engine/batch.h).
 *
 * Kinds (config key `tokenizer`, tokenizer_spec):
 *   byte    ids 0..255 are the bytes; then bos, eos, pad, system, user,
 *           assistant and TOK_NPRED distinct [PRED] tokens pred_1 ..
 *           pred_TOK_NPRED (the TOK_* ids below): 278 ids.
 *   bpe     a tokenizer.json: trained on the run's train split (bpe:N,
 *           tokenizer_train), read from a file (tokenizer_load), or the one
 *           an init checkpoint carries (checkpoint.h).
 *
 * Chat templates (a table in tokenizer_bpe.c; the views are ⟨bos⟩, ⟨eos⟩,
 * the [PRED] tokens and five framing sequences around S, U and A):
 *   engine  ⟨bos⟩ [⟨system⟩ S] ⟨user⟩ U ⟨assistant⟩ A ⟨eos⟩, single special
 *           tokens; under BPE their contents are <|bos|>, <|eos|>, <|pad|>,
 *           <|system|>, <|user|>, <|assistant|>, <|pred_1|> .. <|pred_16|>.
 *   llama3  chosen when the tokenizer has the special token
 *           <|start_header_id|>: Llama-3.1's template with a fixed date,
 *             <|begin_of_text|>[<|start_header_id|>system<|end_header_id|>\n\n
 *             Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024
 *             \n\n{S}<|eot_id|>]<|start_header_id|>user<|end_header_id|>\n\n
 *             {U}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n
 *             {A}<|eot_id|>
 *           ⟨bos⟩ = <|begin_of_text|>, ⟨eos⟩ = <|eot_id|> (generation stops
 *           there), pad = <|finetune_right_pad_id|> (else ⟨eos⟩), pred_i =
 *           <|reserved_special_token_{i-1}|>.
 * Special tokens a tokenizer.json lacks (the engine template's, or pred
 * tokens without the reserved ones) are appended as special added tokens
 * after its vocabulary, as Hugging Face's add_special_tokens does; the model's
 * rows for them start as the mean of the existing rows (checkpoint.h).
 *
 * Text: the content S, U, A is encoded on its own, special-token text in it
 * staying text (BPE_SPECIAL_AS_TEXT: a data set cannot forge a turn
 * boundary), and the framing sequences are encoded with their special
 * tokens. The ids equal the tokenization of the rendered chat text whenever
 * the pre-tokenizer splits at the content's edges: always for the engine
 * template (special tokens on both sides), and for llama3 unless a content
 * begins with a line break (the "\n\n" before it would join it). Llama-3.1's
 * template also trims the contents; the engine does not.
 *
 * A Tokenizer is immutable once made: encode and decode may run from many
 * threads at once. */
#ifndef ENGINE_TOKENIZER_H
#define ENGINE_TOKENIZER_H

#include <stddef.h>

#include "bpe.h"

#define TOK_NPRED 16   /* [PRED] tokens of every tokenizer (config key k is at most this) */
#define TOK_SEQ_MAX 128 /* ids of one framing sequence */
#define TOK_MAX_MERGES 1000000 /* the largest N of bpe:N */

/* The byte tokenizer's ids (tokenizer_byte): for tests and benchmarks that
 * build byte-tokenizer models; engine code reads the ids from a Tokenizer. */
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

typedef enum { TOKENIZER_BYTE, TOKENIZER_BPE } TokenizerKind;

/* A framing sequence of the chat template. */
typedef struct TokSeq {
    int n;
    int id[TOK_SEQ_MAX];
} TokSeq;

typedef struct Tokenizer {
    TokenizerKind kind;
    const char *chat;             /* chat template: "engine" or "llama3" */
    Bpe *bpe;                     /* TOKENIZER_BPE: the vocabulary (owned: tokenizer_free) */
    int vocab_size;               /* 1 + the largest id: the rows of an embedding */
    int bos, eos, pad;            /* ⟨bos⟩ starts every sequence; ⟨eos⟩ ends A and the views, and stops generation */
    int system, user, assistant;  /* the engine template's role tokens; -1 under llama3 */
    int npred;                    /* TOK_NPRED */
    int pred[TOK_NPRED];          /* pred[i-1] = id of pred_i */
    /* NTP sequence: ⟨bos⟩ [system_open S system_close] user_open U user_close assistant_open A ⟨eos⟩
     * Text view:    ⟨bos⟩ user_open U [PRED]s ⟨eos⟩;  Code view: ⟨bos⟩ assistant_open A ⟨eos⟩ */
    TokSeq system_open, system_close, user_open, user_close, assistant_open;
    int n_appended;               /* special tokens appended to the file's vocabulary (the last ids) */
    char sha256[65];              /* SHA-256 of the tokenizer.json read by tokenizer_load; "" otherwise */
} Tokenizer;

/* The byte tokenizer (ids above; chat template engine). */
Tokenizer tokenizer_byte(void);

/* The same, shared and immutable: what a NULL tokenizer stands for. */
const Tokenizer *tokenizer_byte_shared(void);

/* "byte" or "bpe". */
const char *tokenizer_kind_name(const Tokenizer *t);

/* Id of pred_i, i in 1..t->npred. */
static inline int tok_pred(const Tokenizer *t, int i) { return t->pred[i - 1]; }

/* What a `tokenizer` config value names. */
typedef enum { TOKSPEC_BYTE, TOKSPEC_TRAIN, TOKSPEC_FILE } TokSpec;

/* Parse a `tokenizer` config value: "byte"; "bpe:N" (N decimal digits, at
 * most TOK_MAX_MERGES: train N merges, *merges = N); any other non-empty
 * text is the path of a tokenizer.json. Returns the kind, or -1 with err:
 * empty, or "bpe:" not followed by such an N. */
int tokenizer_spec(const char *value, int *merges, char *err, size_t errn);

/* Token ids of the len bytes at text, content only (no ⟨bos⟩; special-token
 * text is plain text): bytes for the byte tokenizer, bpe_encode with
 * BPE_SPECIAL_AS_TEXT for BPE. Writes the first min(count, cap) ids (ids may
 * be NULL when cap is 0) and returns count, at most tokenizer_encode_bound.
 * Returns -1 with err: a text longer than INT_MAX / 2 - 64 bytes, a PCRE2
 * matching error, out of memory. */
int tokenizer_encode(const Tokenizer *t, const char *text, size_t len, int *ids, size_t cap, char *err, size_t errn);

/* An upper bound of tokenizer_encode's count for len bytes. */
size_t tokenizer_encode_bound(const Tokenizer *t, size_t len);

/* The bytes of n ids, special tokens skipped (the byte tokenizer: ids
 * 0..255 are bytes, every other id is skipped; BPE: bpe_decode with
 * BPE_SKIP_SPECIAL | BPE_RAW_BYTES, so the bytes are kept as decoded, valid
 * UTF-8 or not). Writes at most cap - 1 bytes and a NUL (when cap > 0) and
 * returns the length of the whole text, as snprintf: a BPE token decodes to
 * several bytes, so size out from a first call with cap 0. */
size_t tokenizer_decode(const Tokenizer *t, const int *ids, size_t n, char *out, size_t cap);

/* A BPE tokenizer from the tokenizer.json at path (bpe_load; a file of at
 * most 64 MiB), the chat template chosen as above, missing special tokens
 * appended; t->sha256 = the file's SHA-256. note (may be NULL) gets a line
 * for the log naming what was appended. Returns 0, or -1 with err naming the
 * file: bpe_load's errors, a llama3 tokenizer without <|begin_of_text|>,
 * <|end_header_id|> or <|eot_id|>, a framing sequence of more than
 * TOK_SEQ_MAX ids. Free with tokenizer_free. */
int tokenizer_load(const char *path, Tokenizer *t, char *note, size_t notn, char *err, size_t errn);

/* A byte-level BPE trained on n NUL-terminated texts: bpe_train with
 * n_merges merges, Llama-3's pre-tokenizer regex and ignore_merges, and the
 * engine template's special tokens added after the vocabulary (ids 256 +
 * merges made + i, in the order bos, eos, pad, system, user, assistant,
 * pred_1 .. pred_16; <|bos|> is the post-processor's prefix). Deterministic:
 * the same texts give the same tokenizer. Returns 0, or -1 with err
 * (bpe_train's errors). Free with tokenizer_free. */
int tokenizer_train(const char *const *texts, size_t n, int n_merges, Tokenizer *t, char *err, size_t errn);

/* Write t's tokenizer.json to path (bpe_save), with every special token it
 * uses, so that tokenizer_load(path) gives the same ids. Returns 0, or -1
 * with err: the byte tokenizer (it has no tokenizer.json), bpe_save's errors. */
int tokenizer_save(const Tokenizer *t, const char *path, char *err, size_t errn);

/* Free what t owns and make it the byte tokenizer. Safe on tokenizer_byte(). */
void tokenizer_free(Tokenizer *t);

#endif
