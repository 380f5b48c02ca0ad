/* Training a byte-level BPE as tokenizers' BpeTrainer does (see bpe_train
 * in bpe.h): count pre-tokens, then merge the most frequent adjacent pair
 * until the vocabulary is full. */
#include "bpe_impl.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "errmsg.h"

typedef struct IntList { int *v; int n, cap; } IntList;

typedef struct Entry { long count; int a, b, p; } Entry; /* a heap entry of pair p */

typedef struct Trainer {
    StrTab words;           /* pre-token bytes -> count */
    int **ws, *wn;          /* [nw] symbols of each word and their number */
    int *stamp;             /* [nw] last step that merged in the word */
    StrTab toks;            /* token bytes -> id (entry index = id) */
    PairTab pidx;           /* (a, b) -> pair index */
    int np, pcap;
    int *pa, *pb, *ptouch;  /* [np] the pair, last step it gained */
    long *cnt;              /* [np] occurrences weighted by word counts */
    IntList *occ;           /* [np] words where the pair was seen (superset) */
    IntList touched;        /* pairs that gained in this step */
    Entry *heap;            /* max-heap: count, then smallest (a, b) */
    size_t nheap, hcap;
    int *merge, nm, mcap;   /* [3 nm] a, b, made */
    int step;
} Trainer;

static int list_add(IntList *l, int v) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 4;
        int *r = realloc(l->v, (size_t)cap * sizeof *r);
        if (!r) return -1;
        l->v = r, l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

/* ------------------------------------------------------------------ heap */

static int entry_before(const Entry *x, const Entry *y) {
    if (x->count != y->count) return x->count > y->count;
    return x->a != y->a ? x->a < y->a : x->b < y->b;
}

