/* Selection of the K nearest neighbours from a row of distances, for the
 * sparse t-SNE affinities and for trustworthiness. (distance, index) pairs
 * are ordered by distance, ties by index: a total order, so the lists do not
 * depend on the order of the scan. */
#include <stdlib.h>

#include "tsne_impl.h"

static int nb_less(TsneNb a, TsneNb b) { return a.d2 < b.d2 || (a.d2 == b.d2 && a.j < b.j); }

static int nb_cmp(const void *a, const void *b) {
    TsneNb x = *(const TsneNb *)a, y = *(const TsneNb *)b;
    return nb_less(x, y) ? -1 : nb_less(y, x) ? 1 : 0;
}

/* Sift entry k of the max-heap h (m) down. */
static void heap_down(TsneNb *h, int m, int k) {
    for (;;) {
        int c = 2 * k + 1;
        if (c >= m) return;
        if (c + 1 < m && nb_less(h[c], h[c + 1])) c++;
        if (!nb_less(h[k], h[c])) return;
        TsneNb t = h[k];
        h[k] = h[c];
        h[c] = t;
        k = c;
    }
}

void tsne_knn_select(const double *dist, int n, int skip, int K, TsneNb *h) {
    int m = 0;
    for (int j = 0; j < n; j++) {
        if (j == skip) continue;
        TsneNb c = {dist[j], j};
        if (m < K) {
            h[m++] = c;
            if (m == K)
                for (int k = K / 2 - 1; k >= 0; k--) heap_down(h, K, k);
        } else if (nb_less(c, h[0])) {
            h[0] = c;
            heap_down(h, K, 0);
        }
    }
    qsort(h, (size_t)m, sizeof *h, nb_cmp);
}

int tsne_nb_before(TsneNb a, TsneNb b) { return nb_less(a, b); }
