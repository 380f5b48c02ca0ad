/* Content hashes: SHA-256 (OpenSSL libcrypto, EVP API) of files and of
 * checkpoint directories, and a cache so that a grid hashes each file or
 * directory once (ARCHITECTURE.md "Run identity and the results store"). */
#ifndef ENGINE_HASH_H
#define ENGINE_HASH_H

#include <stddef.h>

/* SHA-256 of the bytes of the file at path, streamed in blocks, as 64
 * lowercase hex digits and a NUL into hex: the same text as the first field
 * of `sha256sum FILE`. Returns 0, or -1 with a message naming the file in
 * err (size errn): cannot open or read it, or a libcrypto failure. */
int sha256_file(const char *path, char hex[65], char *err, size_t errn);

/* SHA-256 of n bytes at data as 64 lowercase hex digits into hex. Returns 0,
 * or -1 on a libcrypto failure (hex is then ""). */
int sha256_bytes(const void *data, size_t n, char hex[65]);

/* The content hash of a checkpoint directory: the SHA-256 of the text made
 * of one line "relative/name<TAB>sha256hex\n" per regular file under dir
 * (subdirectories included, symbolic links followed, so a Hugging Face
 * snapshot of links into its blob store hashes like a plain copy) whose name
 * ends in ".json" or ".safetensors", the lines sorted by relative name
 * (bytewise, '/' between directory levels), sha256hex being that file's
 * sha256_file. Other files (logs, tokenizer.model, README) do not count. The
 * same files under another path give the same hash; one changed byte, a
 * renamed or an added .json/.safetensors file gives another.
 * Returns 0, or -1 with a message naming the directory: it cannot be opened
 * or read, holds no .json or .safetensors file, a file cannot be hashed, or
 * out of memory. */
int checkpoint_content_hash(const char *dir, char hex[65], char *err, size_t errn);

/* A memo of content hashes by path (one per grid or per process): files and
 * checkpoint directories are kept apart. Zero-initialise; free with
 * hash_cache_free. Failures are not remembered. */
typedef struct HashCacheEntry HashCacheEntry;
typedef struct HashCache {
    HashCacheEntry *e;
    int n, cap;
} HashCache;

/* sha256_file(path) through the cache hc (NULL: no cache). Same returns. */
int hash_cache_file(HashCache *hc, const char *path, char hex[65], char *err, size_t errn);

/* checkpoint_content_hash(dir) through the cache hc (NULL: no cache). */
int hash_cache_checkpoint(HashCache *hc, const char *dir, char hex[65], char *err, size_t errn);

/* Remember hex (64 hex digits) as the content hash of checkpoint directory
 * dir, e.g. one computed by a parent process. Returns 0, or -1 when hex is
 * not 64 lowercase hex digits or out of memory (nothing remembered). */
int hash_cache_put_checkpoint(HashCache *hc, const char *dir, const char *hex);

/* Free the entries of hc and zero it. Safe on a zeroed cache and twice. */
void hash_cache_free(HashCache *hc);

#endif
