/* Small file-system helpers shared by the engine and the harness. */
#ifndef ENGINE_FSUTIL_H
#define ENGINE_FSUTIL_H

/* mkdir -p dir (mode 0755). Returns 0, or -1 with errno set. */
int mkdir_p(const char *dir);

#endif
