/* Error messages of library code: functions return -1 and describe the
 * problem in a caller's buffer (err, errn). */
#ifndef ENGINE_ERRMSG_H
#define ENGINE_ERRMSG_H

#include <stddef.h>

/* printf into err (when err and errn are non-zero); returns -1 so callers can
 * write `return errf(err, errn, "...", ...);`. */
int errf(char *err, size_t errn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
