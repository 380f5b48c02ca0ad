/* The backends built into this binary (backend.h): the reference first. */
#include "backend.h"

#include <string.h>

#ifdef HAVE_CUDA
#include "backend_cuda.h"
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

const char *backend_unavailable(const char *name) {
    if (backend_by_name(name)) return NULL;
    if (name && !strcmp(name, "cuda")) {
#ifdef HAVE_CUDA
        const char *why = backend_cuda_unavailable();
        return why ? why : "no CUDA device found";
#else
        return "not built into this binary (configure with -DCUDA=ON or AUTO on a machine with nvcc)";
#endif
    }
    return "no such backend (ref, cpu, cuda)";
}
