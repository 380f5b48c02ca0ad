/* Byte-level BPE tokenizers in Hugging Face's tokenizer.json format (the
 * GPT-2, Llama-3 and Qwen2 kind): load, encode and decode exactly as the
 * `tokenizers` library (0.23) does, train a small one, and save it.
 *
 * What a tokenizer.json may hold (anything else is refused with a message):
 *   model            "type": "BPE"; "vocab" {token: id}; "merges" as
 *                    ["a b", ...] or [["a", "b"], ...]; ignore_merges;
 *                    unk_token (null or a vocab token) with fuse_unk;
 *                    dropout null or 0; byte_fallback false;
 *                    continuing_subword_prefix and end_of_word_suffix null
 *                    or "".
 *   added_tokens     [{id, content, special, normalized, single_word,
 *                    lstrip, rstrip}] with single_word, lstrip and rstrip
 *                    false; each id must be the one tokenizers assigns (the
 *                    vocab id of the content, else the next id after the
 *                    vocabulary and the earlier added tokens).
 *   normalizer       null.
 *   pre_tokenizer    {"type": "ByteLevel", ...} or {"type": "Sequence",
 *                    "pretokenizers": [Split..., ByteLevel]}: Split with
 *                    {"Regex": ...} or {"String": ...}, behavior "Isolated",
 *                    invert false; ByteLevel last, with add_prefix_space and
 *                    use_regex (GPT-2's pattern) as given.
 *   post_processor   null, ByteLevel, TemplateProcessing (its "single"
 *                    template: special tokens before and after one $A), or
 *                    a Sequence of those.
 *   decoder          ByteLevel.
 *   truncation, padding   null.
 *
 * Regexes run on PCRE2 (UTF, UCP), tokenizers' on Oniguruma. \s and \S are
 * rewritten to Oniguruma's set (Unicode White_Space; PCRE2 10.42 also counts
 * U+180E), after which the two agree on every code point for \s, and for
 * \p{L} and \p{N} on all but the characters assigned after Unicode 14
 * (PCRE2 10.42's tables; tokenizers 0.23's Oniguruma knows Unicode 16):
 * 9272 letters (CJK Extensions H and I, Egyptian Hieroglyphs Extended-A,
 * ...) and 120 digits are not letters or digits here. Text need not be
 * valid UTF-8: bytes outside a valid sequence match no regex item and so
 * form pre-tokens of their own (tokenizers takes only valid UTF-8).
 *
 * A Bpe is immutable once built: encode and decode may run from many
 * threads at once. */
#ifndef ENGINE_BPE_H
#define ENGINE_BPE_H

#include <stddef.h>

typedef struct Bpe Bpe;

#define BPE_MAX_ID (1 << 22) /* ids lie in [0, BPE_MAX_ID): 4 Mi, far above any real vocabulary */

/* The Split regex of Llama-3 (and of bpe_train by default). */
#define BPE_PATTERN_LLAMA3                                                              \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}" \
    "\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* The regex of the ByteLevel pre-tokenizer with use_regex true (GPT-2). */
