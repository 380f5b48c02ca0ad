/* SHA-256 of files and checkpoint directories, and their cache. See hash.h. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "hash.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "errmsg.h"

#define MAX_DEPTH 32 /* directory levels below a checkpoint (a link loop stops here) */

static void to_hex(const unsigned char *md, char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = 0;
}

int sha256_bytes(const void *data, size_t n, char hex[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    hex[0] = 0;
    if (!EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) || len != 32) return -1;
    to_hex(md, hex);
    return 0;
}

int sha256_file(const char *path, char hex[65], char *err, size_t errn) {
    hex[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return errf(err, errn, "cannot open %s: %s", path, strerror(errno));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char *buf = malloc(1 << 16);
    int rc = -1;
    if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        errf(err, errn, "cannot hash %s: out of memory or libcrypto failure", path);
        goto done;
    }
    size_t got;
    while ((got = fread(buf, 1, 1 << 16, f)) > 0)
        if (!EVP_DigestUpdate(ctx, buf, got)) {
            errf(err, errn, "cannot hash %s: libcrypto failure", path);
            goto done;
        }
    if (ferror(f)) {
        errf(err, errn, "cannot read %s: %s", path, strerror(errno ? errno : EIO));
        goto done;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_DigestFinal_ex(ctx, md, &len) || len != 32) {
        errf(err, errn, "cannot hash %s: libcrypto failure", path);
        goto done;
    }
    to_hex(md, hex);
    rc = 0;
done:
    EVP_MD_CTX_free(ctx);
    free(buf);
    fclose(f);
    return rc;
}

/* ---- checkpoint directories ---- */

typedef struct {
    char **rel; /* relative names of the hashed files */
    int n, cap;
} Names;

static int counts(const char *name) {
    size_t l = strlen(name);
    return (l > 5 && !strcmp(name + l - 5, ".json")) || (l > 12 && !strcmp(name + l - 12, ".safetensors"));
}

static int names_add(Names *ns, const char *rel) {
    if (ns->n == ns->cap) {
        int nc = ns->cap ? ns->cap * 2 : 16;
        char **nr = realloc(ns->rel, (size_t)nc * sizeof *nr);
        if (!nr) return -1;
        ns->rel = nr;
        ns->cap = nc;
    }
    if (!(ns->rel[ns->n] = strdup(rel))) return -1;
    ns->n++;
    return 0;
}

static void names_free(Names *ns) {
    for (int i = 0; i < ns->n; i++) free(ns->rel[i]);
    free(ns->rel);
    memset(ns, 0, sizeof *ns);
}

/* Add to ns the relative names of the counted regular files under
 * root/rel ("" = root itself), following links. */
static int walk(const char *root, const char *rel, int depth, Names *ns, char *err, size_t errn) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) return errf(err, errn, "checkpoint directory %s: cannot open%s%s: %s", root, *rel ? " " : "", rel,
                        strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        char child[4096], full[4096];
        int w = snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
        int wf = snprintf(full, sizeof full, "%s/%s", root, child);
        struct stat st;
        if (w < 0 || (size_t)w >= sizeof child || wf < 0 || (size_t)wf >= sizeof full) rc = errf(err, errn, "checkpoint directory %s: path too long", root);
        else if (stat(full, &st) != 0) continue; /* a dangling link: not a file of the checkpoint */
        else if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH) rc = walk(root, child, depth + 1, ns, err, errn);
        else if (S_ISREG(st.st_mode) && counts(de->d_name) && names_add(ns, child))
            rc = errf(err, errn, "checkpoint directory %s: out of memory", root);
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int checkpoint_content_hash(const char *dir, char hex[65], char *err, size_t errn) {
    hex[0] = 0;
    Names ns = {0};
    char *text = NULL;
    int rc = walk(dir, "", 0, &ns, err, errn);
    if (rc == 0 && ns.n == 0)
        rc = errf(err, errn, "checkpoint directory %s: no .json or .safetensors file in it", dir);
    if (rc) goto done;
    qsort(ns.rel, (size_t)ns.n, sizeof *ns.rel, cmp_str);
    size_t cap = 0, len = 0;
    for (int i = 0; i < ns.n; i++) cap += strlen(ns.rel[i]) + 66;
    if (!(text = malloc(cap + 1))) {
        rc = errf(err, errn, "checkpoint directory %s: out of memory", dir);
        goto done;
    }
    for (int i = 0; i < ns.n && rc == 0; i++) {
        char path[4096], fh[65], ferr[512];
        snprintf(path, sizeof path, "%s/%s", dir, ns.rel[i]);
        if (sha256_file(path, fh, ferr, sizeof ferr)) rc = errf(err, errn, "checkpoint directory %s: %s", dir, ferr);
        else len += (size_t)snprintf(text + len, cap + 1 - len, "%s\t%s\n", ns.rel[i], fh);
    }
    if (rc == 0 && sha256_bytes(text, len, hex))
        rc = errf(err, errn, "checkpoint directory %s: libcrypto failure", dir);
done:
    free(text);
    names_free(&ns);
    return rc;
}

/* ---- cache ---- */

struct HashCacheEntry {
    char kind; /* 'f' file, 'c' checkpoint directory */
    char *path;
    char hex[65];
};

static const HashCacheEntry *cache_find(const HashCache *hc, char kind, const char *path) {
    for (int i = 0; hc && i < hc->n; i++)
        if (hc->e[i].kind == kind && !strcmp(hc->e[i].path, path)) return &hc->e[i];
    return NULL;
}

static int cache_put(HashCache *hc, char kind, const char *path, const char *hex) {
    if (!hc || cache_find(hc, kind, path)) return 0;
    if (hc->n == hc->cap) {
        int nc = hc->cap ? hc->cap * 2 : 8;
        HashCacheEntry *ne = realloc(hc->e, (size_t)nc * sizeof *ne);
        if (!ne) return -1;
        hc->e = ne;
        hc->cap = nc;
    }
    HashCacheEntry *e = &hc->e[hc->n];
    if (!(e->path = strdup(path))) return -1;
    e->kind = kind;
    snprintf(e->hex, sizeof e->hex, "%s", hex);
    hc->n++;
    return 0;
}

static int cached(HashCache *hc, char kind, const char *path, char hex[65], char *err, size_t errn) {
    const HashCacheEntry *e = cache_find(hc, kind, path);
    if (e) {
        memcpy(hex, e->hex, 65);
        return 0;
    }
    int rc = kind == 'f' ? sha256_file(path, hex, err, errn) : checkpoint_content_hash(path, hex, err, errn);
    if (rc == 0) cache_put(hc, kind, path, hex); /* out of memory here only costs a re-hash */
    return rc;
}

int hash_cache_file(HashCache *hc, const char *path, char hex[65], char *err, size_t errn) {
    return cached(hc, 'f', path, hex, err, errn);
}

int hash_cache_checkpoint(HashCache *hc, const char *dir, char hex[65], char *err, size_t errn) {
    return cached(hc, 'c', dir, hex, err, errn);
}

int hash_cache_put_checkpoint(HashCache *hc, const char *dir, const char *hex) {
    if (strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64) return -1;
    return cache_put(hc, 'c', dir, hex);
}

void hash_cache_free(HashCache *hc) {
    if (!hc) return;
    for (int i = 0; i < hc->n; i++) free(hc->e[i].path);
    free(hc->e);
    memset(hc, 0, sizeof *hc);
}
