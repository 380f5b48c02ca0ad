/* The backends built into this binary (backend.h): the reference first. */
#include "backend.h"

#include <string.h>

#ifdef HAVE_CUDA
Backend *backend_cuda(void);
#endif

Backend **backend_all(int *n) {
    static Backend *all[4];
    static int count;
    if (!count) {
        all[count++] = backend_ref();
        all[count++] = backend_cpu();
#ifdef HAVE_CUDA
        Backend *cuda = backend_cuda(); /* NULL when no device is usable: left out */
        if (cuda) all[count++] = cuda;
#endif
    }
    if (n) *n = count;
    return all;
}

Backend *backend_by_name(const char *name) {
    int n;
    Backend **all = backend_all(&n);
    for (int i = 0; name && i < n; i++)
        if (!strcmp(all[i]->name, name)) return all[i];
    return NULL;
}