#define BPE_PATTERN_GPT2 \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/* Flags of bpe_encode. */
#define BPE_ADD_SPECIAL 1     /* add the post-processor's tokens (add_special_tokens=True) */
#define BPE_SPECIAL_AS_TEXT 2 /* special added tokens in the text are plain text
                                 (tokenizers' encode_special_tokens=True) */
/* Flags of bpe_decode. */
#define BPE_SKIP_SPECIAL 1    /* drop special added tokens (skip_special_tokens=True) */
#define BPE_RAW_BYTES 2       /* keep the bytes as decoded, even when not valid UTF-8 */

/* Read the tokenizer.json at path. Returns 0 with *out (free with
 * bpe_free), or -1 with *out NULL and a message naming the file and the key
 * in err: the file cannot be read or is not JSON (see hf_json_read), a key
 * of the wrong type, model.type not "BPE", a vocab id that is not an
 * integer in [0, BPE_MAX_ID) or given to two tokens, a merge that is not
 * "a b" or ["a", "b"] or names a token (or makes a token a+b) that is not
 * in the vocab, a token that is not valid UTF-8, an added token with empty
 * or repeated content, an id other than tokenizers would give it or one the
 * vocab gives to another token, an unsupported option (list above), a
 * regex PCRE2 refuses, a template naming an unknown id, or out of memory. */
int bpe_load(const char *path, Bpe **out, char *err, size_t errn);

/* bpe_load from the len bytes of JSON at json; name stands for the file in
 * messages. Same returns and errors. */
int bpe_load_json(const char *json, size_t len, const char *name, Bpe **out, char *err, size_t errn);

/* Free b (NULL is fine). */
void bpe_free(Bpe *b);

/* Token ids of the len bytes at text, as tokenizers' encode(text,
 * add_special_tokens=flags & BPE_ADD_SPECIAL).ids: (1) added tokens are
 * cut out of the text (leftmost-longest; first those with normalized false,
 * then, in the rest, those with normalized true; special ones skipped under
 * BPE_SPECIAL_AS_TEXT); (2) each remaining piece is split by each Split
 * regex in turn (matches and the text between them are pieces), then by the
 * ByteLevel step (a space prepended under add_prefix_space, GPT-2's regex
 * under use_regex); (3) each piece's bytes become byte symbols: the whole
 * piece's id when ignore_merges and the vocab holds it, else the symbols
 * merged lowest rank first, leftmost first among equal ranks (bytes without
 * a symbol: unk_id, runs of them fused under fuse_unk, or dropped without
 * one); (4) under BPE_ADD_SPECIAL the template's ids go before and after.
 * Writes the first min(count, cap) ids to ids (which may be NULL when cap is
 * 0) and returns count, which never exceeds bpe_encode_bound(b, len).
 * Returns -1 with err: len above INT_MAX / 2 - 64, a PCRE2 matching error,
 * or out of memory. */
int bpe_encode(const Bpe *b, const char *text, size_t len, int flags, int *ids, size_t cap,
               char *err, size_t errn);

/* An upper bound of the ids bpe_encode gives for len bytes: len (2 len
 * under add_prefix_space, which may add a space to every piece) plus the
 * template's ids. */
size_t bpe_encode_bound(const Bpe *b, size_t len);

/* The text of n ids as tokenizers' decode(ids, skip_special_tokens): each
 * id's token (an added token's content, else the vocab token; ids with
 * neither are skipped, as are special tokens under BPE_SKIP_SPECIAL) goes
 * through the ByteLevel decoder (a token all of whose characters are byte
 * symbols gives those bytes, any other token its own UTF-8), and the
 * concatenation has each maximal invalid UTF-8 subpart replaced by U+FFFD
 * (Rust's String::from_utf8_lossy) unless BPE_RAW_BYTES. Writes at most
 * cap - 1 bytes and a NUL to out (when cap > 0) and returns the length of
 * the whole text, as snprintf does. */
size_t bpe_decode(const Bpe *b, const int *ids, size_t n, int flags, char *out, size_t cap);

/* 1 + the largest id (vocab and added tokens): the rows of an embedding. */
int bpe_vocab_size(const Bpe *b);

/* Id of the token whose text is s[0..len): an added token's content first,
 * then a vocab token (byte symbols, "Ġhello"); -1 when none (tokenizers'
 * token_to_id). */
int bpe_token_id(const Bpe *b, const char *s, size_t len);

/* The token of id (tokenizers' id_to_token: an added token's content, else
 * the vocab token) with its length in *len (may be NULL); NULL when no token
 * has that id. Valid while b lives. */
const char *bpe_token(const Bpe *b, int id, size_t *len);

/* 1 when id is a special added token, else 0. */
int bpe_is_special(const Bpe *b, int id);

/* The ids BPE_ADD_SPECIAL puts before (*prefix, *n_prefix) and after
 * (*suffix, *n_suffix) a text: Llama-3's template gives the single prefix
 * <|begin_of_text|>. Pointers valid while b lives; any output may be NULL. */
void bpe_template(const Bpe *b, const int **prefix, int *n_prefix, const int **suffix, int *n_suffix);

/* Number of merges, and merge `rank` (0 = applied first) as token ids
 * a + c -> *made. Returns 0, or -1 when rank is out of range. */
int bpe_n_merges(const Bpe *b);
int bpe_merge(const Bpe *b, int rank, int *a, int *c, int *made);

/* What bpe_train builds. */
typedef struct BpeTrainOpts {
    int n_merges;               /* merges wanted: training stops when the vocab
                                   holds 256 + n_merges tokens (or no pair is
                                   left, or the best occurs < min_frequency) */
    long min_frequency;         /* 0: merge while any pair occurs */
    const char *const *special; /* special tokens (non-empty, distinct) */
    int n_special;              /*   given ids 256 + merges made + i */
    int bos;                    /* index in special prepended by BPE_ADD_SPECIAL; -1: none */
    int gpt2;                   /* 1: ByteLevel pre-tokenizer with GPT-2's regex;
                                   0: Split(pattern, Isolated) then ByteLevel */
    const char *pattern;        /* gpt2 0: the Split regex; NULL: BPE_PATTERN_LLAMA3 */
    int ignore_merges;          /* model.ignore_merges of the result (Llama-3: 1) */
} BpeTrainOpts;

/* Llama-3's layout: 1000 merges, no special tokens, bos -1, Llama-3 regex,
 * ignore_merges 1. */
void bpe_train_defaults(BpeTrainOpts *o);

/* Train a byte-level BPE on n texts (texts[i] of lens[i] bytes; lens NULL:
 * NUL-terminated) as tokenizers' BpeTrainer(vocab_size = 256 + n_merges,
 * min_frequency, initial_alphabet = the 256 byte symbols, no special
 * tokens) followed by add_special_tokens(special): the pre-tokens of every
 * text (the pre-tokenizer of o, special tokens in the text NOT cut out, as
 * the trainer does) are counted; ids 0..255 are the byte symbols sorted by
 * code point; then, repeatedly, the adjacent pair of symbols with the
 * largest count (pre-token frequency times occurrences) is merged into a new
 * token (a token already in the vocab keeps its id), ties going to the pair
 * with the smallest (first id, second id), and merged in every pre-token,
 * left to right. The vocab and merges are tokenizers' (checked on
 * tests/fixtures/bpe/corpus.jsonl by test_bpe; also on data/synth_train,
 * data/turk_train and 128 MB of Python source, 49744 merges); they can
 * differ only after a merge that rebuilds an existing token, where
 * tokenizers' queue may merge the pair in two rounds. Special tokens get
 * the ids after the vocabulary, in order (Llama-3's layout; one equal to a
 * vocab token takes that token's id, as in tokenizers), are special and
 * not normalized. Returns 0 with *out, or -1 with err:
 * n_merges outside [0, BPE_MAX_ID - 8192], more than 4096 special tokens,
 * an empty or repeated one, a bos that is not -1 or one of them, a
 * regex PCRE2 refuses, a PCRE2 matching error, or out of memory. */
int bpe_train(const char *const *texts, const size_t *lens, size_t n, const BpeTrainOpts *o, Bpe **out,
              char *err, size_t errn);

/* Write b as a tokenizer.json that bpe_load and tokenizers both read and
 * that encodes as b does (atomically: path.tmp, then renamed). Returns 0 or
 * -1 with err naming the file (cannot write, out of memory). */
int bpe_save(const Bpe *b, const char *path, char *err, size_t errn);

#endif