static int heap_push(Trainer *t, Entry e) {
    if (t->nheap == t->hcap) {
        size_t cap = t->hcap ? 2 * t->hcap : 1024;
        Entry *h = realloc(t->heap, cap * sizeof *h);
        if (!h) return -1;
        t->heap = h, t->hcap = cap;
    }
    size_t i = t->nheap++;
    while (i && entry_before(&e, &t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = e;
    return 0;
}

static Entry heap_pop(Trainer *t) {
    Entry top = t->heap[0], last = t->heap[--t->nheap];
    size_t i = 0, n = t->nheap;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const Entry *best = &last;
        if (l < n && entry_before(&t->heap[l], best)) m = l, best = &t->heap[l];
        if (l + 1 < n && entry_before(&t->heap[l + 1], best)) m = l + 1;
        if (m == i) break;
        t->heap[i] = t->heap[m];
        i = m;
    }
    if (n) t->heap[i] = last;
    return top;
}

/* ----------------------------------------------------------------- pairs */

/* Index of pair (a, b), created with count 0; -1 when out of memory. */
static int pair_index(Trainer *t, int a, int b) {
    int *v = pairtab_put(&t->pidx, a, b, t->np);
    if (!v) return -1;
    if (*v < t->np) return *v;
    if (t->np == t->pcap) {
        int cap = t->pcap ? 2 * t->pcap : 1024;
        int *pa = realloc(t->pa, (size_t)cap * sizeof *pa);
        if (pa) t->pa = pa;
        int *pb = realloc(t->pb, (size_t)cap * sizeof *pb);
        if (pb) t->pb = pb;
        int *pt = realloc(t->ptouch, (size_t)cap * sizeof *pt);
        if (pt) t->ptouch = pt;
        long *c = realloc(t->cnt, (size_t)cap * sizeof *c);
        if (c) t->cnt = c;
        IntList *o = realloc(t->occ, (size_t)cap * sizeof *o);
        if (o) t->occ = o;
        if (!pa || !pb || !pt || !c || !o) return -1;
        t->pcap = cap;
    }
    int p = t->np++;
    t->pa[p] = a, t->pb[p] = b, t->ptouch[p] = -1, t->cnt[p] = 0;
    t->occ[p] = (IntList){0};
    return p;
}

/* The count of pair (x, y) changes by delta occurrences in word w. */
static int change(Trainer *t, int x, int y, int delta, int w) {
    int p = pair_index(t, x, y);
    if (p < 0) return -1;
    t->cnt[p] += delta * t->words.val[w];
    if (delta < 0) return 0;
    if (t->occ[p].n == 0 || t->occ[p].v[t->occ[p].n - 1] != w)
        if (list_add(&t->occ[p], w)) return -1;
    if (t->ptouch[p] != t->step) {
        t->ptouch[p] = t->step;
        if (list_add(&t->touched, p)) return -1;
    }
    return 0;
}

/* Word::merge: every (a, b) of word w, left to right, becomes made. */
static int merge_word(Trainer *t, int w, int a, int b, int made) {
    int *s = t->ws[w];
    for (int i = 0; i < t->wn[w]; i++) {
        if (s[i] != a || i + 1 >= t->wn[w] || s[i + 1] != b) continue;
        if (i > 0 && (change(t, s[i - 1], a, -1, w) || change(t, s[i - 1], made, 1, w))) return -1;
        s[i] = made;
        memmove(s + i + 1, s + i + 2, (size_t)(t->wn[w] - i - 2) * sizeof *s);
        t->wn[w]--;
        if (i + 1 < t->wn[w] && (change(t, b, s[i + 1], -1, w) || change(t, made, s[i + 1], 1, w))) return -1;
    }
    return 0;
}

/* -------------------------------------------------------------- counting */

static int count_piece(void *ctx, const char *s, size_t n) {
    Trainer *t = ctx;
    int added, e = strtab_add(&t->words, s, n, 1, &added);
    if (e < 0) return 1; /* out of memory */
    if (!added) t->words.val[e]++;
    return 0;
}

static int by_code_point(const void *x, const void *y) {
    return bpe_byte_cp(*(const unsigned char *)x) - bpe_byte_cp(*(const unsigned char *)y);
}

/* Ids 0..255: the byte symbols in code point order; words as those ids;
 * the initial pair counts, all queued. */
static int init_words(Trainer *t) {
    unsigned char order[256];
    int byte_id[256];
    for (int v = 0; v < 256; v++) order[v] = (unsigned char)v;
    qsort(order, 256, 1, by_code_point);
    for (int i = 0; i < 256; i++) {
        if (strtab_add(&t->toks, (const char *)&order[i], 1, i, NULL) != i) return -1;
        byte_id[order[i]] = i;
    }
    int nw = t->words.n;
    if (!(t->ws = calloc((size_t)nw + 1, sizeof *t->ws)) || !(t->wn = calloc((size_t)nw + 1, sizeof *t->wn)) ||
        !(t->stamp = calloc((size_t)nw + 1, sizeof *t->stamp)))
        return -1;
    for (int w = 0; w < nw; w++) {
        int n = t->words.klen[w];
        if (!(t->ws[w] = malloc((size_t)n * sizeof **t->ws))) return -1;
        for (int i = 0; i < n; i++) t->ws[w][i] = byte_id[(unsigned char)t->words.key[w][i]];
        t->wn[w] = n;
        t->stamp[w] = -1;
        for (int i = 0; i + 1 < n; i++)
            if (change(t, t->ws[w][i], t->ws[w][i + 1], 1, w)) return -1;
    }
    for (int i = 0; i < t->touched.n; i++) {
        int p = t->touched.v[i];
        if (t->cnt[p] > 0 && heap_push(t, (Entry){t->cnt[p], t->pa[p], t->pb[p], p})) return -1;
    }
    t->touched.n = 0;
    return 0;
}

/* ----------------------------------------------------------------- merges */

/* Id of the token a + b (the existing one if any). */
static int make_token(Trainer *t, int a, int b) {
    int na = t->toks.klen[a], nb = t->toks.klen[b];
    char *s = malloc((size_t)na + (size_t)nb);
    if (!s) return -1;
    memcpy(s, t->toks.key[a], (size_t)na);
    memcpy(s + na, t->toks.key[b], (size_t)nb);
    int id = strtab_add(&t->toks, s, (size_t)na + (size_t)nb, t->toks.n, NULL);
    free(s);
    return id;
}

static int apply_merge(Trainer *t, int p, int made) {
    int a = t->pa[p], b = t->pb[p];
    if (t->nm == t->mcap) {
        int cap = t->mcap ? 2 * t->mcap : 256;
        int *m = realloc(t->merge, (size_t)cap * 3 * sizeof *m);
        if (!m) return -1;
        t->merge = m, t->mcap = cap;
    }
    t->merge[3 * t->nm] = a, t->merge[3 * t->nm + 1] = b, t->merge[3 * t->nm + 2] = made;
    t->nm++;
    t->step++;
    for (int i = 0; i < t->occ[p].n; i++) {
        int w = t->occ[p].v[i];
        if (t->stamp[w] == t->step) continue;
        t->stamp[w] = t->step;
        if (merge_word(t, w, a, b, made)) return -1;
    }
    for (int i = 0; i < t->touched.n; i++) {
        int q = t->touched.v[i];
        if (t->cnt[q] > 0 && heap_push(t, (Entry){t->cnt[q], t->pa[q], t->pb[q], q})) return -1;
    }
    t->touched.n = 0;
    return 0;
}

/* The merge loop of BpeTrainer::do_train with its lazy queue: an entry
 * whose count is out of date goes back with the current count. */
static int run_merges(Trainer *t, const BpeTrainOpts *o) {
    long floor = o->min_frequency > 1 ? o->min_frequency : 1;
    while (t->toks.n < 256 + o->n_merges && t->nheap) {
        Entry e = heap_pop(t);
        if (e.count != t->cnt[e.p]) {
            e.count = t->cnt[e.p];
            if (e.count > 0 && heap_push(t, e)) return -1;
            continue;
        }
        if (e.count < floor) break;
        int made = make_token(t, e.a, e.b);
        if (made < 0 || apply_merge(t, e.p, made)) return -1;
    }
    return 0;
}

static void trainer_free(Trainer *t) {
    for (int w = 0; t->ws && w < t->words.n; w++) free(t->ws[w]);
    free(t->ws);
    free(t->wn);
    free(t->stamp);
    strtab_free(&t->words);
    strtab_free(&t->toks);
    pairtab_free(&t->pidx);
    for (int p = 0; p < t->np; p++) free(t->occ[p].v);
    free(t->occ);
    free(t->pa);
    free(t->pb);
    free(t->ptouch);
    free(t->cnt);
    free(t->touched.v);
    free(t->heap);
    free(t->merge);
}

/* ------------------------------------------------------------ the result */

static int set_steps(Bpe *b, const BpeTrainOpts *o, char *err, size_t errn) {
    if (!o->gpt2) {
        BpeStep *s = &b->step[b->n_steps++];
        s->kind = BPE_STEP_SPLIT;
        if (!(s->pattern = strdup(o->pattern ? o->pattern : BPE_PATTERN_LLAMA3)))
            return errf(err, errn, "bpe_train: out of memory");
        if (!(s->re = bpe_regex(s->pattern, 0, "bpe_train: pattern", err, errn))) return -1;
        b->pre_sequence = 1;
    }
    BpeStep *s = &b->step[b->n_steps++];
    s->kind = BPE_STEP_BYTELEVEL;
    s->use_regex = o->gpt2, s->trim_offsets = 1;
    if (o->gpt2 && !(s->re = bpe_regex(BPE_PATTERN_GPT2, 0, "bpe_train: GPT-2 pattern", err, errn))) return -1;
    return 0;
}

/* Vocab (byte symbols) and merges of t into b. */
static int set_model(Bpe *b, const Trainer *t) {
    for (int id = 0; id < t->toks.n; id++) {
        int n = t->toks.klen[id], m = 0;
        char *s = malloc(2 * (size_t)n);
        if (!s) return -1;
        for (int i = 0; i < n; i++) m += bpe_byte_utf8((unsigned char)t->toks.key[id][i], s + m);
        int e = strtab_add(&b->vocab, s, (size_t)m, id, NULL);
        free(s);
        if (e < 0) return -1;
    }
    if (t->nm && !(b->merge = malloc((size_t)t->nm * 3 * sizeof *b->merge))) return -1;
    if (t->nm) memcpy(b->merge, t->merge, (size_t)t->nm * 3 * sizeof *b->merge);
    b->n_merges = t->nm;
    for (int r = 0; r < t->nm; r++) {
        int *v = pairtab_put(&b->rank, t->merge[3 * r], t->merge[3 * r + 1], r);
        if (!v) return -1;
        *v = r;
    }
    return 0;
}

/* The TemplateProcessing "<bos> $A" (pair "<bos> $A <bos> $B:1") as JSON. */
static char *template_json(const char *bos, int id) {
    char *out = NULL;
    cJSON *j = cJSON_CreateObject(), *single = cJSON_CreateArray(), *pair = cJSON_CreateArray();
    cJSON_AddStringToObject(j, "type", "TemplateProcessing");
    for (int i = 0; i < 4; i++) {
        cJSON *item = cJSON_CreateObject(), *in = cJSON_CreateObject();
        cJSON_AddStringToObject(in, "id", i % 2 == 0 ? bos : i == 1 ? "A" : "B");
        cJSON_AddNumberToObject(in, "type_id", i == 3);
        cJSON_AddItemToObject(item, i % 2 == 0 ? "SpecialToken" : "Sequence", in);
        if (i < 2) cJSON_AddItemToArray(single, cJSON_Duplicate(item, 1));
        cJSON_AddItemToArray(pair, item);
    }
    cJSON_AddItemToObject(j, "single", single);
    cJSON_AddItemToObject(j, "pair", pair);
    cJSON *sp = cJSON_AddObjectToObject(j, "special_tokens"), *e = cJSON_AddObjectToObject(sp, bos);
    cJSON_AddStringToObject(e, "id", bos);
    cJSON *ids = cJSON_AddArrayToObject(e, "ids"), *toks = cJSON_AddArrayToObject(e, "tokens");
    cJSON_AddItemToArray(ids, cJSON_CreateNumber(id));
    cJSON_AddItemToArray(toks, cJSON_CreateString(bos));
    out = cJSON_PrintUnformatted(j); /* NULL when any allocation above failed */
    cJSON_Delete(j);
    return out;
}

static int set_specials(Bpe *b, const BpeTrainOpts *o, char *err, size_t errn) {
    if (o->n_special && !(b->added = calloc((size_t)o->n_special, sizeof *b->added)))
        return errf(err, errn, "bpe_train: out of memory");
    for (int i = 0; i < o->n_special; i++) {
        const char *s = o->special[i];
        size_t n = strlen(s);
        for (int k = 0; k < b->n_added; k++)
            if (!strcmp(b->added[k].content, s)) return errf(err, errn, "bpe_train: special token \"%s\" twice", s);
        BpeAdded a = {strdup(s), (int)n, bpe_next_added_id(b, s, n), 1, 0};
        if (!a.content) return errf(err, errn, "bpe_train: out of memory");
        b->added[b->n_added++] = a;
    }
    if (o->bos < 0) return 0;
    if (!(b->prefix = malloc(sizeof *b->prefix)) ||
        !(b->post_json = template_json(o->special[o->bos], b->added[o->bos].id)))
        return errf(err, errn, "bpe_train: out of memory");
    b->prefix[0] = b->added[o->bos].id;
    b->n_prefix = 1;
    return 0;
}

static int check_opts(const BpeTrainOpts *o, char *err, size_t errn) {
    if (o->n_merges < 0 || o->n_merges > BPE_MAX_ID - 8192)
        return errf(err, errn, "bpe_train: n_merges %d is outside [0, %d]", o->n_merges, BPE_MAX_ID - 8192);
    if (o->n_special < 0 || o->n_special > 4096 || (o->n_special && !o->special))
        return errf(err, errn, "bpe_train: bad special token list");
    for (int i = 0; i < o->n_special; i++)
        if (!o->special[i] || !o->special[i][0]) return errf(err, errn, "bpe_train: special token %d is empty", i);
    if (o->bos < -1 || o->bos >= o->n_special)
        return errf(err, errn, "bpe_train: bos %d is not -1 or an index in the %d special tokens", o->bos,
                    o->n_special);
    return 0;
}

void bpe_train_defaults(BpeTrainOpts *o) {
    memset(o, 0, sizeof *o);
    o->n_merges = 1000;
    o->bos = -1;
    o->ignore_merges = 1;
}

static int count_texts(Trainer *t, const Bpe *b, const char *const *texts, const size_t *lens, size_t n, char *err,
                       size_t errn) {
    for (size_t i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(texts[i]);
        int rc = bpe_pretokenize(b, texts[i], len, count_piece, t, err, errn);
        if (rc > 0) return errf(err, errn, "bpe_train: out of memory");
        if (rc) return -1;
    }
    return 0;
}

int bpe_train(const char *const *texts, const size_t *lens, size_t n, const BpeTrainOpts *o, Bpe **out, char *err,
              size_t errn) {
    *out = NULL;
    if (check_opts(o, err, errn)) return -1;
    Bpe *b = bpe_alloc();
    Trainer t;
    memset(&t, 0, sizeof t);
    int rc = -1;
    if (!b) return errf(err, errn, "bpe_train: out of memory");
    if (set_steps(b, o, err, errn) || count_texts(&t, b, texts, lens, n, err, errn)) goto done;
    if (init_words(&t) || run_merges(&t, o) || set_model(b, &t)) {
        errf(err, errn, "bpe_train: out of memory");
        goto done;
    }
    b->ignore_merges = o->ignore_merges;
    if (set_specials(b, o, err, errn) || bpe_finish(b, "bpe_train", err, errn)) goto done;
    *out = b;
    b = NULL;
    rc = 0;
done:
    trainer_free(&t);
    bpe_free(b);
    return rc;
}
