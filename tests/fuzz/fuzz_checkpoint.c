/* libFuzzer target: checkpoint reading, config.json (engine/hf_config.c) and safetensors
 * (engine/safetensors.c), and a whole checkpoint_load when the model is small.
 *
 * Input: 2 bytes little-endian n, then n bytes of config.json (fewer if the input is short),
 * then the rest as model.safetensors; both are written to a scratch directory.
 * tests/fuzz/make_corpus.py writes seeds in this layout. */
#include "fuzz_common.h"

#include "backend.h"
#include "checkpoint.h"
#include "hf_config.h"
#include "safetensors.h"

#define MAX_READ_NUMEL (1 << 16) /* tensors read back whole; larger ones only opened */
#define MAX_LOAD_PARAMS 200000.0 /* checkpoint_load only for models this small */

static void read_tensors(const SafeTensors *st) {
    float *buf = malloc(MAX_READ_NUMEL * sizeof *buf);
    if (!buf) return;
    for (int i = 0; i < st->ntensors; i++) {
        const StTensor *t = &st->tensors[i];
        if (t->numel > MAX_READ_NUMEL || t->ndim > ST_MAX_DIMS) continue;
        int shape[ST_MAX_DIMS], ok = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] > MAX_READ_NUMEL) ok = 0;
            shape[d] = (int)(t->shape[d] > MAX_READ_NUMEL ? 0 : t->shape[d]);
        }
        char err[1024];
        if (ok) safetensors_read_f32(st, t->name, t->ndim, shape, buf, err, sizeof err);
    }
    free(buf);
}

static double params_of(const ModelConfig *mc) {
    double C = mc->dim, F = mc->ffn_dim, V = mc->vocab_size < 300 ? 300 : mc->vocab_size;
    return 2 * V * C + mc->n_layers * (4.0 * C * C + 3 * C * F);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t n = (size_t)data[0] | (size_t)data[1] << 8;
    if (n > size - 2) n = size - 2;
    char cpath[600], spath[600], err[2048] = "";
    fuzz_write("config.json", data + 2, n, cpath, sizeof cpath);
    fuzz_write("model.safetensors", data + 2 + n, size - 2 - n, spath, sizeof spath);

    ModelConfig mc;
    HfExtras x;
    int cfg_ok = hf_config_read(cpath, &mc, &x, err, sizeof err) == 0;
    hf_extras_free(&x);
    FUZZ_CHECK(cfg_ok || strncmp(err, cpath, strlen(cpath)) == 0); /* errors name the file */

    SafeTensors st;
    if (safetensors_open(&st, fuzz_dir(), err, sizeof err) == 0) {
        read_tensors(&st);
        safetensors_close(&st);
    } else {
        FUZZ_CHECK(strstr(err, fuzz_dir()) != NULL);
    }

    if (cfg_ok && params_of(&mc) <= MAX_LOAD_PARAMS && mc.max_pos <= 4096) {
        Model m;
        Config run;
        int has_run = 0;
        if (checkpoint_load(&m, backend_cpu(), fuzz_dir(), &run, &has_run, err, sizeof err) == 0) model_free(&m);
    }
    return 0;
}
