/* What the CUDA backend offers beyond the table of backend.h (built with
 * HAVE_CUDA only). */
#ifndef ENGINE_BACKEND_CUDA_H
#define ENGINE_BACKEND_CUDA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The void ops of the table cannot return errors: the CUDA backend records
 * the first one (a failed launch or copy, device scratch that could not be
 * allocated) and this returns it. Returns 0 when nothing failed since the
 * last call, else -1 with the message in err (errn bytes) and the record
 * cleared. Also 0 when the backend is not in use. */
int backend_cuda_error(char *err, size_t errn);

/* Why backend_cuda() is NULL ("no CUDA device found (...)", or a failed
 * initialisation); NULL when it is usable. */
const char *backend_cuda_unavailable(void);

#ifdef __cplusplus
}
#endif

#endif
